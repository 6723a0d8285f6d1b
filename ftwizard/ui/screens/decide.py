"""Welcome / decide: the decision tree as questions; outcomes that are not fine-tuning end with advice and
a way back. A fine-tuning outcome sets the task kind for the next step."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Static

from ftwizard.core.plan.decision import Outcome, Question, Walk
from ftwizard.ui.screens.base import StepScreen


class DecideScreen(StepScreen):
    STEP = "decide"
    BINDINGS = [Binding("y", "answer(True)", "Yes", id="decide.yes"), Binding("n", "answer(False)", "No", id="decide.no"),
                Binding("b", "back", "Previous question", id="decide.back")]

    def __init__(self) -> None:
        super().__init__()
        self.walk = Walk()

    def compose_body(self) -> ComposeResult:
        with VerticalScroll():
            yield Static("Should you fine-tune? A few yes/no questions first (y / n, b to go back).", classes="muted")
            yield Static(id="question", classes="title")
            yield Static(id="why", classes="why")
            yield Static(id="advice", classes="advice")
            with Horizontal(classes="row"):
                yield Button("Yes (y)", id="yes", variant="success")
                yield Button("No (n)", id="no", variant="error")
                yield Button("Back (b)", id="back")
                yield Button("Continue → (ctrl+n)", id="continue", variant="primary")
                yield Button("Estimate memory (e)", id="to-estimator")

    def on_mount(self) -> None:
        self.refresh_node()

    def refresh_node(self) -> None:
        node = self.walk.node
        q = self.query_one("#question", Static)
        why = self.query_one("#why", Static)
        adv = self.query_one("#advice", Static)
        is_q = isinstance(node, Question)
        ft = isinstance(node, Outcome) and node.fine_tune
        self.query_one("#yes").display = is_q
        self.query_one("#no").display = is_q
        self.query_one("#continue").display = ft
        self.query_one("#to-estimator").display = ft
        if isinstance(node, Question):
            q.update(node.text)
            why.update(node.why)
            adv.update("")
        else:
            q.update(f"→ {node.title}")
            why.update("")
            adv.update("\n".join(f"• {a}" for a in node.advice) +
                       ("\n\nNext: describe the task and your data (ctrl+n)." if ft else
                        "\n\nFine-tuning is not the first tool here. Press b to change an answer."))
        if isinstance(node, Outcome) and node.fine_tune:
            self.wizard.answers.decide = dict(self.walk.answers)
            if node.task_kind:
                self.wizard.answers.task_kind = node.task_kind

    def can_leave(self) -> str | None:
        node = self.walk.node
        if isinstance(node, Outcome) and not node.fine_tune:
            return "The answers point away from fine-tuning; press b to change one, or pick a step from the palette."
        if isinstance(node, Question):
            self.notify("Skipping the remaining questions.", timeout=2)
        return None

    def action_answer(self, yes: bool) -> None:
        if isinstance(self.walk.node, Question):
            self.walk.answer(yes)
            self.refresh_node()

    def action_back(self) -> None:
        self.walk.back()
        self.refresh_node()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        match event.button.id:
            case "yes":
                self.action_answer(True)
            case "no":
                self.action_answer(False)
            case "back":
                self.action_back()
            case "continue":
                self.action_next_step()
            case "to-estimator":
                self.app.switch_mode("estimator")
