"""The run directory: the contract between the app and the trainer (see DESIGN.md).

<run>/config.yaml     the whole RunConfig
<run>/events.jsonl    append-only, one JSON object per line, flushed per event
<run>/status.json     state (starting|running|stopping|stopped|done|failed), pid, times, last step, diagnosis
<run>/stdout.log      the trainer's output
<run>/checkpoints/    Trainer checkpoints;  <run>/adapter/ (or model/) the final weights
<run>/memory.json     preflight: measured peak vs estimate;  <run>/checks.json  after-training checks
<run>/heartbeat.json  the trainer's pulse (stall detection);  <run>/fingerprint.json  what resume compares with
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from ftwizard.core.run.config import RunConfig
from ftwizard.core.run.events import STATES, STATUS_KEYS, parse_line


def _at(name: str) -> property:
    return property(lambda self: self.path / name)


class RunDir:
    """Every path of the run directory, named once. Other modules never spell a file name of the run directory."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    # in: written before the trainer starts
    config_path = _at("config.yaml")  # the RunConfig
    answers_path = _at("answers.yaml")  # the wizard's answers (app launches)
    accelerate_path = _at("accelerate.yaml")  # several GPUs: generated DDP/FSDP/DeepSpeed config
    launch_sh = _at("launch.sh")  # the same run without ftwizard
    # out: written by the trainer
    events_path = _at("events.jsonl")
    status_path = _at("status.json")
    stdout_path = _at("stdout.log")
    memory_path = _at("memory.json")  # preflight: measured vs predicted memory
    lock_path = _at("train.lock")  # the running trainer's pid (one trainer per run)
    heartbeat_path = _at("heartbeat.json")  # the trainer's pulse: every ~10 s and at each step (core/run/liveness.py)
    fingerprint_path = _at("fingerprint.json")  # the config and source data a run started with (resume checks it)
    checkpoints = _at("checkpoints")
    bad_checkpoints = _at("checkpoints-bad")  # incomplete checkpoints moved aside, never deleted
    adapter = _at("adapter")  # the result of an adapter run
    full_model = _at("model")  # the result of a full fine-tune
    data_dir = _at("data")  # train/validation/test.jsonl + split.json
    # after training
    checks_path = _at("checks.json")
    predictions_path = _at("predictions.jsonl")  # compare: every test prompt with base and tuned answers
    checklist_path = _at("checklist.json")
    merged = _at("merged")
    card_md = _at("RUN_CARD.md")
    card_json = _at("run_card.json")
    modelfile = _at("Modelfile")  # Ollama
    gguf_path = _at("model.gguf")  # llama.cpp export (the gguf check)

    @property
    def split_manifest(self) -> Path:
        return self.data_dir / "split.json"

    def split_file(self, split: str) -> Path:
        return self.data_dir / f"{split}.jsonl"

    def trl_config(self, trainer: str) -> Path:
        return self.path / f"trl_{trainer}.yaml"

    @property
    def result(self) -> Path:
        """The trained weights: the adapter if there is one, else the full model folder."""
        return self.adapter if self.adapter.exists() else self.full_model

    def has_result(self) -> bool:
        return self.adapter.exists() or self.full_model.exists()

    def create(self, cfg: RunConfig) -> RunDir:
        self.path.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(cfg.to_yaml(), encoding="utf-8")
        return self

    def config(self) -> RunConfig:
        return RunConfig.load(self.config_path)

    # ---- status (atomic replace, so a reader never sees half a file) ----
    def status(self) -> dict[str, Any]:
        try:
            return json.loads(self.status_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def write_status(self, **updates: Any) -> dict[str, Any]:
        st = self.status()
        st.update(updates)
        if "state" in updates and updates["state"] not in STATES:
            raise ValueError(f"bad state {updates['state']}")
        if unknown := set(updates) - STATUS_KEYS:  # the schema is events.Status; a new key is added there first
            raise ValueError(f"status.json has no field {sorted(unknown)}")
        st["updated"] = time.time()
        tmp = self.status_path.with_name(f"{self.status_path.name}.{os.getpid()}.tmp")  # one per writer
        try:
            tmp.write_text(json.dumps(st, indent=2, default=str), encoding="utf-8")
            os.replace(tmp, self.status_path)
        except OSError:  # disk full, read-only …: the last good status.json stays, no half-written tmp is left
            try:
                tmp.unlink()
            except OSError:
                pass
            raise
        return st

    def try_write_status(self, **updates: Any) -> dict[str, Any]:
        """write_status that never raises on a full or read-only disk: the last good status.json stays and the
        returned dict holds the update (so a reader can still show it)."""
        try:
            return self.write_status(**updates)
        except OSError:
            pass
        st = self.status()
        st.update(updates)
        st["updated"] = time.time()
        if self._rewrite_in_place(st):
            return st
        st["unsaved"] = True
        return st

    def _rewrite_in_place(self, st: dict[str, Any]) -> bool:
        """Last resort on a full disk: overwrite status.json inside the blocks it already has (a compact status is
        well under one 4 KiB block, so no new block is needed). Not atomic — used only when the atomic write failed."""
        small = dict(st)
        if isinstance(small.get("diagnosis"), dict):  # the error's tail can wait for stdout.log
            small["diagnosis"] = {**small["diagnosis"], "detail": str(small["diagnosis"].get("detail", ""))[-300:]}
        data = json.dumps(small, default=str, separators=(",", ":")).encode("utf-8")
        try:
            old_size = self.status_path.stat().st_size
            if len(data) > max(old_size, 4096 - 64):
                return False
            with open(self.status_path, "r+b") as fh:
                fh.write(data)
                fh.truncate(len(data))
            return True
        except OSError:
            return False

    # ---- events ----
    def append_event(self, event: dict[str, Any]) -> None:
        """One line, flushed. A torn last line (a trainer killed mid-write) is closed first with a newline, so this
        event never glues onto it (readers skip the torn line; this one stays whole)."""
        event.setdefault("time", time.time())
        data = (json.dumps(event, default=str) + "\n").encode("utf-8")
        with open(self.events_path, "a+b") as fh:
            end = fh.seek(0, os.SEEK_END)
            if end:
                fh.seek(end - 1)
                if fh.read(1) != b"\n":
                    data = b"\n" + data
            try:
                fh.write(data)
                fh.flush()
            except OSError:  # disk full mid-line: cut the half line, so the next event starts on a fresh line
                try:
                    fh.truncate(end)
                except OSError:
                    pass
                raise

    def read_events(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        try:
            data = self.events_path.read_bytes()
        except OSError:
            return out
        for line in data.split(b"\n"):
            ev = parse_line(line) if line.strip() else None
            if ev is not None:  # else: a line being written right now, or one torn by a kill (even mid-character)
                out.append(ev)
        return out

    def last_checkpoint(self) -> Path | None:
        """The highest-numbered checkpoint folder (the trainer validates it before resuming: train/checkpoints.py)."""
        if not self.checkpoints.is_dir():
            return None
        cks = [p for p in self.checkpoints.glob("checkpoint-*") if p.is_dir() and p.name.split("-")[-1].isdigit()]
        return max(cks, key=lambda p: int(p.name.split("-")[-1])) if cks else None

    def try_append_event(self, event: dict[str, Any]) -> bool:
        """append_event that reports a full disk instead of raising."""
        try:
            self.append_event(event)
            return True
        except OSError:
            return False
