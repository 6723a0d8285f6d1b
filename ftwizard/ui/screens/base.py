"""The frame every screen shares. One navigation rule everywhere: Esc goes back (the previous wizard step on a
step, the screen you came from on a tool screen); ctrl+n goes on. Worker failures become notifications.
Single-key shortcuts (e, m, q, y, n, 1 …) never act while a text box has focus: there the key is typed."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, cast

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.dom import DOMNode
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Static, TextArea
from textual.worker import Worker, WorkerState

if TYPE_CHECKING:
    from ftwizard.ui.app import WizardApp

STEPS = ("decide", "task", "hardware", "model", "data", "plan", "launch")
STEP_LABELS = {"decide": "Decide", "task": "Task", "hardware": "Hardware", "model": "Model", "data": "Data",
               "plan": "Plan", "launch": "Launch"}


def worker_failure_text(event: Worker.StateChanged) -> str | None:
    """The one line to show when a worker failed (None otherwise)."""
    if event.state != WorkerState.ERROR:
        return None
    err = event.worker.error
    what = event.worker.name or event.worker.group or "background task"
    return f"{what} failed: {err}" if err else f"{what} failed"


def typing_in_text_box(node: DOMNode) -> bool:
    """True while a text box (Input, TextArea) has focus: printable keys are text there, not shortcuts."""
    return isinstance(node.app.focused, (Input, TextArea))


def key_actions(node: DOMNode) -> set[str]:
    """The actions `node` binds only to single printable keys ("e", "q", "1"), off while typing in a text box.
    An action that also has a ctrl/alt key (Textual's ctrl+q quit) keeps working there by that key."""
    letter: set[str] = set()
    other: set[str] = set()
    for key, bindings in node._bindings.key_to_bindings.items():
        for b in bindings:
            (letter if len(key) == 1 and key.isprintable() else other).add(b.action.split("(", 1)[0].rsplit(".", 1)[-1])
    return letter - other


def typed_not_shortcut(node: DOMNode, action: str) -> bool:
    """For `check_action`: the action is one of `node`'s single-key shortcuts and a text box has focus."""
    return typing_in_text_box(node) and action in key_actions(node)


class StepBar(Static):
    DEFAULT_CSS = "StepBar { height: 1; padding: 0 1; background: $panel; color: $text-muted; }"

    def __init__(self, step: str) -> None:
        super().__init__(id="stepbar")
        self.step = step

    def on_mount(self) -> None:
        parts = []
        for i, s in enumerate(STEPS, 1):
            label = f"{i} {STEP_LABELS[s]}" if s == self.step else STEP_LABELS[s]
            parts.append(f"[b reverse] {label} [/]" if s == self.step else f" {label} ")
        self.update("›".join(parts))


class AppScreen(Screen[None]):
    """A screen of the app: typed access to the WizardApp, Esc = back, worker failures as notifications."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "go_back", "Back", id="nav.back")]

    @property
    def wizard(self) -> WizardApp:
        return cast("WizardApp", self.app)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not typed_not_shortcut(self, action)

    def action_go_back(self) -> None:
        self.wizard.go_back()

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        self.wizard.show_worker_failure(event)


class StepScreen(AppScreen):
    """A wizard step. Subclasses set STEP and implement `compose_body`; `can_leave` may block Next."""

    STEP: ClassVar[str] = ""
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+n", "next_step", "Next", id="step.next", priority=True),
        Binding("escape", "prev_step", "Back", id="step.back"),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        yield StepBar(self.STEP)
        yield from self.compose_body()
        yield Footer(compact=True)

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
        self.wizard.answers.step = self.STEP
        self.refresh_from_answers()

    def refresh_from_answers(self) -> None:
        """Re-read the shared answers (another step may have changed them)."""
