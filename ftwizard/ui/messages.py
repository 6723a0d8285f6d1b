"""Messages that worker threads post to the App, so App state changes only on the main thread."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.message import Message


class RunEvents(Message):
    """New events read from a run's events.jsonl (a batch; never replaced, or events would be lost)."""

    def __init__(self, run: Path, events: list[dict[str, Any]]) -> None:
        super().__init__()
        self.run, self.events = run, events


class RunStatusChanged(Message):
    """The run's status.json (reconciled with its process) changed; only the newest one matters."""

    def __init__(self, run: Path, status: dict[str, Any]) -> None:
        super().__init__()
        self.run, self.status = run, status

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RunStatusChanged) and message.run == self.run


class DemoReady(Message):
    """The demo run directory was built (in a subprocess) and can be launched."""

    def __init__(self, run: Path) -> None:
        super().__init__()
        self.run = run
