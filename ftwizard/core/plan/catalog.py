"""The offline catalog of popular models (presets/models.yaml)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from ftwizard.core.plan.model_facts import ModelFacts, preset_facts
from ftwizard.core.plan.presets import find_entry, preset_entries


@dataclass(frozen=True)
class Preset:
    key: str
    hub_id: str
    aliases: tuple[str, ...]
    published_params_b: float
    facts: ModelFacts


@lru_cache(maxsize=1)
def load_catalog() -> dict[str, Preset]:
    out: dict[str, Preset] = {}
    for key, entry in preset_entries().items():
        out[key] = Preset(key, entry["hub_id"], tuple(entry.get("aliases") or ()), float(entry["params_b"]),
                          preset_facts(key))
    return out


def find_preset(name: str) -> ModelFacts | None:
    """Match a preset key, its Hub id, or an alias (case-insensitive)."""
    key = find_entry(name)
    return load_catalog()[key].facts if key else None
