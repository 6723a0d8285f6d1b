"""Launch: write the run directory, show the exact CLI equivalent, start the trainer, go to the monitor."""

from __future__ import annotations

import shlex
from pathlib import Path

from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Input, Label, Static

from ftwizard.core.plan.model_facts import ModelFactsError
from ftwizard.ui.screens.base import StepScreen


class LaunchScreen(StepScreen):
    STEP = "launch"
    AUTO_FOCUS = "#launch"

    def compose_body(self) -> ComposeResult:
        with VerticalScroll():
            yield Static("Ready to train?", classes="title")
            yield Static(id="launch-summary", classes="card")
            yield Label("Run directory (config, events, checkpoints and the adapter go here)")
            yield Input(self.default_run_dir(), id="run-dir")
            yield Static(id="cli", classes="why")
            yield Static(id="blockers")
            with Horizontal(classes="row"):
                yield Button("Launch training", id="launch", variant="success")
                yield Button("Save answers as preset (ctrl+s)", id="save")

    def default_run_dir(self) -> str:
        name = Path(self.wizard.answers.model or "run").name.replace("/", "-") or "run"
        return str(self.wizard.runs_root / f"{name}-{self.wizard.stamp()}")

    def on_mount(self) -> None:
        self.refresh_from_answers()

    def blockers(self) -> list[str]:
        ans = self.wizard.answers
        out = []
        if not ans.model:
            out.append("no model chosen (Model step)")
        else:
            try:
                self.wizard.model_facts()
            except ModelFactsError as exc:
                out.append(f"the model cannot be read: {exc}")
        if not ans.data:
            out.append("no dataset chosen (Data step)")
        elif ans.data_errors is None:
            out.append("the dataset has not been checked yet (Data step → Check)")
        elif ans.data_errors:
            out.append(f"the dataset has {ans.data_errors} problem(s) (Data step lists them with line numbers)")
        return out

    def refresh_from_answers(self) -> None:
        ans = self.wizard.answers
        blockers = self.blockers()
        view = None
        if not any("model" in b for b in blockers):
            view = self.wizard.plan_view()
        run = self.query_one("#run-dir", Input).value
        if view is not None:
            v = view.values
            what = (f"[b]{v['method']}[/b] fine-tune of [b]{ans.model}[/b] on {ans.data or '(no data yet)'}\n"
                    f"micro-batch {v['micro_batch']} × accumulation {v['gradient_accumulation']}, lr {v['learning_rate']:g}, "
                    f"{v['epochs']:g} epochs, max {v['max_seq_length']} tokens\n"
                    f"predicted peak {view.estimate.peak_gib:.1f} GiB"
                    + (f" of {view.gpu_gib:.0f} GiB ({'fits' if view.fits else '[b $error]does not fit[/]'})"
                       if view.gpu_gib else " (CPU)"))
            self.query_one("#launch-summary", Static).update(what)
            if not view.fits:
                blockers.append("the plan does not fit the GPU (Plan step → ctrl+f makes it fit)")
        cmd = ["ftwizard", "train", str(Path(run) / "config.yaml"), "--out", run]
        self.query_one("#cli", Static).update(
            "The same, without the app:\n  " + shlex.join(cmd) + "\n(after Launch, the config is written there; "
            "a TRL-only script is in launch.sh)")
        self.query_one("#blockers", Static).update(
            "" if not blockers else "[b $error]Cannot launch yet:[/]\n" + "\n".join(f"  • {b}" for b in blockers))
        self.query_one("#launch", Button).disabled = bool(blockers)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "launch":
            self.refresh_from_answers()
            if not self.query_one("#launch", Button).disabled:
                self.wizard.launch_run(self.query_one("#run-dir", Input).value.strip() or self.default_run_dir())
        elif event.button.id == "save":
            self.wizard.action_save_preset()

    def can_leave(self) -> str | None:
        return "This is the last step: press Launch training."
