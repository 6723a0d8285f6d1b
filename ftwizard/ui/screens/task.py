"""Task: what kind of change, and how much data — sets the data-size expectations from the reference tables."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Input, Label, RadioButton, RadioSet, Static

from ftwizard.core.plan.decision import TASK_KINDS
from ftwizard.ui.screens.base import StepScreen


def expectation(kind_id: str, rows: int | None) -> str:
    k = TASK_KINDS[kind_id]
    text = (f"[b]{k.label}[/b]\nMethod: {k.method_hint}; LoRA rank {k.rank}. "
            f"Data: at least {k.min_examples:,} examples, {k.good_examples:,}+ is good.")
    if rows is None:
        return text
    if rows < k.min_examples:
        return text + f"\n[b $error]{rows:,} examples is below the minimum[/]: collect more, or expect weak results."
    if rows < k.good_examples:
        return text + f"\n[b $warning]{rows:,} examples is enough to start[/]; more, cleaner data helps most."
    return text + f"\n[b $success]{rows:,} examples is plenty[/] for this kind of change."


class TaskScreen(StepScreen):
    STEP = "task"
    AUTO_FOCUS = "#kind"

    def compose_body(self) -> ComposeResult:
        with VerticalScroll():
            yield Static("What kind of change do you want?", classes="title")
            with RadioSet(id="kind"):
                for k in TASK_KINDS.values():
                    yield RadioButton(k.label, id=f"kind-{k.id}", value=k.id == self.wizard.answers.task_kind)
            yield Label("Roughly how many examples do you have? (the Data step counts them)")
            rows = self.wizard.answers.rows
            yield Input(str(rows) if rows else "", placeholder="e.g. 1000", id="rows", type="integer")
            yield Static(id="expect", classes="card")

    def on_mount(self) -> None:
        self.update_expectation()

    def refresh_from_answers(self) -> None:
        ans = self.wizard.answers
        btn = self.query_one(f"#kind-{ans.task_kind}", RadioButton)
        if not btn.value:
            btn.value = True
        if ans.rows and self.query_one("#rows", Input).value != str(ans.rows):
            self.query_one("#rows", Input).value = str(ans.rows)
        self.update_expectation()

    def update_expectation(self) -> None:
        ans = self.wizard.answers
        self.query_one("#expect", Static).update(expectation(ans.task_kind, ans.rows))

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        if event.pressed.id:
            self.wizard.answers.task_kind = event.pressed.id.removeprefix("kind-")
            self.update_expectation()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "rows":
            try:
                self.wizard.answers.rows = max(0, int(event.value)) if event.value.strip() else None
            except ValueError:
                return
            self.update_expectation()
