"""Task: what kind of change, and how much data — sets the data-size expectations from the reference tables."""

from __future__ import annotations

from rich.markup import escape
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Input, Label, RadioButton, RadioSet, Static

from ftwizard.core.plan.decision import TASK_KINDS
from ftwizard.ui.screens.base import StepScreen


def parse_count(text: str) -> int | None:
    """'1500', '1,500', '1.5k', '2K', '1m' → a count; '' → None; ValueError in words otherwise."""
    t = text.strip().lower().replace(",", "").replace("_", "").replace(" ", "")
    if not t:
        return None
    mult = {"k": 1_000, "m": 1_000_000}.get(t[-1], 1)
    num = t[:-1] if mult > 1 else t
    try:
        value = float(num)
    except ValueError:
        raise ValueError(f"'{text}' is not a number (e.g. 800, 1500 or 1.5k)") from None
    if value < 0 or value != value:
        raise ValueError("the number of examples cannot be negative")
    return round(value * mult)


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
            yield Input(str(rows) if rows else "", placeholder="e.g. 800, 1500 or 1.5k", id="rows", compact=True)
            yield Static(id="expect", classes="card")

    def on_mount(self) -> None:
        self.update_expectation()

    def refresh_from_answers(self) -> None:
        ans = self.wizard.answers
        btn = self.query_one(f"#kind-{ans.task_kind}", RadioButton)
        if not btn.value:
            btn.value = True
        inp = self.query_one("#rows", Input)
        try:
            shown = parse_count(inp.value)
        except ValueError:
            shown = None
        if ans.rows and shown != ans.rows:
            inp.value = str(ans.rows)
        self.update_expectation()

    def update_expectation(self) -> None:
        ans = self.wizard.answers
        self.query_one("#expect", Static).update(expectation(ans.task_kind, ans.rows))

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        if event.pressed.id:
            self.wizard.answers.task_kind = event.pressed.id.removeprefix("kind-")
            self.update_expectation()

    rows_error: str | None = None  # the rows box holds text that is not a count: Next waits for a fix

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "rows":
            try:
                self.wizard.answers.rows = parse_count(event.value)
            except ValueError as exc:
                self.rows_error = str(exc)
                self.query_one("#expect", Static).update(f"[b $error]{escape(str(exc))}[/]")
                return
            self.rows_error = None
            self.update_expectation()

    def can_leave(self) -> str | None:
        if self.rows_error:
            return f"Examples: {self.rows_error} — type a number (or clear the box)."
        return None
