"""A run config as this machine will run it: read a config.yaml or a TRL CLI config (saying what each TRL key
became), then check what the machine must have — trackers and DeepSpeed installed, the user's accelerate/DeepSpeed
file and `init_from` present (made absolute, since the trainer runs elsewhere; `init_from` resolved to the adapter or
model it names). Used by `ftwizard train` (and `--check`) and by the trainer before the model loads; not on every
load, so an old run stays readable on another machine.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import yaml

from ftwizard.core.run.config import ConfigError, RunConfig, load_yaml
from ftwizard.core.run.layout import RunDir
from ftwizard.core.run.trl_import import TRACKERS, from_trl, looks_like_trl


def _need(ok: bool, name: str, value: object, allowed: str) -> None:
    if not ok:
        raise ConfigError(name, value, allowed)


def check_environment(c: RunConfig) -> RunConfig:
    """What this machine must have for the run: trackers and DeepSpeed installed, the accelerate/DeepSpeed config
    and `init_from` present (made absolute, since the trainer runs elsewhere). Run by `train --check`, before a
    run is created and in the trainer before the model loads — not on every load, so an old run stays readable."""
    for name in c.report_to:
        _need(importlib.util.find_spec(TRACKERS[name]) is not None, "report_to", name,
              f"{name} is not installed: pip install {TRACKERS[name]}")
    for key in ("accelerate_config", "deepspeed_config", "init_from"):
        value = getattr(c, key)
        if value:
            path = Path(value).expanduser()
            _need(path.exists(), key, value, "an existing file or folder (check the path)")
            setattr(c, key, str(path.resolve()))
    wants_ds = bool(c.deepspeed_config) or (c.num_gpus > 1 and c.engine in ("deepspeed", "zero2", "zero3"))
    _need(not wants_ds or importlib.util.find_spec("deepspeed") is not None, "engine",
          "deepspeed" if c.deepspeed_config else c.engine, "DeepSpeed is not installed: pip install deepspeed")
    if c.init_from:
        _resolve_init(c)
    return c


def _resolve_init(c: RunConfig) -> None:
    """`init_from` → where the run starts: a finished run's model/ (or a model folder) becomes `model`; a run's
    adapter/ (or an adapter folder) keeps training, on its base (`model` when empty, from adapter_config.json)."""
    path = Path(c.init_from or "")
    rd = RunDir(path)
    if rd.config_path.exists():
        _need(rd.has_result(), "init_from", c.init_from, "a run that has finished (it has no adapter/ or model/ yet)")
        path = rd.result
    if (path / "adapter_config.json").exists():
        base = json.loads((path / "adapter_config.json").read_text(encoding="utf-8")).get("base_model_name_or_path")
        c.model = c.model or base or ""
    elif (path / "config.json").exists():
        c.model = str(path.resolve())
    else:
        raise ConfigError("init_from", c.init_from, "a finished run, an adapter folder or a model folder")
    c.init_from = str(path.resolve())


def load_any(path: str | Path) -> tuple[RunConfig, list[str] | None]:
    """(RunConfig, what each TRL key became — None for an ftwizard config.yaml) from a config.yaml or a TRL CLI
    config. ConfigError / ValueError in one line, like `RunConfig.load`."""
    try:
        raw = load_yaml(Path(path).read_text(encoding="utf-8"))
    except yaml.YAMLError:
        return RunConfig.load(path), None  # its error names the line
    if not looks_like_trl(raw):
        return RunConfig.load(path), None
    fields, lines = from_trl(raw, path)
    return RunConfig.from_dict(fields), lines
