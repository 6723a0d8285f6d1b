"""The ftwizard Textual app. Takes its GPU probe from outside (tests pass a fake); imports no torch."""

from __future__ import annotations

from textual.app import App
from textual.binding import Binding

from ftwizard.core.hardware import GpuProbe, ProbeResult, default_probe
from ftwizard.ui.screens.decide import DecideScreen
from ftwizard.ui.screens.estimator import EstimatorScreen
from ftwizard.ui.screens.hardware import HardwareScreen
from ftwizard.ui.themes import register_themes


class WizardApp(App[None]):
    TITLE = "ftwizard"
    SUB_TITLE = "should I fine-tune? → a trained, checked adapter"
    CSS_PATH = "app.tcss"
    BINDINGS = [
        Binding("d", "goto('decide')", "Decide", id="goto.decide"),
        Binding("h", "goto('hardware')", "Hardware", id="goto.hardware"),
        Binding("e", "goto('estimator')", "Estimator", id="goto.estimator"),
        Binding("q", "quit", "Quit", id="quit"),
    ]
    MODES = {"decide": DecideScreen, "hardware": HardwareScreen, "estimator": EstimatorScreen}

    def __init__(self, probe: GpuProbe | None = None) -> None:
        super().__init__()
        self.probe_backend = probe or default_probe()
        self.probe_result: ProbeResult = self.probe_backend.probe()

    def on_mount(self) -> None:
        register_themes(self)
        self.switch_mode("decide")

    def action_goto(self, mode: str) -> None:
        self.switch_mode(mode)


def make_app(probe: GpuProbe | None = None) -> WizardApp:
    return WizardApp(probe)


def run_app(fake_gpus: str | None = None, demo: bool = False, monitor: str | None = None) -> int:
    app = make_app(default_probe(fake_gpus))
    if monitor:
        print(f"The live monitor screen is not in the app yet; following {monitor} in the terminal instead.")
        from pathlib import Path

        from ftwizard.cli_train import _report_end, follow

        return _report_end(follow(Path(monitor)), Path(monitor))
    if demo:
        print("The demo runs headless for now: `ftwizard demo --headless`.")
        return 0
    app.run()
    return 0
