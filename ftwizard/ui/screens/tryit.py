"""Try it: one prompt to the base model and the trained one, side by side. Generation runs in its own process
(`python -m ftwizard.train.generate`), so the app stays torch-free; `t` fills in the next test-split prompt."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from rich.markup import escape
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Footer, Header, Input, Static

from ftwizard.core.run.layout import RunDir
from ftwizard.core.workers import job_command
from ftwizard.ui.screens.base import AppScreen


def test_prompts(run: Path, limit: int = 50) -> list[str]:
    """The user text of the test split's rows (what the model never saw in training)."""
    path = RunDir(run).split_file("test")
    out: list[str] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return out
    for line in lines:
        try:
            row = json.loads(line)
        except ValueError:
            continue
        msgs = row.get("messages") or row.get("prompt")
        if isinstance(msgs, list):
            users = [m.get("content") for m in msgs if isinstance(m, dict) and m.get("role") == "user"]
            if users and isinstance(users[-1], str):
                out.append(users[-1])
        elif isinstance(msgs, str):
            out.append(msgs)
        if len(out) >= limit:
            break
    return out


class TryItScreen(AppScreen):
    AUTO_FOCUS = "#try-prompt"
    BINDINGS = [Binding("ctrl+t", "next_test_prompt", "Test prompt", id="try.next", priority=True)]

    def __init__(self) -> None:
        super().__init__()
        self._prompts: list[str] = []
        self._i = -1
        self.busy = False
        self._shown: Path | None = None  # the run whose prompt and answers are on screen

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="try-title", classes="title")
        yield Input(placeholder="type a prompt, Enter asks both models (ctrl+t: next test-split prompt)",
                    id="try-prompt")
        with Horizontal(id="try-answers"):
            with VerticalScroll(classes="card try-col"):
                yield Static("[b]base model[/b]")
                yield Static(id="try-base")
            with VerticalScroll(classes="card try-col"):
                yield Static("[b]after training[/b]")
                yield Static(id="try-tuned")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.refresh_run()

    def on_screen_resume(self) -> None:
        self.refresh_run()

    def refresh_run(self) -> None:
        run = self.wizard.active_run
        if run != self._shown:  # another run: its prompt and answers are not this one's
            self._shown, self._i = run, -1
            self.query_one("#try-prompt", Input).value = ""
            for wid in ("#try-base", "#try-tuned"):
                self.query_one(wid, Static).update("")
        title = self.query_one("#try-title", Static)
        if run is None or not RunDir(run).has_result():
            title.update("Try it needs a finished run: open one from Runs (l on the monitor) or train one first.")
            self._prompts = []
            return
        self._prompts = test_prompts(run)
        n = len(self._prompts)
        title.update(escape(f"Try {run}: the same prompt to the base and the trained model") +
                     (f" · {n} test prompts (ctrl+t)" if n else ""))

    def action_next_test_prompt(self) -> None:
        if not self._prompts:
            self.notify("This run has no test split prompts.", severity="warning")
            return
        self._i = (self._i + 1) % len(self._prompts)
        inp = self.query_one("#try-prompt", Input)
        inp.value = self._prompts[self._i]
        inp.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        prompt = event.value.strip()
        run = self.wizard.active_run
        if not prompt:
            self.notify("Type a prompt first (or ctrl+t for one from the test split).", severity="warning")
            return
        if run is None or not RunDir(run).has_result():
            self.notify("No trained run is open.", severity="warning")
            return
        if self.busy:
            self.notify("Still answering the last prompt …", severity="warning")
            return
        self.busy = True
        for wid in ("#try-base", "#try-tuned"):
            self.query_one(wid, Static).update("[dim]generating … (loads the model in its own process)[/dim]")
        self.generate(str(run), prompt)

    @work(thread=True, exclusive=True, group="generate", exit_on_error=False, name="generation")
    def generate(self, run: str, prompt: str) -> None:
        cmd = job_command("generate", run, "--prompt", prompt, "--json")
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600)
            res: dict[str, Any] = (json.loads(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0
                                   else {"error": (proc.stderr.strip() or f"exit {proc.returncode}").splitlines()[-1]})
        except (subprocess.TimeoutExpired, ValueError, IndexError, OSError) as exc:
            res = {"error": f"{exc.__class__.__name__}: {exc}"}
        self.app.call_from_thread(self.show, res, run)

    def show(self, res: dict[str, Any], run: str | None = None) -> None:
        self.busy = False
        if run is not None and str(self.wizard.active_run) != run:
            return  # the answer of a run that is no longer open
        if "error" in res:
            for wid in ("#try-base", "#try-tuned"):
                self.query_one(wid, Static).update("")
            self.notify(escape(str(res["error"])), severity="error", timeout=10)
            return
        for wid, key in (("#try-base", "base"), ("#try-tuned", "tuned")):
            text = str(res.get(key) or "").strip()
            self.query_one(wid, Static).update(escape(text) if text else
                                               "[dim](empty answer: the model ended its reply at once)[/dim]")
