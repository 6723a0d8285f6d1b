"""Deterministic train/validation/test split of converted rows, after removing exact duplicates so no
held-out row is also trained on. Pure functions; `report.split_and_write` writes the files."""

from __future__ import annotations

import hashlib
import json
import random
from typing import Any

DEFAULT_RATIOS: tuple[float, float, float] = (0.8, 0.1, 0.1)
MIN_TRAIN_ROWS = 10  # fewer rows than this to train on is not a fine-tune (the OpenAI API's minimum is 10 too)
SPLITS = ("train", "validation", "test")


class SplitError(ValueError):
    """The ratios are invalid or there are too few rows for them."""


def check_ratios(ratios: tuple[float, ...] | list[float]) -> tuple[float, float, float]:
    r = tuple(float(x) for x in ratios)
    if len(r) != 3 or any(x < 0 or x > 1 for x in r):
        raise SplitError(f"split ratios must be three numbers between 0 and 1 (train,validation,test), got {ratios}")
    if abs(sum(r) - 1.0) > 1e-6:
        raise SplitError(f"split ratios must add up to 1, got {', '.join(f'{x:g}' for x in r)} = {sum(r):g}")
    if r[0] <= 0:
        raise SplitError("the train ratio must be above 0")
    return r[0], r[1], r[2]


def split_sizes(n: int, ratios: tuple[float, float, float]) -> dict[str, int]:
    """Rows per split: rounded shares, at least one validation/test row each when its ratio is > 0."""
    n_val = int(round(n * ratios[1])) if ratios[1] else 0
    n_test = int(round(n * ratios[2])) if ratios[2] else 0
    if n >= 3:
        n_val = max(n_val, 1 if ratios[1] else 0)
        n_test = max(n_test, 1 if ratios[2] else 0)
    return {"train": max(0, n - n_val - n_test), "validation": n_val, "test": n_test}


def rows_needed(ratios: tuple[float, float, float] = DEFAULT_RATIOS) -> int:
    """The fewest unique rows that give MIN_TRAIN_ROWS to train on plus a row for each held-out split."""
    n = MIN_TRAIN_ROWS
    while n < 100_000:
        s = split_sizes(n, ratios)
        if s["train"] >= MIN_TRAIN_ROWS and (s["validation"] or not ratios[1]) and (s["test"] or not ratios[2]):
            return n
        n += 1
    return n


def describe_need(ratios: tuple[float, float, float]) -> str:
    s = split_sizes(rows_needed(ratios), ratios)
    parts = [f"{s['train']} to train on"] + [f"{s[k]} {k}" for k in ("validation", "test") if s[k]]
    return f"a {'/'.join(f'{x:g}' for x in ratios)} split needs at least {rows_needed(ratios)} ({', '.join(parts)})"


def row_key(row: dict[str, Any]) -> str:
    """A hash of a converted row's content, whitespace runs collapsed and trimmed (exact duplicates share it)."""
    try:
        text = json.dumps(row, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    except RecursionError:  # too deep to serialise: never equal to another row
        return f"unkeyable:{id(row)}"
    text = text.replace("\\n", " ").replace("\\t", " ").replace("\\r", " ")  # JSON-escaped whitespace
    text = " ".join(text.split()).replace('" ', '"').replace(' "', '"')
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()


def unique_indices(rows: list[dict[str, Any]]) -> list[int]:
    """Indices of the first occurrence of each distinct row, in order."""
    seen: set[str] = set()
    keep: list[int] = []
    for i, r in enumerate(rows):
        k = row_key(r)
        if k not in seen:
            seen.add(k)
            keep.append(i)
    return keep


def assign(n: int, ratios: tuple[float, float, float], seed: int) -> dict[str, list[int]]:
    """Seeded assignment of positions 0..n-1 to the splits (each list sorted)."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    s = split_sizes(n, ratios)
    test, val = order[:s["test"]], order[s["test"]:s["test"] + s["validation"]]
    train = order[s["test"] + s["validation"]:]
    return {"train": sorted(train), "validation": sorted(val), "test": sorted(test)}
