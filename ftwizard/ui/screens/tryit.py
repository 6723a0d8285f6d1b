"""Try it: one prompt to the base model and the trained one, side by side. Generation runs in its own process
(`python -m ftwizard.train.generate RUN --serve`), so the app stays torch-free; the process is kept while the run
is open, so the models load once (each prompt reloaded both: 20–25 s a prompt on SmolLM2-135M on a CPU, now
2–4 s after a first ~12 s). `ctrl+t` fills in the next test-split prompt."""

from __future__ import annotations

import json
import subprocess
import tempfile
import threading
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


class AnswerServer:
    """`python -m ftwizard.train.generate RUN --serve`: one JSON line per prompt in and out. Started on the first
    prompt; closing its stdin ends it (and the app exiting closes its stdin)."""

    def __init__(self, run: str, timeout: float = 600) -> None:
        self.run, self.timeout = run, timeout
        self.err = tempfile.TemporaryFile(mode="w+", encoding="utf-8")  # a file: a full pipe would block it
        self.proc = subprocess.Popen(job_command("generate", run, "--serve"), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.err, text=True, bufsize=1)
        self.ready = False

    def alive(self) -> bool:
        return self.proc.poll() is None

    def _line(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:  # the process ended: its last error line says why
            code = self.proc.wait()
            self.err.seek(0)
            err = [ln for ln in self.err.read().strip().splitlines() if ln.strip()]
            raise OSError(err[-1] if err else f"the generation process ended (exit {code})")
        return dict(json.loads(line))

    def ask(self, prompt: str) -> dict[str, Any]:
        if not self.ready:
            first = self._line()
            if "error" in first:
                return first
            self.ready = True
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps({"prompt": prompt}) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError) as exc:
            raise OSError(f"the generation process ended: {exc}") from None
        return self._line()

    def close(self) -> None:
        try:
            if self.proc.stdin:
                self.proc.stdin.close()
            self.proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
        self.err.close()


class TryItScreen(AppScreen):
    AUTO_FOCUS = "#try-prompt"
    BINDINGS = [Binding("ctrl+t", "next_test_prompt", "Test prompt", id="try.next", priority=True)]

    def __init__(self) -> None:
        super().__init__()
        self._prompts: list[str] = []
        self._i = -1
        self.busy = False
        self._shown: Path | None = None  # the run whose prompt and answers are on screen
        self._server: AnswerServer | None = None  # the generation process, kept while its run is open
        self._server_lock = threading.Lock()

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
            if self._server is not None and str(run) != self._server.run:
                self.close_server()  # its models belong to the run no longer open
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
        if not self.busy:  # the answers on screen were to the previous prompt
            for wid in ("#try-base", "#try-tuned"):
                self.query_one(wid, Static).update("")
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
            self.query_one(wid, Static).update(
                "[dim]generating …[/dim]" if self._server is not None and self._server.ready else
                "[dim]loading the models once (in their own process), then generating …[/dim]")
        self.generate(str(run), prompt)

    @work(thread=True, exclusive=True, group="generate", exit_on_error=False, name="generation")
    def generate(self, run: str, prompt: str) -> None:
        try:
            res = self._server_for(run).ask(prompt)
        except (OSError, ValueError) as exc:
            res = {"error": str(exc)}
        self.app.call_from_thread(self.show, res, run)

    def _server_for(self, run: str) -> AnswerServer:
        with self._server_lock:
            if self._server is None or self._server.run != run or not self._server.alive():
                if self._server is not None:
                    self._server.close()
                self._server = AnswerServer(run)
            return self._server

    def close_server(self) -> None:
        with self._server_lock:
            if self._server is not None:
                self._server.close()
                self._server = None

    def on_unmount(self) -> None:
        self.close_server()

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
