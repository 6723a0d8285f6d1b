"""After-training checklist: automatic items are buttons that run `ftwizard check RUN --only X` in their own
process (the app never imports torch) and record the result; the rest are tick boxes. Only the items that fit the
run's trainer and task are shown (`checklist.run_items`). State persists in <run>/checklist.json; results in
<run>/checks.json."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from rich.markup import escape
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Checkbox, Footer, Header, Static

from ftwizard.core.run.checklist import ITEMS, OUTCOMES, load_state, mark, metrics_line, outcome, run_items
from ftwizard.core.run.layout import RunDir
from ftwizard.ui.screens.base import AppScreen


def samples_text(checks: dict[str, Any]) -> str:
    rows = checks.get("samples") or []
    if not rows:
        return ""
    out = ["[b]Samples (prompt → expected | base | tuned)[/b]"]
    for s in rows[:6]:
        ok = "[$success]✔[/]" if s["tuned"] == s["expected"] else "[$error]✘[/]"
        out.append(ok + " " + escape(f"{s['prompt'][:40]!r} → {s['expected'][:30]!r} | base {s['base'][:30]!r} | "
                                     f"tuned {s['tuned'][:30]!r}"))
    return "\n".join(out)


_MARKS = {"passed": "[$text-success]✔ passed[/]", "problems": "[b $text-error]✗ found problems[/]",
          "inconclusive": "[b $text-warning]? inconclusive[/]", "skipped": "[$text-muted]– skipped[/]"}


def result_text(entry: dict[str, Any], why: str, how: str | None) -> str:
    """An item's line under its tick: how its check went (the same words as `ftwizard check`) and its result, or
    why the item matters when it has not run."""
    res = entry.get("result")
    if not res:
        return escape(why)
    mark = _MARKS.get(how or "", "")
    text = str(res)
    if how == "skipped":
        text = text.removeprefix("skipped: ").removeprefix("skipped")
    elif how == "inconclusive":  # the mark already says it: "? inconclusive: … — inconclusive: …" said it twice
        text = text.replace(" — inconclusive: ", " — ", 1)
    return f"→ {mark + ': ' if mark else ''}{escape(text)}" if how else f"→ {escape(text)}"


def verdict_text(v: dict[str, Any] | None) -> str:
    """The run's verdict (core/eval/verdict.py) as markup: headline, the general-answers line, what to try."""
    if not v:
        return ""
    colour = "$success" if v.get("ok") else ("$warning" if v.get("learned") in ("partly", "unknown") else "$error")
    out = [f"[b {colour}]{escape(v['headline'])}[/]", *(escape(x) for x in v.get("lines", []))]
    if v.get("fixes"):
        out.append("Try: " + escape("; ".join(v["fixes"])) + ".")
    return "\n".join(out)


