"""Datasets: read (JSONL/JSON/CSV/Parquet/folders/Hub), detect the format, validate with locations,
report (lengths, duplicates, PII, balance), convert to what TRL takes, and split reproducibly.

Submodules: reader, formats (a registry of families), report, split, pii, tokens, hub, api_export.
Names below are loaded on first use, so importing a submodule never imports this package's others
(no cycle between this file and report.py).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_LAZY = {"FAMILIES": "formats", "detect_family": "formats", "DataError": "errors", "Record": "reader",
         "read_records": "reader", "DatasetReport": "report", "analyze": "report", "split_and_write": "report"}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f"ftwizard.core.data.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'ftwizard.core.data' has no attribute {name!r}")
