"""The frame every wizard step shares: header, step bar, body, footer; Next (ctrl+n) and Back (escape)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

if TYPE_CHECKING:
    from ftwizard.ui.app import WizardApp

STEPS = ("decide", "task", "hardware", "model", "data", "plan", "launch")
STEP_LABELS = {"decide": "Decide", "task": "Task", "hardware": "Hardware", "model": "Model", "data": "Data",
               "plan": "Plan", "launch": "Launch"}


class StepBar(Static):
    DEFAULT_CSS = "StepBar { height: 1; padding: 0 1; background: $panel; color: $text-muted; }"

    def __init__(self, step: str) -> None:
        super().__init__(id="stepbar")
        self.step = step

    def on_mount(self) -> None:
        parts = []
        for i, s in enumerate(STEPS, 1):
            label = f"{i} {STEP_LABELS[s]}"
            parts.append(f"[b reverse] {label} [/]" if s == self.step else f" {label} ")
        self.update("›".join(parts))


class StepScreen(Screen[None]):
    """A wizard step. Subclasses set STEP and implement `compose_body`; `can_leave` may block Next."""

    STEP: ClassVar[str] = ""
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+n", "next_step", "Next", id="step.next", priority=True),
        Binding("escape", "prev_step", "Back", id="step.back"),
    ]

    @property
    def wizard(self) -> WizardApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Header()
        yield StepBar(self.STEP)
        yield from self.compose_body()
        yield Footer()

    def compose_body(self) -> ComposeResult:
        yield from ()

    def can_leave(self) -> str | None:
        """None if Next may proceed, else the reason (shown as a notification)."""
        return None

    def action_next_step(self) -> None:
        why = self.can_leave()
        if why:
            self.notify(why, severity="warning", title="Not yet")
            return
        self.wizard.step_forward(self.STEP)

    def action_prev_step(self) -> None:
        self.wizard.step_back(self.STEP)

    def on_screen_resume(self) -> None:
        self.refresh_from_answers()

    def refresh_from_answers(self) -> None:
        """Re-read the shared answers (another step may have changed them)."""
