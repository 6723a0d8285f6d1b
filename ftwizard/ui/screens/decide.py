"""Welcome / decide: the decision tree as questions. A "stop here" outcome (prompting, RAG, revisit the prompt)
is an outcome page of its own: what to try, a short how-to, and ways on — change an answer, or fine-tune
anyway. A fine-tuning outcome sets the task kind for the next step."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Static

from ftwizard.core.plan.decision import Outcome, Question, Walk
from ftwizard.ui.screens.base import StepScreen

# A link-free how-to for each outcome that is not fine-tuning: the first concrete steps.
HOWTO: dict[str, list[str]] = {
    "prompting": [
        "Collect 20–50 real inputs and write the answer you want for each (this becomes your test set).",
        "Write a system prompt: the role, the output format spelled out, and what to do when unsure.",
        "Add 3–5 input → answer examples to the prompt; vary them the way real inputs vary.",
        "Score the outputs on your test set; change one thing at a time and keep the best prompt.",
    ],
    "rag": [
        "Split your documents into passages of a few hundred words, with their titles.",
        "Embed them with a sentence-embedding model and store the vectors (a local index is enough to start).",
        "For each question, retrieve the top 3–5 passages and put them in the prompt with 'answer from these'.",
        "Check answers against the sources on 20–50 real questions before building more.",
    ],
    "revisit": [
        "Write down 20 inputs where the model fails today and the answer you expected.",
        "Look for a pattern: missing instructions, missing context, or an unclear task.",
        "Fix the prompt for that pattern, re-run the 20 inputs, and repeat.",
    ],
}


class DecideScreen(StepScreen):
    STEP = "decide"
    BINDINGS = [Binding("y", "answer(True)", "Yes", id="decide.yes"), Binding("n", "answer(False)", "No", id="decide.no"),
                Binding("b", "back", "Undo", id="decide.back"),
                Binding("f", "anyway", "Fine-tune anyway", id="decide.anyway", show=False)]

    def __init__(self) -> None:
        super().__init__()
        self.walk = Walk()

    def compose_body(self) -> ComposeResult:
        with VerticalScroll():
            yield Static("Should you fine-tune? A few yes/no questions first (y / n, b to go back).", classes="muted")
            yield Static(id="question", classes="title")
            yield Static(id="why", classes="why")
            with Horizontal(classes="row", id="decide-buttons"):
                yield Button("Yes (y)", id="yes", variant="success")
                yield Button("No (n)", id="no", variant="error")
                yield Button("Undo (b)", id="back")  # b takes back the last answer; esc is the previous screen
                yield Button("Continue → (ctrl+n)", id="continue", variant="primary")
                yield Button("Fine-tune anyway (f)", id="anyway")
                yield Button("Estimate memory (e)", id="to-estimator")
            yield Static(id="advice", classes="advice")

    def on_mount(self) -> None:
        self.replay()
        self.refresh_node()

    def refresh_from_answers(self) -> None:
        if dict(self.walk.answers) != {k: v for k, v in self.wizard.answers.decide.items() if k in self._qids()}:
            self.replay()
            self.refresh_node()

    @staticmethod
    def _qids() -> set[str]:
        from ftwizard.core.plan.decision import NODES

        return {k for k, n in NODES.items() if isinstance(n, Question)}

    def replay(self) -> None:
        """Walk the saved answers again (a preset or the autosave brings you back to the same node)."""
        self.walk = Walk()
        for qid, yes in self.wizard.answers.decide.items():
            if isinstance(self.walk.node, Question) and self.walk.node.id == qid and isinstance(yes, bool):
                self.walk.answer(yes)

    def refresh_node(self) -> None:
        self.refresh_bindings()
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
        self.query_one("#anyway").display = isinstance(node, Outcome) and not ft
        if isinstance(node, Question):
            q.update(node.text)
            why.update(node.why)
            adv.update("")
        else:
            q.update(f"→ {node.title}")
            why.update("")
            text = "[b]What to try[/b]\n" + "\n".join(f"• {a}" for a in node.advice)
            if ft:
                text += "\n\nNext: describe the task and your data (ctrl+n)."
            else:
                steps = HOWTO.get(node.id, [])
                if steps:
                    text += "\n\n[b]How to start[/b]\n" + "\n".join(f"{i}. {x}" for i, x in enumerate(steps, 1))
                text = ("Fine-tuning is not the first tool here. b changes an answer; f fine-tunes anyway "
                        "(keep your best prompt as the baseline to beat).\n\n" + text)
            adv.update(text)
        anyway = {"fine_tune_anyway": True} if self.wizard.answers.decide.get("fine_tune_anyway") else {}
        self.wizard.answers.decide = {**self.walk.answers, **(anyway if isinstance(node, Outcome) else {})}
        if isinstance(node, Outcome) and node.fine_tune:
            if node.task_kind:
                self.wizard.answers.task_kind = node.task_kind

    def can_leave(self) -> str | None:
        node = self.walk.node
        if isinstance(node, Outcome) and not node.fine_tune:
            return "The answers point away from fine-tuning: b changes an answer, f fine-tunes anyway."
        if isinstance(node, Question):
            self.notify("Skipping the remaining questions.", timeout=2)
        return None

    def action_anyway(self) -> None:
        """Past a "stop here" outcome: go on to fine-tuning, on the person's own judgement."""
        node = self.walk.node
        if not isinstance(node, Outcome) or node.fine_tune:
            return
        self.wizard.answers.decide = {**self.walk.answers, "fine_tune_anyway": True}
        self.wizard.switch_mode("task")

    def action_answer(self, yes: bool) -> None:
        if isinstance(self.walk.node, Question):
            self.walk.answer(yes)
            self.refresh_node()

    def action_back(self) -> None:
        self.walk.back()
        self.refresh_node()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The footer shows only the keys that do something here: Undo once a question was answered, Yes/No on a
        question (not on the result card)."""
        if action == "back" and not self.walk.answers:
            return False
        if action == "answer" and not isinstance(self.walk.node, Question):
            return False
        return super().check_action(action, parameters)

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
            case "anyway":
                self.action_anyway()
            case "to-estimator":
                self.app.switch_mode("estimator")
