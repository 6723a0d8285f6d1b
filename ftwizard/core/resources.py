"""Locate the packaged `presets/` and `themes/` folders (source checkout or installed wheel)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def data_dir(name: str) -> Path:
    """Return the folder `name` (presets or themes): top-level in a checkout, inside the wheel otherwise."""
    here = Path(__file__).resolve().parent.parent  # ftwizard/
    checkout = here.parent / name
    if checkout.is_dir():
        return checkout
    return Path(str(resources.files("ftwizard") / name))
