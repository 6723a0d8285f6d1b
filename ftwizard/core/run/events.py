"""The event and status schemas of the run directory — written by the trainer, read by the monitor, the CLI,
the runs list and the run card. The state list lives here and nowhere else.

`events.jsonl` is append-only, one JSON object per line, flushed per event; `status.json` is replaced atomically.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal, TypedDict, get_args

State = Literal["starting", "running", "stopping", "stopped", "done", "failed"]
STATES: tuple[str, ...] = get_args(State)
TERMINAL: tuple[str, ...] = ("stopped", "done", "failed")
ACTIVE: tuple[str, ...] = ("starting", "running", "stopping")

EventType = Literal["train_begin", "preflight", "log", "eval", "checkpoint", "warning", "note", "resume", "done",
                    "failed", "memory_fix", "checkpoint_skipped", "config_changed", "time"]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)


class DiagnosisDict(TypedDict, total=False):
    kind: str  # oom | nan | disk_full | bad_model | bad_data | remote_code | killed | crash | …
    summary: str  # what happened, in plain words
    fix: str  # what to try
    detail: str  # the tail of the error text


class Status(TypedDict, total=False):
    """`<run>/status.json`."""

    state: State
    pid: int | None
    pid_started: float | None  # the process' start time (identity check before signalling)
    host: str  # the machine that runs it (a synced copy elsewhere is not started twice)
    command: list[str]
    resumed: bool
    started: float
    ended: float | None
    updated: float
    last_step: int
    max_steps: int
    stop_signal: str | None
    exit_code: int | None
    diagnosis: DiagnosisDict | None
    unsaved: bool  # only in memory: the disk refused the last write


STATUS_KEYS: frozenset[str] = frozenset(Status.__annotations__)


class Event(TypedDict, total=False):
    """One line of `<run>/events.jsonl`. `type` and `time` are always there; the rest depends on the type:
    log/eval carry the Trainer's log keys (`loss`, `learning_rate`, `grad_norm`, `eval_loss`, trainer metrics …)."""

    type: EventType
    time: float
    step: int
    epoch: float
    max_steps: int
    elapsed_s: float
    tokens_per_s: float
    loss: float
    eval_loss: float
    learning_rate: float
    grad_norm: float
    kind: str
    message: str
    fix: str
    path: str
    checkpoint: str | None
    from_step: int  # resume: the log restarts here; readers drop earlier values logged after this step
    changes: dict[str, list[Any]]  # config_changed: field → [old, new], applied from the resume on


def parse_line(line: str | bytes) -> dict[str, Any] | None:
    """One event from one line, or None for a partial/garbled line."""
    try:
        ev = json.loads(line)
    except ValueError:
        return None
    return ev if isinstance(ev, dict) else None


class EventTail:
    """Incremental reader of events.jsonl: each poll reads only the new bytes (never the whole file)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.offset = 0
        self._partial = b""

    def poll(self, max_bytes: int = 8 << 20) -> list[dict[str, Any]]:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                chunk = fh.read(max_bytes)
        except OSError:
            return []
        self.offset += len(chunk)
        data = self._partial + chunk
        lines = data.split(b"\n")
        self._partial = lines.pop()  # incomplete last line (no newline yet)
        return [ev for line in lines if line.strip() and (ev := parse_line(line)) is not None]
