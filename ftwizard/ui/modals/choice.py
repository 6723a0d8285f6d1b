"""A small question with a few answers, each a button and a key (quit with unsaved edits, continue where you
left off, fine-tune anyway). Dismisses with the chosen answer's id, or None on Escape; q quits the app
(`modals.base.Prompt`)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.events import Key
from textual.widgets import Button, Static

from ftwizard.ui.modals.base import Prompt


class ChoiceModal(Prompt):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="choice.cancel")]
    DEFAULT_CSS = """
    ChoiceModal { align: center middle; }
    ChoiceModal > Vertical { width: 72; max-width: 95%; height: auto; border: thick $primary; background: $surface;
                             padding: 1 2; }
    ChoiceModal Horizontal { height: auto; margin-top: 1; }
    ChoiceModal Button { margin-right: 1; }
    """

    def __init__(self, title: str, text: str, choices: list[tuple[str, str, str]]) -> None:
        """choices: (id, label, key) — the key answers without the mouse."""
        super().__init__()
        self.title_text, self.text, self.choices = title, text, choices

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.title_text, classes="title")
            yield Static(self.text)
            with Horizontal():
                for i, (cid, label, key) in enumerate(self.choices):
                    yield Button(f"{label} ({key})", id=f"choice-{cid}", variant="primary" if i == 0 else "default")

    def on_key(self, event: Key) -> None:
        for cid, _label, key in self.choices:
            if event.key == key:
                event.stop()
                self.dismiss(cid)
                return

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss((event.button.id or "").removeprefix("choice-") or None)

    def quit_answer(self) -> str | None:
        """In "Quit ftwizard?", q answers Quit; in any other question it is Escape, then the app's quit."""
        return "quit" if any(cid == "quit" for cid, _label, _key in self.choices) else None
