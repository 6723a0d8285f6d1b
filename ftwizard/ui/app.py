"""Placeholder until the wizard lands."""

from __future__ import annotations


def run_app(fake_gpus: str | None = None) -> int:
    print("The ftwizard app is not built yet; try `ftwizard --help`.")
    return 0
