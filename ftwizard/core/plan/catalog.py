"""The offline catalog of popular models (presets/models.yaml)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

import yaml

from ftwizard.core.plan.model_facts import ModelFacts, facts_from_config
from ftwizard.core.resources import data_dir


@dataclass(frozen=True)
class Preset:
    key: str
    hub_id: str
    aliases: tuple[str, ...]
    published_params_b: float
    facts: ModelFacts


def _norm(name: str) -> str:
    return name.strip().lower().replace("_", "-")


@lru_cache(maxsize=1)
def load_catalog() -> dict[str, Preset]:
    raw: dict[str, Any] = yaml.safe_load((data_dir("presets") / "models.yaml").read_text(encoding="utf-8"))
    out: dict[str, Preset] = {}
    for key, entry in raw.items():
        facts = facts_from_config(entry["config"], name=entry["hub_id"], source=f"preset: {key}")
        facts = replace(facts, has_chat_template=entry.get("chat_template"))
        out[key] = Preset(key, entry["hub_id"], tuple(entry.get("aliases") or ()),
                          float(entry["params_b"]), facts)
    return out


def find_preset(name: str) -> ModelFacts | None:
    """Match a preset key, its Hub id, or an alias (case-insensitive)."""
    want = _norm(name)
    for preset in load_catalog().values():
        names = [preset.key, preset.hub_id, preset.hub_id.split("/")[-1], *preset.aliases]
        if want in {_norm(n) for n in names}:
            return preset.facts
    return None
