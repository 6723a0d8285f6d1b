"""The ftwizard Textual app. Takes its GPU probe and run launcher from outside (tests pass fakes or the
real ones); imports no torch — training, checks and merging run in their own processes."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.worker import get_current_worker

from ftwizard.core.plan.hardware import GpuProbe, ProbeResult, default_probe
from ftwizard.core.plan.model_facts import ModelFacts, load_model_facts
from ftwizard.core.plan.wizard import Answers, PlanView, make_plan, to_run_config
from ftwizard.core.run.config import RunConfig
from ftwizard.core.run.events import EventTail
from ftwizard.core.run.layout import RunDir
from ftwizard.core.run.state import RunState
from ftwizard.ui.commands import WizardCommands
from ftwizard.ui.screens.base import STEPS, StepScreen
from ftwizard.ui.screens.checklist import ChecklistScreen
from ftwizard.ui.screens.data import DataScreen
from ftwizard.ui.screens.decide import DecideScreen
from ftwizard.ui.screens.estimator import EstimatorScreen
from ftwizard.ui.screens.hardware import HardwareScreen
from ftwizard.ui.screens.launch import LaunchScreen
from ftwizard.ui.screens.model import ModelScreen
from ftwizard.ui.screens.monitor import MonitorScreen
from ftwizard.ui.screens.plan import PlanScreen
from ftwizard.ui.screens.runs import RunsScreen
from ftwizard.ui.screens.task import TaskScreen
from ftwizard.ui.themes import register_themes

Launcher = Callable[..., Any]  # (run, resume=False, num_gpus=1) -> Popen-like


def _real_launcher(run: str | Path, resume: bool = False, num_gpus: int = 1) -> Any:
    from ftwizard.core.run.launcher import launch

    return launch(run, resume=resume, num_gpus=num_gpus)


class WizardApp(App[None]):
    TITLE = "ftwizard"
    SUB_TITLE = "should I fine-tune? → a trained, checked adapter"
    CSS_PATH = "app.tcss"
    COMMANDS = App.COMMANDS | {WizardCommands}
    BINDINGS = [
        Binding("d", "goto('decide')", "Decide", id="goto.decide", show=False),
        Binding("h", "goto('hardware')", "Hardware", id="goto.hardware", show=False),
        Binding("e", "goto('estimator')", "Estimator", id="goto.estimator"),
        Binding("m", "goto('monitor')", "Monitor", id="goto.monitor"),
        Binding("ctrl+s", "save_preset", "Save", id="preset.save", priority=True),
        Binding("ctrl+l", "load_preset", "Load", id="preset.load", show=False),
        Binding("q", "quit", "Quit", id="quit"),
    ]
    MODES = {"decide": DecideScreen, "task": TaskScreen, "hardware": HardwareScreen, "model": ModelScreen,
             "data": DataScreen, "plan": PlanScreen, "launch": LaunchScreen, "estimator": EstimatorScreen,
             "monitor": MonitorScreen, "runs": RunsScreen, "checklist": ChecklistScreen}

    def __init__(self, probe: GpuProbe | None = None, launcher: Launcher | None = None,
                 runs_root: str | Path = "runs", answers: Answers | None = None, start: str = "decide") -> None:
        super().__init__()
        self.probe_backend = probe or default_probe()
        self.probe_result: ProbeResult = self.probe_backend.probe()
        self.launcher: Launcher = launcher or _real_launcher
        self.runs_root = Path(runs_root)
        self.answers = answers or Answers()
        self.last_report: dict[str, Any] | None = None
        self.start_mode = start
        self._facts_cache: tuple[str, ModelFacts] | None = None
        # the run being watched (owned here, so switching screens never stops the tail worker)
        self.active_run: Path | None = None
        self.run_state: RunState | None = None
        self.run_status: dict[str, Any] = {}
        self.run_config: RunConfig | None = None
        self.procs: dict[str, Any] = {}
        self.stamp: Callable[[], str] = lambda: time.strftime("%Y%m%d-%H%M%S")  # run-directory names

    def on_mount(self) -> None:
        register_themes(self)
        self.switch_mode(self.start_mode)

    # ---- navigation ------------------------------------------------------------------------------
    def action_goto(self, mode: str) -> None:
        self.switch_mode(mode)

    def step_forward(self, step: str) -> None:
        i = STEPS.index(step)
        if i + 1 < len(STEPS):
            self.switch_mode(STEPS[i + 1])

    def step_back(self, step: str) -> None:
        i = STEPS.index(step)
        if i > 0:
            self.switch_mode(STEPS[i - 1])

    # ---- shared answers --------------------------------------------------------------------------
    def model_facts(self) -> ModelFacts | None:
        model = self.answers.model
        if not model:
            return None
        if self._facts_cache is None or self._facts_cache[0] != model:
            self._facts_cache = (model, load_model_facts(model))
        return self._facts_cache[1]

    def plan_view(self) -> PlanView | None:
        facts = self.model_facts()
        return None if facts is None else make_plan(self.answers, facts, self.probe_result)

    def action_save_preset(self) -> None:
        from ftwizard.ui.modals.path_prompt import PathPrompt

        def save(path: str | None) -> None:
            if path:
                try:
                    saved = self.answers.save(path)
                    self.notify(f"Saved answers to {saved}")
                except OSError as exc:
                    self.notify(f"Could not save: {exc}", severity="error")

        self.push_screen(PathPrompt("Save answers as a preset YAML", "ftwizard-preset.yaml"), save)

    def action_load_preset(self) -> None:
        from ftwizard.ui.modals.path_prompt import PathPrompt

        def load(path: str | None) -> None:
            if path:
                self.load_answers(path)

        self.push_screen(PathPrompt("Load answers from a preset YAML", "ftwizard-preset.yaml"), load)

    def load_answers(self, path: str | Path) -> bool:
        try:
            self.answers = Answers.load(path)
        except (OSError, ValueError, TypeError) as exc:
            self.notify(f"Could not load {path}: {exc}", severity="error")
            return False
        self.notify(f"Loaded answers from {path}")
        if isinstance(self.screen, StepScreen):
            self.screen.refresh_from_answers()
        return True

    # ---- runs ------------------------------------------------------------------------------------
    def launch_run(self, run_dir: str | Path) -> Path | None:
        from ftwizard.core.run.service import RunError, create_run

        facts = self.model_facts()
        view = self.plan_view()
        if facts is None or view is None:
            self.notify("Choose a model first.", severity="error")
            return None
        try:
            cfg = to_run_config(self.answers, view, facts)
            rd = create_run(run_dir, cfg)
        except (RunError, ValueError, OSError) as exc:
            self.notify(str(exc), severity="error")
            return None
        self.answers.save(rd.answers_path)
        self._start(rd.path, resume=False, num_gpus=cfg.num_gpus)
        return rd.path

    def _start(self, run: Path, resume: bool, num_gpus: int = 1) -> None:
        proc = self.launcher(run, resume=resume, num_gpus=num_gpus)
        if proc is not None:
            self.procs[str(run)] = proc
        self.open_run(run, keep_state=resume)

    def open_run(self, run: str | Path, keep_state: bool = False) -> None:
        run = Path(run)
        if not (keep_state and self.active_run == run and self.run_state is not None):
            self.run_state = RunState()
        self.active_run = run
        try:
            self.run_config = RunDir(run).config()
        except (OSError, ValueError, TypeError):
            self.run_config = None
        self.run_status = RunDir(run).status()
        self.tail_run(run, self.run_state)  # type: ignore[arg-type]
        self.switch_mode("monitor")

    @work(thread=True, exclusive=True, group="tail", exit_on_error=False)
    def tail_run(self, run: Path, state: RunState) -> None:
        """Incremental tail of events.jsonl + status.json; updates `state` in place (the screen redraws on
        a timer). Reads only new bytes each poll, so thousands of events per second are fine."""
        from ftwizard.core.run.launcher import current_status

        worker = get_current_worker()
        tail = EventTail(RunDir(run).events_path)
        while not worker.is_cancelled:
            events = tail.poll()
            if events:
                state.add_many(events)
            st = current_status(run, self.procs.get(str(run)))
            if st != self.run_status:
                self.run_status = st
                state.version += 1
            if not events:
                time.sleep(0.25)

    def stop_active_run(self) -> None:
        from ftwizard.core.run.launcher import stop

        if self.active_run is None:
            self.notify("No run is open.", severity="warning")
            return
        if stop(self.active_run):
            self.notify("Stopping: the trainer finishes its step and saves a checkpoint.")
        else:
            self.notify("The run is not running.", severity="warning")

    def resume_active_run(self) -> None:
        run = self.active_run
        if run is None:
            self.notify("No run is open.", severity="warning")
            return
        state = RunDir(run).status().get("state")
        if state not in ("stopped", "failed"):
            self.notify(f"Only a stopped or failed run can be resumed (this one is {state}).", severity="warning")
            return
        cfg = RunDir(run).config()
        self._start(run, resume=True, num_gpus=cfg.num_gpus)
        self.notify("Resuming from the last checkpoint.")

    def relaunch_with_fix(self) -> None:
        """After a failure: a new run with the diagnosis' suggested change (core.run.diagnosis.fix_changes)."""
        from ftwizard.core.run.service import RunError, create_run, fixed_config, relaunch_dir

        run = self.active_run
        if run is None:
            self.notify("Only a failed run can be relaunched with a fix.", severity="warning")
            return
        try:
            new, _changes = fixed_config(run)
            new_run = create_run(relaunch_dir(run), new).path
        except (RunError, OSError) as exc:
            self.notify(str(exc), severity="warning")
            return
        self._start(new_run, resume=False, num_gpus=new.num_gpus)
        self.notify(f"Relaunched as {new_run}")

    def start_demo(self) -> None:
        self.notify("Building the tiny demo model and data …")
        self._build_demo()

    @work(thread=True, exclusive=True, group="demo", exit_on_error=False)
    def _build_demo(self) -> None:
        from ftwizard.core.run.service import build_demo

        run = build_demo(self.runs_root / f"demo-{self.stamp()}")
        self.call_from_thread(self._start, run, False, 1)

    def running_run_message(self) -> str | None:
        """Said when the app closes while a run trains (the run is not killed)."""
        if self.active_run is None:
            return None
        st = RunDir(self.active_run).status()
        if st.get("state") in ("starting", "running", "stopping"):
            return (f"Training continues in the background (pid {st.get('pid')}). "
                    f"Reattach: ftwizard monitor {self.active_run}  ·  stop: ftwizard stop {self.active_run}")
        return None


def make_app(probe: GpuProbe | None = None, launcher: Launcher | None = None, runs_root: str | Path = "runs",
             answers: Answers | None = None, start: str = "decide") -> WizardApp:
    return WizardApp(probe, launcher, runs_root, answers, start)


def run_app(fake_gpus: str | None = None, demo: bool = False, monitor: str | None = None,
            preset: str | None = None) -> int:
    answers = Answers.load(preset) if preset else None
    app = make_app(default_probe(fake_gpus), answers=answers)
    if monitor:
        app.start_mode = "monitor"
        app.call_later(app.open_run, Path(monitor))
    elif demo:
        app.start_mode = "monitor"
        app.call_later(app.start_demo)
    app.run()
    msg = app.running_run_message()
    if msg:
        print(msg)
    return 0
