"""Welcome / decide: the decision tree as questions; outcomes end with advice and a way back."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Static

from ftwizard.core.decision import Outcome, Question, Walk


class DecideScreen(Screen[None]):
    BINDINGS = [Binding("y", "answer(True)", "Yes", id="decide.yes"), Binding("n", "answer(False)", "No", id="decide.no"),
                Binding("b", "back", "Back", id="decide.back")]

    def __init__(self) -> None:
        super().__init__()
        self.walk = Walk()

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll():
            yield Static("Should you fine-tune? Answer a few questions.", classes="muted")
            yield Static(id="question", classes="title")
            yield Static(id="why", classes="why")
            yield Static(id="advice", classes="advice")
            with Horizontal(classes="row"):
                yield Button("Yes (y)", id="yes", variant="success")
                yield Button("No (n)", id="no", variant="error")
                yield Button("Back (b)", id="back")
                yield Button("Estimate memory (e)", id="to-estimator", variant="primary")
        yield Footer()

    def on_mount(self) -> None:
        self.refresh_node()

    def refresh_node(self) -> None:
        node = self.walk.node
        q = self.query_one("#question", Static)
        why = self.query_one("#why", Static)
        adv = self.query_one("#advice", Static)
        is_q = isinstance(node, Question)
        self.query_one("#yes").display = is_q
        self.query_one("#no").display = is_q
        self.query_one("#to-estimator").display = isinstance(node, Outcome) and node.fine_tune
        if isinstance(node, Question):
            q.update(node.text)
            why.update(node.why)
            adv.update("")
        else:
            q.update(f"→ {node.title}")
            why.update("")
            adv.update("\n".join(f"• {a}" for a in node.advice) +
                       ("\n\nNext: check what fits your GPU (press e)." if node.fine_tune else
                        "\n\nPress b to go back and change an answer."))

    def action_answer(self, yes: bool) -> None:
        if isinstance(self.walk.node, Question):
            self.walk.answer(yes)
            self.refresh_node()

    def action_back(self) -> None:
        self.walk.back()
        self.refresh_node()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "yes":
            self.action_answer(True)
        elif event.button.id == "no":
            self.action_answer(False)
        elif event.button.id == "back":
            self.action_back()
        elif event.button.id == "to-estimator":
            self.app.switch_mode("estimator")
