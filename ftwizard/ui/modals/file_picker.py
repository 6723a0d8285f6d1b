"""A file picker: a directory tree plus a path box; returns the chosen path (or None)."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, DirectoryTree, Input, Static

from ftwizard.ui.modals.base import Prompt


class FilePicker(Prompt):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="picker.cancel")]
    DEFAULT_CSS = """
    FilePicker { align: center middle; }
    FilePicker > Vertical { width: 90%; height: 85%; border: thick $primary; background: $surface; padding: 0 1; }
    FilePicker DirectoryTree { height: 1fr; }
    FilePicker Horizontal { height: auto; }
    """

    def __init__(self, start: str | Path = ".") -> None:
        super().__init__()
        self.start = Path(start).expanduser()

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("Pick a dataset file or folder (Enter on a file picks it; or type a path below)", classes="title")
            yield DirectoryTree(str(self.start if self.start.is_dir() else self.start.parent or "."), id="tree")
            yield Input(placeholder="path to a .jsonl / .json / .csv / .parquet / .txt file or folder", id="picked")
            with Horizontal():
                yield Button("Use this", id="use", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_directory_tree_file_selected(self, event: DirectoryTree.FileSelected) -> None:
        self.dismiss(str(event.path))

    def on_directory_tree_directory_selected(self, event: DirectoryTree.DirectorySelected) -> None:
        self.query_one("#picked", Input).value = str(event.path)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.value.strip():
            self.dismiss(event.value.strip())

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "use":
            value = self.query_one("#picked", Input).value.strip()
            self.dismiss(value or None)
        else:
            self.dismiss(None)
