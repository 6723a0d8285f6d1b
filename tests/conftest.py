"""Shared fixtures: a tiny Llama and a date-format dataset built here (nothing is downloaded)."""

from __future__ import annotations

import os
from pathlib import Path

# one torch thread per process: with `-n 2` on two cores, every check, generation and training subprocess at
# torch's default (one thread per core) fought the other worker's (the brief's "100x slower steps")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A 2-layer, 64-wide Llama with a character-level tokenizer whose chat template marks assistant turns."""
    from ftwizard.train.tiny import build_tiny

    return build_tiny(tmp_path_factory.mktemp("tiny") / "model", layers=2, hidden=64)


@pytest.fixture(scope="session")
def date_data(tmp_path_factory) -> Path:
    """300 date-format chat rows (seeded)."""
    from ftwizard.train.tiny import date_examples, write_jsonl

    return write_jsonl(date_examples(300, seed=3), tmp_path_factory.mktemp("data") / "dates.jsonl")


@pytest.fixture(scope="session")
def tiny(tiny_model: Path, date_data: Path) -> tuple[Path, Path]:
    return tiny_model, date_data


def pytest_collection_modifyitems(session, config, items) -> None:  # noqa: ARG001
    """The longest test (a real chat model trained end to end, ~5 min) starts first, so with `-n 2` the other
    worker runs the rest beside it instead of the suite waiting for it at the end."""
    items.sort(key=lambda item: 0 if "test_real_model" in item.nodeid else 1)
