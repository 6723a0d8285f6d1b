"""Data: pick a file (or Hub id), read and validate it in a worker, show the report; errors block launch."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Input, Label, Static

from ftwizard.core.wizard import apply_report, tokenizer_source
from ftwizard.ui.modals.file_picker import FilePicker
from ftwizard.ui.screens.base import StepScreen
from ftwizard.ui.widgets.bars import usage_bar


def histogram_text(hist: list[dict[str, int]], width: int = 30) -> str:
    if not hist:
        return ""
    top = max(h["count"] for h in hist) or 1
    def span(h: dict[str, int]) -> str:
        return f"{h['from']:>6}–{h['to']:<6}" if h["to"] > h["from"] else f"{h['from']:>6} {'':<6}"

    return "\n".join(f"{span(h)} {usage_bar(h['count'] / top, width).replace('░', ' ')} {h['count']}" for h in hist)


def _clip(text: Any, n: int = 300) -> str:
    t = str(text)
    return escape(t if len(t) <= n else t[:n] + " …")


def _turns(msgs: Any) -> list[str]:
    if not isinstance(msgs, list):
        return [f"  {_clip(msgs)}"]
    return [f"  [b]{escape(str(m.get('role', '?')))}:[/b] {_clip(m.get('content', ''))}" for m in msgs if isinstance(m, dict)]


def preview_text(sample: list[dict[str, Any]]) -> str:
    """A few rows as the trainer receives them (TRL's standard or conversational form), roles spelled out;
    the model's chat template adds its own markers around these turns."""
    if not sample:
        return ""
    out = ["[b]Preview: rows as the trainer gets them[/b] [dim](the model's chat template wraps each turn)[/dim]"]
    for s in sample:
        row = s.get("record") or {}
        out.append(f"[dim]── {escape(str(s.get('where', '')))}[/dim]")
        if "messages" in row:
            out += _turns(row["messages"])
        elif "chosen" in row:
            if "prompt" in row:
                out += ["  [b]prompt[/b]"] + _turns(row["prompt"])
            out += ["  [b $success]chosen[/]"] + _turns(row["chosen"]) + ["  [b $error]rejected[/]"] + _turns(row["rejected"])
        elif "completion" in row:
            out += ["  [b]prompt[/b]"] + _turns(row.get("prompt")) + ["  [b]completion[/b]"] + _turns(row["completion"])
        elif "text" in row:
            out.append(f"  {_clip(row['text'])}")
        else:
            out.append(f"  {_clip(row)}")
    return "\n".join(out)


def report_text(rep: dict[str, Any]) -> str:
    rows = rep["rows"]
    fmt = (f"format [b]{escape(str(rep['format']))}[/b]" if rep.get("format") else
           "format not usable" if rep.get("family") else "format not recognised")
    lines = [f"[b]{escape(str(rep['path']))}[/b]: {fmt}, {rows:,} usable row{'s' if rows != 1 else ''}"]
    n_err = rep.get("error_count", len(rep.get("errors", [])))
    if n_err:
        lines.append(f"[b $error]{n_err} problem(s) — fix them before training:[/]")
        for e in rep["errors"][:15]:
            where = e["file"] + (f":{e['line']}" if e.get("line") is not None and "location" not in e else
                                 (f" {e['location']}" if e.get("location") else ""))
            msg = str(e["message"])
            msg = msg.removeprefix(f"{where}: ")  # a message that already names the file (a path that is not there)
            lines.append(f"  {escape(where)}: {escape(msg)}")
        if n_err > 15:
            lines.append(f"  … and {n_err - 15} more (`ftwizard data {escape(str(rep['path']))}` lists them)")
    st = rep.get("stats") or {}
    tok = st.get("tokens")
    if tok:
        lines.append(f"\ntokens per example ({tok['method']}): p50 {tok['p50']} · p90 {tok['p90']} · p99 {tok['p99']} · "
                     f"max {tok['max']} · total {tok['total']:,}")
        lines.append(histogram_text(tok.get("histogram", [])))
    if st.get("duplicates"):
        d = st["duplicates"]
        lines.append(f"duplicates: {d['exact']} exact, {d['near']} near")
    pii = {k: v["count"] for k, v in (st.get("pii") or {}).items() if v["count"]}
    if pii:
        lines.append("[b $warning]possible personal data:[/] " + ", ".join(f"{k.replace('_', ' ')} {c}" for k, c in pii.items()))
    for w in rep.get("warnings", []):
        lines.append(f"[$warning]⚠[/] {escape(str(w))}")
    for n in rep.get("notes", []):
        lines.append(f"[dim]ℹ[/] {escape(str(n))}")
    preview = preview_text(st.get("sample") or [])
    if preview:
        lines.append("\n" + preview)
    return "\n".join(lines)


def mask_text(res: dict[str, Any], limit: int = 900) -> str:
    """`ftwizard data --show-mask 1 --json` as markup: the row as the model sees it, trained tokens highlighted."""
    out = ["[b]What is trained[/b] (row 1 with the model's chat template; [reverse $success]highlighted[/] = "
           f"trained): {escape(str(res.get('message', '')))}"]
    body, used = [], 0
    for span in res.get("spans", []):
        text = str(span.get("text", ""))[: max(0, limit - used)]
        used += len(text)
        if text:
            body.append(f"[reverse $success]{escape(text)}[/]" if span.get("trained") else f"[dim]{escape(text)}[/]")
        if used >= limit:
            body.append(" …")
            break
    out.append("".join(body))
    trained = ", ".join(f"{k} {v}" for k, v in (res.get("trained") or {}).items()) or "none"
    out.append(f"trained tokens: {trained} · in {res.get('trained_turns', 0)} turn(s) · row length {res.get('tokens')}")
    return "\n".join(out)


class DataScreen(StepScreen):
    STEP = "data"
    AUTO_FOCUS = "#data-path"

    def compose_body(self) -> ComposeResult:
        ans = self.wizard.answers
        with VerticalScroll():
            yield Static("Your training data", classes="title")
            yield Static("JSONL/JSON/CSV/Parquet/text in Alpaca, ShareGPT, OpenAI chat, prompt/completion, "
                         "preference (chosen/rejected) or plain-text form — detected for you.", classes="why")
            yield Label("File, folder, or Hub id")
            with Horizontal(classes="row"):
                yield Input(ans.data, placeholder="data/train.jsonl", id="data-path", compact=True)
                yield Button("Browse…", id="browse", compact=True)
                yield Button("Check", id="analyze", variant="primary", compact=True)
            yield Static(id="report")
            mask = Static(id="mask")
            mask.display = False  # shown once row 1's mask is known
            yield mask

    def on_mount(self) -> None:
        if self.wizard.last_report and self.wizard.last_report.get("path") == self.wizard.answers.data:
            self.query_one("#report", Static).update(report_text(self.wizard.last_report))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "browse":
            self.app.push_screen(FilePicker("."), self._picked)
        elif event.button.id == "analyze":
            self.analyze(self.query_one("#data-path", Input).value)

    def _picked(self, path: str | None) -> None:
        if path:
            self.query_one("#data-path", Input).value = path
            self.analyze(path)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "data-path":
            self.analyze(event.value)

    def analyze(self, path: str) -> None:
        path = path.strip()
        if not path:
            self.notify("Type a path or pick a file first.", severity="warning")
            return
        ans = self.wizard.answers
        ans.data, ans.data_errors = path, None
        counting = ("and counting its tokens with the model's tokenizer and chat template (in its own process: "
                    "10–20 s the first time) …" if tokenizer_source(ans.model) else "…")
        self.query_one("#report", Static).update(f"Reading {escape(path)} {counting}")
        self._analyze(path)

    @work(thread=True, exclusive=True, group="analyze", exit_on_error=False)
    def _analyze(self, path: str) -> None:
        from ftwizard.core.data.report import analyze

        try:
            # the model's tokenizer and chat template (in a subprocess) when it is here, else chars/4
            tokenizer = tokenizer_source(self.wizard.answers.model)
            rep = analyze(path, max_seq=int(self.wizard.answers.overrides.get("max_seq_length", 2048)),
                          task=self.wizard.answers.task_kind, tokenizer=tokenizer).to_dict()
        except Exception as exc:  # noqa: BLE001 - shown to the user in words
            rep = {"path": path, "format": None, "family": None, "rows": 0, "error_count": 1, "warnings": [],
                   "errors": [{"file": path, "line": None, "message": str(exc)}], "stats": {}}
        self.app.call_from_thread(self.show_report, rep)

    def show_report(self, rep: dict[str, Any]) -> None:
        ans = self.wizard.answers
        if rep["path"] != ans.data:
            return  # an older analysis finished late
        self.wizard.last_report = rep
        apply_report(ans, rep)
        self.query_one("#report", Static).update(report_text(rep))
        mask = self.query_one("#mask", Static)
        mask.update("")
        mask.display = False
        tokenizer = tokenizer_source(ans.model)
        if tokenizer and not rep.get("error_count") and rep.get("family") not in (None, "text", "preference", "kto"):
            self._show_mask(rep["path"], tokenizer)

    @work(thread=True, exclusive=True, group="mask", exit_on_error=False)
    def _show_mask(self, path: str, tokenizer: str) -> None:
        """Row 1 as it will be trained, from `ftwizard data --show-mask` in its own process (the app stays
        torch-free); nothing is shown when it cannot say."""
        import json
        import subprocess
        import sys

        cmd = [sys.executable, "-m", "ftwizard", "data", path, "--tokenizer", tokenizer, "--show-mask", "1", "--json"]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
            res = json.loads(proc.stdout) if proc.returncode == 0 else None
        except (OSError, ValueError, subprocess.TimeoutExpired):
            res = None
        if res:
            self.app.call_from_thread(self._mask_ready, path, res)

    def _mask_ready(self, path: str, res: dict[str, Any]) -> None:
        if path == self.wizard.answers.data:
            mask = self.query_one("#mask", Static)
            mask.update("\n" + mask_text(res))
            mask.display = True

    def can_leave(self) -> str | None:
        ans = self.wizard.answers
        if ans.data and ans.data_errors is None:
            return "Press Check (or Enter) to read the dataset first."
        if ans.data_errors:
            return f"The dataset has {ans.data_errors} problem(s); fix them (lines are listed) and check again."
        return None
