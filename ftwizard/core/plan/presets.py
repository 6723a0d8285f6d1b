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
    """The preset key matching a key, its Hub id, or an alias (case-insensitive), or None. A Hub id of the
    same organisation whose name is an alias matches too (meta-llama/Llama-3.1-8B → llama-3.1-8b)."""
    want = _norm(name)
    org, _, base = want.rpartition("/")
    for key, entry in preset_entries().items():
        names = {_norm(n) for n in entry_names(key, entry)}
        if want in names:
            return key
        if org and base in names and _norm(str(entry["hub_id"])).split("/")[0] == org:
            return key
    return None


def matched_by_alias(name: str, key: str) -> bool:
    """True when `name` found preset `key` through an alias (another variant of the model, e.g. the base
    model of an Instruct preset), not its key or Hub id."""
    entry = preset_entries()[key]
    hub_id = str(entry["hub_id"])
    exact = {_norm(key), _norm(hub_id), _norm(hub_id.split("/")[-1])}
    return _norm(name) not in exact
