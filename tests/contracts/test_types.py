"""Types are part of the suite, so the README's test command (and `.ci/run`) fails on a mypy error anywhere in
the package (`[tool.mypy]` in pyproject.toml); ruff is checked beside it in test_style.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_package_type_checks() -> None:
    res = subprocess.run([sys.executable, "-m", "mypy", "--no-error-summary"], cwd=ROOT, capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]

