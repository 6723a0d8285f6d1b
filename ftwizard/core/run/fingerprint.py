"""What a run started with, so `--resume` is honest about edits: `<run>/fingerprint.json` holds the config as it
ran and a fingerprint of the source data (size, mtime, SHA-256 of the first MiB of each file).

On `ftwizard train --resume RUN` the config.yaml is compared with it:
- `RESUMABLE` fields may change: they are applied for real (the trainer resets the checkpoint's logging/eval/save
  intervals and rescales the restored optimizer and LR schedule to the new learning rate) and recorded as a
  `config_changed` event, old → new;
- `NO_EFFECT` fields change nothing the model learns (test hooks, planner notes, the Hub upload, the preflight
  that a resume skips, the reward time limit): they change silently;
- `data` may point elsewhere (the dataset moved): a warning says which data the resume reads;
- any other change is refused in one line naming the field(s): start a new run for it.
A changed source data file is a warning event: the split made at the start (`<run>/data`) is what trains.
Pure: no torch.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftwizard.core.run.config import RunConfig
from ftwizard.core.run.layout import RunDir

RESUMABLE = ("learning_rate", "max_steps", "epochs", "save_steps", "eval_steps", "logging_steps", "save_total_limit")
NO_EFFECT = ("debug_inject_nan_at_step", "debug_sleep_per_step", "debug_disk_full_at_step", "estimate_gib",
             "estimate_hours", "push_to_hub", "hub_model_id", "hub_private", "preflight_steps", "auto_fit",
             "grpo_reward_timeout", "model_gguf")
HEAD_BYTES = 1 << 20
MAX_FILES = 50


def _file_print(path: Path) -> dict[str, Any]:
    st = path.stat()
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        h.update(fh.read(HEAD_BYTES))
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256_head": h.hexdigest()}


def data_print(data: str) -> dict[str, Any]:
    """The source data's fingerprint: a local file, the files of a local folder (up to 50), or a Hub id as is."""
    path = Path(data).expanduser()
    try:
        if path.is_file():
            return {"path": str(path.resolve()), "files": {path.name: _file_print(path)}}
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))[:MAX_FILES]
            return {"path": str(path.resolve()), "files": {p.name: _file_print(p) for p in files}}
    except OSError as exc:
        return {"path": str(path), "error": str(exc)}
    return {"id": data}


def write_fingerprint(rd: RunDir, cfg: RunConfig | None = None) -> None:
    """Record the config (config.yaml as it is, unless `cfg` is given) and the source data."""
    cfg = cfg or rd.config()
    fp = {"config": cfg.to_dict(), "data": data_print(cfg.data), "written": time.time()}
    tmp = rd.fingerprint_path.with_name(rd.fingerprint_path.name + ".tmp")
    tmp.write_text(json.dumps(fp, indent=2, default=str), encoding="utf-8")
    tmp.replace(rd.fingerprint_path)


def read_fingerprint(rd: RunDir) -> dict[str, Any] | None:
    try:
        fp = json.loads(rd.fingerprint_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return fp if isinstance(fp, dict) and isinstance(fp.get("config"), dict) else None


class ConfigChanged(ValueError):
    """A config edit a resume cannot honour; `str()` is the one line (the diagnosis reads `ConfigChanged:`)."""


@dataclass
class ResumeChanges:
    applied: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # RESUMABLE: old → new
    refused: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # the data changed or moved
    no_fingerprint: bool = False

    def refusal(self) -> str | None:
        """One line naming the refused field(s), or None."""
        if not self.refused:
            return None
        names = list(self.refused)
        first = names[0]
        old, new = self.refused[first]
        more = f" (and {', '.join(names[1:])})" if len(names) > 1 else ""
        return (f"{first} changed since the run started ({_short(old)} → {_short(new)}){more}: start a new run "
                f"(on --resume only {', '.join(RESUMABLE)} can change)")


def _short(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "…"


def compare(rd: RunDir, cfg: RunConfig | None = None) -> ResumeChanges:
    """config.yaml (or `cfg`) against fingerprint.json: what a resume applies, refuses and warns about."""
    cfg = cfg or rd.config()
    out = ResumeChanges()
    fp = read_fingerprint(rd)
    if fp is None:
        out.no_fingerprint = True
        return out
    old, new = fp["config"], cfg.to_dict()
    for key, value in new.items():
        if key not in old or old[key] == value:
            continue
        if key in RESUMABLE:
            out.applied[key] = (old[key], value)
        elif key == "data":
            out.warnings.append(f"data: now {value} (was {old[key]}); " + _data_used(rd, value))
        elif key not in NO_EFFECT:
            out.refused[key] = (old[key], value)
    if old.get("data") == new.get("data"):
        before, now = fp.get("data") or {}, data_print(new["data"])
        if before.get("files") is not None and now.get("files") != before.get("files"):
            out.warnings.append(f"the dataset {new['data']} changed since the run started; " + _data_used(rd, new["data"]))
    return out


def _data_used(rd: RunDir, data: str) -> str:
    src = Path(data).expanduser()
    if src.is_dir() and (src / "train.jsonl").exists():
        return "it is a split folder, read as it is now: the steps after the checkpoint train on the new files"
    if rd.split_file("train").exists():
        return f"this resume trains on the split made when the run started ({rd.data_dir}), not on the new file"
    return "no split was made yet, so this resume splits the data as it is now"