class ChecklistScreen(AppScreen):
    BINDINGS = [Binding("t", "try_it", "Try it", id="checklist.try"), Binding("m", "app.goto('monitor')", "Monitor",
                                                                          id="checklist.monitor")]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="checklist-title", classes="title")
        with VerticalScroll(id="checklist"):
            verdict = Static(id="verdict")
            verdict.display = False  # shown once the run has a verdict (checks.json)
            yield verdict
            for item in ITEMS:
                with Horizontal(id=f"row-{item.id}", classes="check-row"):
                    if item.action:
                        yield Button("Run", id=f"run-{item.id}", classes="check-run", compact=True)
                    yield Checkbox(item.title, id=f"tick-{item.id}", compact=True)
                yield Static(escape(item.why), id=f"result-{item.id}", classes="why check-result")
            yield Static(id="samples")
        yield Footer(compact=True)

    @property
    def run(self) -> Path | None:
        return self.wizard.active_run

    def action_try_it(self) -> None:
        self.app.switch_mode("tryit")

    def on_mount(self) -> None:
        self.refresh_state()

    def on_screen_resume(self) -> None:
        self.refresh_state()

    def refresh_state(self) -> None:
        run = self.run
        title = self.query_one("#checklist-title", Static)
        if run is None:
            title.update("No run open: pick one in Runs (l) or finish a training run first.")
            return
        trained = RunDir(run).has_result()
        title.update(f"After training — {escape(str(run))}" + ("" if trained else "  [b $warning](no trained weights yet)[/]")
                     + "\n" + escape(metrics_line(run)))
        state = load_state(run)
        try:
            fits = {i.id for i in run_items(run)}
        except (OSError, ValueError, TypeError):  # no readable config.yaml: show every item
            fits = {i.id for i in ITEMS}
        self._loading = True
        for item in ITEMS:
            shown = item.id in fits  # items that do not fit the run's trainer or task are hidden
            self.query_one(f"#row-{item.id}", Horizontal).display = shown
            self.query_one(f"#result-{item.id}", Static).display = shown
            st = state.get(item.id, {})
            tick = self.query_one(f"#tick-{item.id}", Checkbox)
            tick.value = bool(st.get("done"))
            how = outcome(st) if item.action else None
            for o in OUTCOMES:
                tick.set_class(o == how, f"outcome-{o}")
            shown_text = self._row_text.get(item.id) or result_text(st, item.why, how)  # a check running, or a problem
            self.query_one(f"#result-{item.id}", Static).update(shown_text)
            if item.action:
                self.query_one(f"#run-{item.id}", Button).disabled = not trained or item.id in self._checks_running
        self.call_after_refresh(self._loaded)
        checks_path = RunDir(run).checks_path
        checks: dict[str, Any] = {}
        if checks_path.exists():
            try:
                checks = json.loads(checks_path.read_text("utf-8"))
            except ValueError:
                checks = {}
        self.query_one("#samples", Static).update(samples_text(checks))
        verdict = self.query_one("#verdict", Static)
        verdict.update(verdict_text(checks.get("verdict")))
        verdict.display = bool(checks.get("verdict"))

    def _loaded(self) -> None:
        self._loading = False

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        if getattr(self, "_loading", False) or self.run is None or not event.checkbox.id:
            return
        mark(self.run, event.checkbox.id.removeprefix("tick-"), event.value)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        bid = event.button.id or ""
        if bid.startswith("run-") and self.run is not None:
            action = bid.removeprefix("run-")
            if action == "production":  # the check needs the person's own inputs: ask for the file first
                self.ask_for_prompts(str(self.run))
                return
            self.start_check(str(self.run), action)

    def start_check(self, run: str, action: str, extra: tuple[str, ...] = ()) -> None:
        self._checks_running.add(action)
        self._say(action, "running … (its own process; the app stays responsive)")
        self.query_one(f"#run-{action}", Button).disabled = True
        self.run_check(run, action, extra)

    def _say(self, action: str, text: str) -> None:
        """What the row shows instead of its stored result until the check ends (kept across a screen refresh)."""
        self._row_text[action] = text
        self.query_one(f"#result-{action}", Static).update(text)

    def ask_for_prompts(self, run: str) -> None:
        from ftwizard.ui.modals.path_prompt import PathPrompt

        def chosen(path: str | None) -> None:
            if not path:
                return
            full = Path(path).expanduser()
            if not full.is_file():
                self._say("production", f"[b $error]no file at {escape(str(full))}[/]: give a JSONL file (a prompt "
                                        "per row) or a text file with one prompt per line")
                return
            self._prompts_file = str(full)
            self.start_check(run, "production", ("--prompts", str(full)))

        self.app.push_screen(PathPrompt("Your own inputs for base and tuned, side by side: a JSONL file (a prompt per "
                                        "row) or a text file with one prompt per line", self._prompts_file), chosen)

    _prompts_file = ""

    def __init__(self) -> None:
        super().__init__()
        self._checks_running: set[str] = set()  # checks whose process runs now
        self._row_text: dict[str, str] = {}  # row text shown instead of the stored result

    @work(thread=True, group="checks", exit_on_error=False)
    def run_check(self, run: str, action: str, extra: tuple[str, ...] = ()) -> None:
        """`ftwizard check RUN --only ACTION` in its own process; its progress lines show as they come."""
        cmd = [sys.executable, "-m", "ftwizard", "check", run, "--only", action, *extra]
        lines: list[str] = []
        with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.append(line.rstrip())
                if line.startswith(f"{action}:"):
                    self.app.call_from_thread(self._check_progress, action, line.strip())
            rc = proc.wait()
        self.app.call_from_thread(self._check_done, action, rc, "\n".join(lines))

    def _check_progress(self, action: str, line: str) -> None:
        self._say(action, f"running … {escape(line)}")

    def _check_done(self, action: str, rc: int, output: str) -> None:
        self._checks_running.discard(action)
        self._row_text.pop(action, None)
        if rc != 0:
            tail = output.strip().splitlines()[-1] if output.strip() else f"exit {rc}"
            self._say(action, f"[b $error]failed:[/] {escape(tail)}")
            self.query_one(f"#run-{action}", Button).disabled = False
            return
        self.refresh_state()
