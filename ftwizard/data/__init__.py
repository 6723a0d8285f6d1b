"""Data files shipped with ftwizard (prompt sets for the after-training checks)."""

from __future__ import annotations

from pathlib import Path

DATA_DIR = Path(__file__).parent
SAFETY_PROMPTS = DATA_DIR / "safety_prompts.jsonl"
