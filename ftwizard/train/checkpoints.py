"""Which checkpoint to resume from: the newest *complete* one.

A checkpoint written while the process was killed or the disk filled up can be partial: no `trainer_state.json`
(the Trainer writes it last), truncated weights, a truncated optimizer file. Resuming from it fails for good, so
each candidate is validated first (pure file checks, no torch: the safetensors header is parsed by hand, torch's
zip files by their central directory). A bad one is moved to `<run>/checkpoints-bad/` (never deleted) and
the next older one is tried; every skip is an event that says which and why.
"""

from __future__ import annotations

import json
import struct
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ftwizard.core.run.layout import RunDir

WEIGHT_FILES = ("adapter_model.safetensors", "model.safetensors", "adapter_model.bin", "pytorch_model.bin")
INDEX_FILES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")
TORCH_ZIPS = ("optimizer.pt", "scheduler.pt", "rng_state.pth", "scaler.pt")


def step_of(path: Path) -> int:
    try:
        return int(path.name.rsplit("-", 1)[-1])
    except ValueError:
        return -1


def safetensors_problem(path: Path) -> str | None:
    """None if `path` has a readable safetensors header whose tensors all fit in the file; else what is wrong."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                return f"{path.name} is truncated ({size} bytes)"
            (n,) = struct.unpack("<Q", head)
            if n <= 0 or 8 + n > size:
                return f"{path.name} is truncated (header of {n} bytes, file of {size})"
            header = json.loads(fh.read(n))
    except OSError as exc:
        return f"{path.name} cannot be read ({exc.strerror or exc})"
    except (ValueError, UnicodeDecodeError):
        return f"{path.name} has a corrupt header"
    if not isinstance(header, dict):
        return f"{path.name} has a corrupt header"
    end = 0
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        try:
            end = max(end, int(meta["data_offsets"][1]))
        except (KeyError, TypeError, ValueError, IndexError):
            return f"{path.name} has a corrupt header entry ({name})"
    if 8 + n + end > size:
        return f"{path.name} is truncated ({size} of {8 + n + end} bytes)"
    return None


def _zip_problem(path: Path) -> str | None:
    try:
        with zipfile.ZipFile(path) as zf:
            zf.infolist()
    except (OSError, zipfile.BadZipFile, ValueError) as exc:
        return f"{path.name} is truncated or corrupt ({type(exc).__name__})"
    return None


def checkpoint_problem(ck: Path) -> str | None:
    """Why `ck` cannot be resumed from, or None if it is complete."""
    state = ck / "trainer_state.json"
    if not state.is_file():
        return "trainer_state.json is missing (the save did not finish)"
    try:
        st = json.loads(state.read_text(encoding="utf-8"))
        if not isinstance(st, dict) or "global_step" not in st:
            return "trainer_state.json has no global_step"
    except (OSError, ValueError, UnicodeDecodeError):
        return "trainer_state.json is not valid JSON (truncated)"
    weights = [ck / f for f in WEIGHT_FILES if (ck / f).is_file()]
    indexes = [ck / f for f in INDEX_FILES if (ck / f).is_file()]
    if not weights and not indexes:
        return "no weights file (adapter_model.safetensors / model.safetensors)"
    for idx in indexes:
        try:
            shards = set(json.loads(idx.read_text(encoding="utf-8"))["weight_map"].values())
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return f"{idx.name} is not valid JSON"
        for shard in sorted(shards):
            if not (ck / shard).is_file():
                return f"{shard} is missing"
            if shard.endswith(".safetensors") and (p := safetensors_problem(ck / shard)):
                return p
    for w in weights:
        p = safetensors_problem(w) if w.suffix == ".safetensors" else _zip_problem(w)
        if p:
            return p
    for name in TORCH_ZIPS:
        if (ck / name).is_file() and (p := _zip_problem(ck / name)):
            return p
    return None


def candidates(rd: RunDir) -> list[Path]:
    """checkpoint-N folders, newest first."""
    if not rd.checkpoints.is_dir():
        return []
    cks = [p for p in rd.checkpoints.glob("checkpoint-*") if p.is_dir() and step_of(p) >= 0]
    return sorted(cks, key=step_of, reverse=True)


def move_aside(rd: RunDir, ck: Path) -> Path:
    """Move a bad checkpoint to <run>/checkpoints-bad/ (a fresh name if one is there already)."""
    rd.bad_checkpoints.mkdir(parents=True, exist_ok=True)
    dest = rd.bad_checkpoints / ck.name
    if dest.exists():
        dest = rd.bad_checkpoints / f"{ck.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    ck.rename(dest)
    return dest


def choose_checkpoint(rd: RunDir, emit: Callable[[dict[str, Any]], None] | None = None) -> Path | None:
    """The newest complete checkpoint; bad newer ones are moved aside, each with a `checkpoint_skipped` event."""
    for ck in candidates(rd):
        problem = checkpoint_problem(ck)
        if problem is None:
            return ck
        try:
            moved: Path | None = move_aside(rd, ck)
        except OSError:
            moved = None
        if emit:
            emit({"type": "checkpoint_skipped", "checkpoint": str(ck), "step": step_of(ck), "message": problem,
                  "path": str(moved) if moved else None})
        print(f"skipped {ck.name}: {problem}" + (f" (moved to {moved})" if moved else ""), flush=True)
    return None

