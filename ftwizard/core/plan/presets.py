"""The raw entries of presets/models.yaml and name matching (no ModelFacts here, so both `model_facts`
and `catalog` can use it without importing each other)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import yaml

from ftwizard.core.resources import data_dir


@lru_cache(maxsize=1)
def preset_entries() -> dict[str, dict[str, Any]]:
    raw: dict[str, Any] = yaml.safe_load((data_dir("presets") / "models.yaml").read_text(encoding="utf-8"))
    return raw


def _norm(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def entry_names(key: str, entry: dict[str, Any]) -> list[str]:
    hub_id = str(entry["hub_id"])
    return [key, hub_id, hub_id.split("/")[-1], *(entry.get("aliases") or ())]


def find_entry(name: str) -> str | None:
    """The preset key matching a key, its Hub id, or an alias (case-insensitive), or None."""
    want = _norm(name)
    for key, entry in preset_entries().items():
        if want in {_norm(n) for n in entry_names(key, entry)}:
            return key
    return None
