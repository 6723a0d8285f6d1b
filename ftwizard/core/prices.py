"""The price and spec tables (pure): rented GPUs (peak TFLOPS, memory, USD/hour) and the fine-tuning APIs' prices,
from the package's presets merged with the user's `~/.config/ftwizard/prices.yaml`. At the bottom of core: the
planner's cost and time (core/plan) and the API export's cost (core/data) read them."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from ftwizard.core.resources import data_dir
from ftwizard.core.yamlsafe import load_yaml


def user_prices_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "ftwizard" / "prices.yaml"


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


@lru_cache(maxsize=4)
def _load(user_path: str) -> dict[str, Any]:
    gpu = yaml.safe_load((data_dir("presets") / "gpu_prices.yaml").read_text(encoding="utf-8"))
    api = yaml.safe_load((data_dir("presets") / "api_prices.yaml").read_text(encoding="utf-8"))
    tables: dict[str, Any] = {**gpu, "api": api["api"], "api_date": api["date"], "gpu_date": gpu["date"],
                              "user_file": None}
    p = Path(user_path)
    if p.is_file():
        user = load_yaml(p.read_text(encoding="utf-8")) or {}
        if not isinstance(user, dict):
            raise ValueError(f"{p}: expected a YAML mapping like presets/gpu_prices.yaml")
        tables = _merge(tables, user)
        tables["user_file"] = str(p)
    return tables


def price_tables(user_path: str | Path | None = None) -> dict[str, Any]:
    """The merged price/spec tables (package data + the user's overrides)."""
    return _load(str(user_path or user_prices_path()))
