"""The ftwizard Textual app. Takes its GPU probe and run launcher from outside (tests pass fakes or the
real ones); imports no torch — training, checks, merging and generation run in their own processes.

State that worker threads produce reaches the App as messages (`ui/messages.py`); the answers autosave on
every change (`core/wizard.autosave`), and the next start offers to continue where you left off."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.markup import escape
from textual import on, work
from textual.app import App
from textual.binding import Binding
from textual.theme import Theme
from textual.worker import Worker, get_current_worker

from ftwizard.core.plan.hardware import GpuProbe, ProbeResult, default_probe
from ftwizard.core.plan.model_facts import ModelFacts, ModelFactsError, load_model_facts
from ftwizard.core.run.config import RunConfig
from ftwizard.core.run.events import EventTail
from ftwizard.core.run.layout import RunDir
from ftwizard.core.run.state import RunState
from ftwizard.core.wizard import (
    STEP_NAMES,
    Answers,
    PlanView,
    PresetError,
    autosave,
    load_autosave,
    make_plan,
    to_run_config,
)
from ftwizard.ui.commands import WizardCommands
from ftwizard.ui.messages import DemoReady, RunEvents, RunStatusChanged
from ftwizard.ui.screens.base import STEPS, StepScreen, typed_not_shortcut, worker_failure_text
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
from ftwizard.ui.screens.tryit import TryItScreen
from ftwizard.ui.themes import register_themes, remember_theme

Launcher = Callable[..., Any]  # (run, resume=False, num_gpus=1, extra_env=None) -> Popen-like


def _real_launcher(run: str | Path, resume: bool = False, num_gpus: int = 1,
                   extra_env: dict[str, str] | None = None) -> Any:
    from ftwizard.core.run.launcher import launch

    return launch(run, resume=resume, num_gpus=num_gpus, extra_env=extra_env)


class WizardApp(App[None]):
    TITLE = "ftwizard"
    SUB_TITLE = "should I fine-tune? → a trained, checked model"
    CSS_PATH = "app.tcss"
    COMMANDS = App.COMMANDS | {WizardCommands}
    BINDINGS = [
        Binding("d", "goto('decide')", "Decide", id="goto.decide", show=False),
        Binding("h", "goto('hardware')", "Hardware", id="goto.hardware", show=False),
        Binding("e", "goto('estimator')", "Estimator", id="goto.estimator", show=False),
        Binding("m", "goto('monitor')", "Monitor", id="goto.monitor", show=False),
        Binding("ctrl+s", "save_preset", "Save", id="preset.save", priority=True),
        Binding("ctrl+l", "load_preset", "Load", id="preset.load", show=False),
        Binding("q", "quit", "Quit", id="quit"),
    ]
    MODES = {"decide": DecideScreen, "task": TaskScreen, "hardware": HardwareScreen, "model": ModelScreen,
             "data": DataScreen, "plan": PlanScreen, "launch": LaunchScreen, "estimator": EstimatorScreen,
             "monitor": MonitorScreen, "runs": RunsScreen, "checklist": ChecklistScreen,
             "tryit": TryItScreen}

    def __init__(self, probe: GpuProbe | None = None, launcher: Launcher | None = None,
                 runs_root: str | Path = "runs", answers: Answers | None = None, start: str = "decide",
                 offer: Answers | None = None, save_answers: bool = True) -> None:
        super().__init__()
        self.probe_backend = probe or default_probe()
        self.probe_result: ProbeResult = self.probe_backend.probe()
        self.launcher: Launcher = launcher or _real_launcher
        self.runs_root = Path(runs_root)
        self.answers = answers or Answers()
        self.last_report: dict[str, Any] | None = None
        self.start_mode = start
        self.offer = offer  # autosaved answers to offer on start ("continue where you left off?")
        self.offer_live_runs = False  # on start, offer to watch a run still training (run_app: a plain start)
        self.save_answers = save_answers
        self.keep_alive_on_error = False  # run_app turns it on; tests keep it off so a bug fails loudly
        self._facts_cache: tuple[str, ModelFacts] | None = None
        self._history: list[str] = []
        self._clean = self._answers_key()  # the answers as last saved/loaded: edits since then ask on quit
        self._autosaved = ""
        self._theme_saved = ""  # the theme as in settings.yaml (or the default): only a change is written
        # the run being watched (owned here, so switching screens never stops the tail worker)
        self.active_run: Path | None = None
        self.run_state: RunState | None = None
        self.run_status: dict[str, Any] = {}
        self.run_config: RunConfig | None = None
        self.demo_note: str | None = None  # "building the demo …" / why it failed, shown on the monitor
        self.procs: dict[str, Any] = {}
        self.stamp: Callable[[], str] = lambda: time.strftime("%Y%m%d-%H%M%S")  # run-directory names

    def on_mount(self) -> None:
        for problem in register_themes(self):
            self.notify(escape(problem), severity="warning", timeout=8)
        self._theme_saved = self.theme
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        self.switch_mode(self.start_mode)
        self.set_interval(1.0, self.autosave_now)
        live = self._running_run() if self.offer_live_runs else None
        if self.offer is not None or live is not None:
            self.call_after_refresh(self._offer_continue, live)

    def _theme_changed(self, theme: Theme) -> None:
        """Remember a theme the person picked; applying the remembered one on start writes nothing."""
        if self.save_answers and theme.name != self._theme_saved:
            remember_theme(theme)
            self._theme_saved = theme.name

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Single-key shortcuts are off while a text box has focus: the key is typed there. (Textual already
        hands a printable key to a focused Input first; this keeps any letter-only action off there too.)
        Saving a preset (the wizard's answers) is offered on the wizard's steps, not on Runs, Monitor and after."""
        if action == "save_preset" and self.current_mode not in STEPS:
            return False
        return not typed_not_shortcut(self, action)

    # ---- navigation: Esc goes back where you came from -----------------------------------------------
    def switch_mode(self, mode: str) -> Any:
        # only the app's own screens are places to go back to (not Textual's blank "_default" before the first)
        if self.current_mode in self.MODES and self.current_mode != mode and mode in self.MODES:
            self._history.append(self.current_mode)
            del self._history[:-30]
        self.autosave_now()
        return super().switch_mode(mode)

    def action_goto(self, mode: str) -> None:
        self.switch_mode(mode)

    def go_back(self) -> None:
        """Esc on a tool screen: the screen you came from (the last wizard step if there is none)."""
        while self._history:
            prev = self._history.pop()
            if prev != self.current_mode and prev in self.MODES:
                super().switch_mode(prev)
                return
        super().switch_mode(self.answers.step if self.answers.step in STEPS else "decide")

    def step_forward(self, step: str) -> None:
        i = STEPS.index(step)
        if i + 1 < len(STEPS):
            self.switch_mode(STEPS[i + 1])

    def step_back(self, step: str) -> None:
        i = STEPS.index(step)
        if i > 0:
            self.switch_mode(STEPS[i - 1])

    # ---- errors --------------------------------------------------------------------------------------
    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        self.show_worker_failure(event)

    def show_worker_failure(self, event: Worker.StateChanged) -> None:
        """The one place a failed worker becomes words on screen (never a crash, never a silent hang)."""
        text = worker_failure_text(event)
        if text is None:
            return
        if event.worker.group == "demo":
            self.demo_note = f"The demo could not be built: {event.worker.error}"
            if self.run_state is not None:
                self.run_state.version += 1
        self.notify(escape(text), severity="error", timeout=10)

    def _handle_exception(self, error: Exception) -> None:
        """A bug in a handler: show it and keep the app (and the answers) alive instead of exiting."""
        if self.keep_alive_on_error and self.is_running and bool(self._screen_stack) \
                and not isinstance(error, (KeyboardInterrupt, SystemExit)):
            self.log.error(error)
            try:
                self.notify(escape(f"Something went wrong: {error.__class__.__name__}: {error}"), severity="error",
                            timeout=10)
                return
            except Exception:  # noqa: BLE001 - fall back to Textual's own handling
                pass
        super()._handle_exception(error)

    # ---- shared answers ------------------------------------------------------------------------------
    def model_facts(self) -> ModelFacts | None:
        model = self.answers.model
        if not model:
            return None
        key = f"{model}\0{self.answers.allow_download}"
        if self._facts_cache is None or self._facts_cache[0] != key:
            self._facts_cache = (key, load_model_facts(model, allow_download=self.answers.allow_download))
        return self._facts_cache[1]

    def plan_view(self) -> PlanView | None:
        facts = self.model_facts()
        return None if facts is None else make_plan(self.answers, facts, self.probe_result)

    def _answers_key(self) -> str:
        d = Answers(**{**self.answers.__dict__, "step": "decide"})
        return d.to_yaml()

    def is_dirty(self) -> bool:
        return self._answers_key() != self._clean

    def autosave_now(self) -> None:
        """Write the answers when they changed since the last write (runs every second and on each step)."""
        if not self.save_answers or self.answers.is_blank():
            return
        text = self.answers.to_yaml()
        if text != self._autosaved:
            autosave(self.answers)
            self._autosaved = text

    def _running_run(self) -> Any:
        """The newest run under the runs folder whose trainer is alive (it went on after the app closed), or None."""
        from ftwizard.core.run.state import list_runs

        try:
            runs = list_runs(self.runs_root, limit=20)
        except OSError:
            return None
        return next((r for r in runs if r.state in ("starting", "running") and r.liveness is None), None)

    def _offer_continue(self, live: Any = None) -> None:
        """On start: a run still training (`live`: it survived the app closing) can be watched again, and the
        autosaved answers can be continued."""
        from ftwizard.ui.modals.choice import ChoiceModal

        ans = self.offer
        if ans is None and live is None:
            return
        lines = []
        if live is not None:
            of = f"/{live.max_steps}" if live.max_steps else ""
            lines.append(f"still training: {live.path} ({live.trainer}, {live.model}, step {live.step}{of})")
        if ans is not None:
            lines.append(", ".join(x for x in (ans.model and f"model {ans.model}", ans.data and f"data {ans.data}",
                                               f"at the {ans.step.title()} step") if x))
        choices = ([("watch", "Watch the run", "w")] if live is not None else []) + (
            [("continue", "Continue", "c"), ("new", "Start over", "n")] if ans is not None else [("new", "Not now",
                                                                                                 "n")])

        def chosen(choice: str | None) -> None:
            if choice == "continue" and ans is not None:
                self.use_answers(ans)
                self.notify("Continuing where you left off.", timeout=3)
            elif choice == "watch" and live is not None:
                if ans is not None:
                    self.use_answers(ans)
                self.open_run(live.path)
            self.offer = None

        title = "Continue where you left off?" if ans is not None else "A run is still training"
        self.push_screen(ChoiceModal(title, escape("\n".join(lines)), choices), chosen)

    def use_answers(self, ans: Answers) -> None:
        """Take loaded answers (a preset or the autosave) and open the step they were at."""
        self.answers = ans
        self._facts_cache = None
        self._clean = self._answers_key()
        step = ans.step if ans.step in STEP_NAMES else "decide"
        if self.current_mode == step and isinstance(self.screen, StepScreen):
            self.screen.refresh_from_answers()
        else:
            self.switch_mode(step)

    def action_save_preset(self) -> None:
        from ftwizard.ui.modals.path_prompt import PathPrompt

        def save(path: str | None) -> None:
            if path:
                try:
                    saved = self.answers.save(path)
                    self._clean = self._answers_key()
                    self.notify(f"Saved answers to {escape(str(saved))}")
                except OSError as exc:
                    self.notify(escape(f"Could not save {path}: {exc.strerror or exc}"), severity="error")

        self.push_screen(PathPrompt("Save answers as a preset YAML", "ftwizard-preset.yaml"), save)

    def action_load_preset(self) -> None:
        from ftwizard.ui.modals.path_prompt import PathPrompt

        def load(path: str | None) -> None:
            if path:
                self.load_answers(path)

        self.push_screen(PathPrompt("Load answers from a preset YAML", "ftwizard-preset.yaml"), load)

    def load_answers(self, path: str | Path) -> bool:
        try:
            ans = Answers.load(path)
        except PresetError as exc:
            self.notify(escape(f"Could not load the preset: {exc}"), severity="error", timeout=8)
            return False
        self.use_answers(ans)
        self.notify(f"Loaded answers from {escape(str(path))}")
        return True

    async def action_quit(self) -> None:
        """q: quit at once when nothing changed; with unsaved edits, ask (the autosave is kept either way)."""
        if not self.is_dirty():
            self.autosave_now()
            self.exit()
            return
        from ftwizard.ui.modals.choice import ChoiceModal

        def chosen(choice: str | None) -> None:
            if choice == "quit":
                self.autosave_now()
                self.exit()
            elif choice == "save":
                self.action_save_preset()

        self.push_screen(ChoiceModal(
            "Quit ftwizard?", "Your answers changed since the last save. They are autosaved and offered the next "
            "time you start ftwizard; save them as a preset to keep a copy.",
            [("quit", "Quit", "y"), ("save", "Save as preset", "s"), ("cancel", "Stay", "n")]), chosen)

    # ---- runs ----------------------------------------------------------------------------------------
    def launch_run(self, run_dir: str | Path) -> Path | None:
        rd = self.write_run(run_dir)
        if rd is not None:
            self._start(rd, resume=False, num_gpus=RunDir(rd).config().num_gpus)
        return rd

    def write_run(self, run_dir: str | Path) -> Path | None:
        """Write the run directory (config, TRL config, launch.sh, answers) without starting it."""
        from ftwizard.core.run.service import RunError, create_run

        try:
            facts = self.model_facts()
            view = self.plan_view()
        except ModelFactsError as exc:
            self.notify(escape(str(exc)), severity="error")
            return None
        if facts is None or view is None:
            self.notify("Choose a model first.", severity="error")
            return None
        try:
            cfg = to_run_config(self.answers, view, facts)
            rd = create_run(run_dir, cfg)
        except (RunError, ValueError, OSError) as exc:
            self.notify(escape(str(exc)), severity="error")
            return None
        self.answers.save(rd.answers_path)
        return rd.path

    def _start(self, run: Path, resume: bool, num_gpus: int = 1) -> None:
        # no download unless the person allowed it: the trainer then fails fast with a clear cause
        env = {} if self.answers.allow_download else {"HF_HUB_OFFLINE": "1"}
        try:
            proc = self.launcher(run, resume=resume, num_gpus=num_gpus, extra_env=env)
        except OSError as exc:
            self.notify(escape(f"Could not start the trainer: {exc}"), severity="error")
            return
        if proc is not None:
            self.procs[str(run)] = proc
        self.open_run(run, keep_state=resume)

    def open_run(self, run: str | Path, keep_state: bool = False) -> None:
        run = Path(run)
        if not (keep_state and self.active_run == run and self.run_state is not None):
            self.run_state = RunState()
        self.active_run = run
        self.demo_note = None
        try:
            self.run_config = RunDir(run).config()
        except (OSError, ValueError, TypeError):
            self.run_config = None
        self.run_status = RunDir(run).status()
        self.tail_run(run, from_start=not keep_state)
        self.switch_mode("monitor")

    @work(thread=True, exclusive=True, group="tail", exit_on_error=False, name="following the run")
    def tail_run(self, run: Path, from_start: bool = True) -> None:
        """Incremental tail of events.jsonl + status.json, posted to the App as messages (the monitor redraws
        on a timer). Reads only new bytes each poll, so thousands of events per second are fine."""
        from ftwizard.core.run.launcher import current_status
        from ftwizard.core.run.liveness import with_liveness

        worker = get_current_worker()
        tail = EventTail(RunDir(run).events_path)
        if not from_start:  # a resume keeps the events already shown
            tail.poll()
        last: dict[str, Any] | None = None
        while not worker.is_cancelled:
            events = tail.poll()
            if events:
                self.post_message(RunEvents(run, events))
            st = with_liveness(run, current_status(run, self.procs.get(str(run))))  # + "stalled for N s"
            if st != last:
                last = st
                self.post_message(RunStatusChanged(run, st))
            if not events:
                time.sleep(0.25)

    @on(RunEvents)
    def _run_events(self, message: RunEvents) -> None:
        if message.run == self.active_run and self.run_state is not None:
            self.run_state.add_many(message.events)

    @on(RunStatusChanged)
    def _run_status(self, message: RunStatusChanged) -> None:
        if message.run == self.active_run and message.status != self.run_status:
            self.run_status = message.status
            if self.run_state is not None:
                self.run_state.version += 1

    def stop_active_run(self) -> None:
        """Stop the open run the way `ftwizard stop` does: SIGTERM (the trainer finishes its step and saves a
        checkpoint), then, if it makes no progress for 30 s (stalled, stuck in a reward function), SIGKILL of its
        process group. The waiting runs in a thread; each step is a notification."""
        if self.active_run is None:
            self.notify("No run is open.", severity="warning")
            return
        self._stop_worker(self.active_run)

    @work(thread=True, exclusive=True, group="stop-run")
    def _stop_worker(self, run: Path) -> None:
        from ftwizard.core.run.launcher import stop_or_kill

        def say(line: str) -> None:
            self.call_from_thread(self.notify, escape(line))

        ok, line = stop_or_kill(run, say=say)  # says each line as it happens, the refusal included
        if ok:
            say(line)

    def resume_active_run(self) -> None:
        run = self.active_run
        if run is None:
            self.notify("No run is open.", severity="warning")
            return
        state = RunDir(run).status().get("state")
        if state not in ("stopped", "failed"):
            self.notify(f"Only a stopped or failed run can be resumed (this one is {state}).", severity="warning")
            return
        try:
            cfg = RunDir(run).config()
        except (OSError, ValueError, TypeError) as exc:
            self.notify(escape(f"Cannot read the run's config: {exc}"), severity="error")
            return
        from ftwizard.core.run.fingerprint import compare

        refusal = compare(RunDir(run), cfg).refusal()  # config.yaml edited in a way the checkpoint cannot honour
        if refusal:
            self.notify(escape(refusal), severity="error")
            return
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
        except (RunError, OSError, ValueError) as exc:
            self.notify(escape(str(exc)), severity="warning")
            return
        self._start(new_run, resume=False, num_gpus=new.num_gpus)
        self.notify(f"Relaunched as {escape(str(new_run))}")

    def start_demo(self) -> None:
        self.demo_note = "Building the tiny demo model and data (a few seconds) …"
        self.notify("Building the tiny demo model and data …")
        self.switch_mode("monitor")
        self._build_demo()

    @work(thread=True, exclusive=True, group="demo", exit_on_error=False, name="the demo build")
    def _build_demo(self) -> None:
        from ftwizard.core.run.service import build_demo

        run = build_demo(self.runs_root / f"demo-{self.stamp()}")
        self.post_message(DemoReady(run))

    @on(DemoReady)
    def _demo_ready(self, message: DemoReady) -> None:
        self._start(message.run, False, 1)

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
             answers: Answers | None = None, start: str = "decide", offer: Answers | None = None) -> WizardApp:
    return WizardApp(probe, launcher, runs_root, answers, start, offer)


def run_app(fake_gpus: str | None = None, demo: bool = False, monitor: str | None = None,
            preset: str | None = None, answers: Answers | None = None) -> int:
    """The app. `answers`: start from these (the real-model demo opens on its Plan step)."""
    offer = None
    if preset:
        try:
            answers = Answers.load(preset)
        except PresetError as exc:
            print(f"error: cannot use the preset: {exc}", file=sys.stderr)
            print("hint: fix the file (ftwizard saves valid presets with ctrl+s), or start without --preset",
                  file=sys.stderr)
            return 2
    elif not (monitor or demo or answers):
        offer = load_autosave()
    start = answers.step if answers is not None else "decide"
    app = make_app(default_probe(fake_gpus), answers=answers, start=start, offer=offer)
    app.keep_alive_on_error = True
    app.offer_live_runs = not (monitor or demo or preset or answers)
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
