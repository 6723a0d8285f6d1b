"""The run directory: the contract between the app and the trainer (see DESIGN.md).

<run>/config.yaml     the whole RunConfig
<run>/events.jsonl    append-only, one JSON object per line, flushed per event
<run>/status.json     state (starting|running|stopping|stopped|done|failed), pid, times, last step, diagnosis
<run>/stdout.log      the trainer's output
<run>/checkpoints/    Trainer checkpoints;  <run>/adapter/ (or model/) the final weights
<run>/memory.json     preflight: measured peak vs estimate;  <run>/checks.json  after-training checks
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

STATES = ("starting", "running", "stopping", "stopped", "done", "failed")


@dataclass
class RunConfig:
    model: str = ""  # local folder or Hub id
    data: str = ""  # dataset path / Hub id, or a split folder (train.jsonl, validation.jsonl, test.jsonl)
    data_format: str | None = None
    trainer: str = "sft"  # sft | dpo
    method: str = "lora"  # full | lora | qlora | dora
    rank: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: str | list[str] = "all-linear"
    max_seq_length: int = 1024
    micro_batch: int = 4
    gradient_accumulation: int = 4
    learning_rate: float = 2e-4
    epochs: float = 3.0
    max_steps: int = -1
    warmup_ratio: float = 0.03
    lr_scheduler: str = "cosine"
    weight_decay: float = 0.01
    gradient_checkpointing: bool = False
    optimizer: str = "adamw_torch"
    precision: str = "auto"  # auto | bf16 | fp16 | fp32
    packing: bool = False
    assistant_only_loss: bool = True
    eval_steps: int = 50
    logging_steps: int = 5
    save_steps: int = 100
    save_total_limit: int = 3
    split: list[float] = field(default_factory=lambda: [0.8, 0.1, 0.1])
    seed: int = 42
    dpo_beta: float = 0.1
    dpo_loss_type: str = "sigmoid"
    engine: str = "auto"  # auto | ddp | fsdp | deepspeed
    num_gpus: int = 1
    trust_remote_code: bool = False
    preflight_steps: int = 2
    estimate_gib: float | None = None
    # test hooks (never set by the app): inject a fault to exercise the diagnosis path
    debug_inject_nan_at_step: int | None = None
    debug_sleep_per_step: float = 0.0
    debug_disk_full_at_step: int | None = None

    def to_yaml(self) -> str:
        return yaml.safe_dump(asdict(self), sort_keys=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown config keys: {', '.join(sorted(unknown))}")
        return cls(**d)

    @classmethod
    def load(cls, path: str | Path) -> RunConfig:
        return cls.from_dict(yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {})


class RunDir:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    config_path = property(lambda self: self.path / "config.yaml")
    events_path = property(lambda self: self.path / "events.jsonl")
    status_path = property(lambda self: self.path / "status.json")
    stdout_path = property(lambda self: self.path / "stdout.log")
    checkpoints = property(lambda self: self.path / "checkpoints")
    adapter = property(lambda self: self.path / "adapter")
    data_dir = property(lambda self: self.path / "data")
    memory_path = property(lambda self: self.path / "memory.json")
    checks_path = property(lambda self: self.path / "checks.json")

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
        st["updated"] = time.time()
        tmp = self.status_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(st, indent=2, default=str), encoding="utf-8")
        os.replace(tmp, self.status_path)
        return st

    # ---- events ----
    def append_event(self, event: dict[str, Any]) -> None:
        event.setdefault("time", time.time())
        line = json.dumps(event, default=str)
        with open(self.events_path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
            fh.flush()

    def read_events(self) -> list[dict[str, Any]]:
        out = []
        if self.events_path.exists():
            for line in self.events_path.read_text(encoding="utf-8").splitlines():
                try:
                    out.append(json.loads(line))
                except ValueError:
                    continue  # a line being written right now
        return out

    def last_checkpoint(self) -> Path | None:
        if not self.checkpoints.is_dir():
            return None
        cks = [p for p in self.checkpoints.glob("checkpoint-*") if p.is_dir()]
        return max(cks, key=lambda p: int(p.name.split("-")[-1])) if cks else None


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
        except FileNotFoundError:
            return []
        self.offset += len(chunk)
        data = self._partial + chunk
        lines = data.split(b"\n")
        self._partial = lines.pop()  # incomplete last line (no newline yet)
        out = []
        for line in lines:
            if line.strip():
                try:
                    out.append(json.loads(line))
                except ValueError:
                    continue
        return out
