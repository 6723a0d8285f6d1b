"""The run's data: split once into <run>/data (reused on resume, so the split never changes under a run)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ftwizard.core.run.config import RunConfig
from ftwizard.core.run.layout import RunDir


def prepare_data(cfg: RunConfig, rd: RunDir) -> dict[str, Path]:
    """Split files in <run>/data (reused on resume, so the split never changes under a run)."""
    src = Path(cfg.data)
    if src.is_dir() and (src / "train.jsonl").exists():
        base = src
    elif (rd.data_dir / "train.jsonl").exists():
        base = rd.data_dir
    else:
        from ftwizard.core.data.hub import HubOptions
        from ftwizard.core.data.report import analyze, split_and_write

        rep = analyze(cfg.data, fmt=cfg.data_format, max_seq=cfg.max_seq_length, hub=HubOptions.from_config(cfg),
                      split_ratios=tuple(cfg.split))  # type: ignore[arg-type]
        if not rep.usable:
            first = "; ".join(str(e) for e in rep.errors[:3])
            raise ValueError(f"dataset error: {len(rep.errors)} problem(s), e.g. {first}")
        split_and_write(rep, rd.data_dir, tuple(cfg.split), cfg.seed)  # type: ignore[arg-type]
        base = rd.data_dir
    return {k: base / f"{k}.jsonl" for k in ("train", "validation", "test") if (base / f"{k}.jsonl").exists()}


def arrow_safe(row: dict[str, Any]) -> dict[str, Any]:
    """A row whose free-form JSON survives Arrow: `tools` and each message's `tool_calls` as JSON text. (Arrow gives
    a column one schema, so the `arguments` dicts of every row's tool calls would be merged — each call gaining the
    other rows' keys as nulls — and the template would write them. `turn_mask.mask_row` reads them back.)"""
    import json

    out = dict(row)
    if out.get("tools") is not None and not isinstance(out["tools"], str):
        out["tools"] = json.dumps(out["tools"], ensure_ascii=False)
    msgs = out.get("messages")
    if isinstance(msgs, list):
        out["messages"] = [{**m, "tool_calls": json.dumps(m["tool_calls"], ensure_ascii=False)}
                           if isinstance(m, dict) and m.get("tool_calls") is not None
                           and not isinstance(m["tool_calls"], str) else m for m in msgs]
    return out


def load_splits(files: dict[str, Path]) -> Any:
    """The split files as a DatasetDict, every text kept as text. (`load_dataset("json")` lets pyarrow turn a
    column of ISO dates such as "2008-02-08" into timestamps, so a prompt would reach the model as
    "2008-02-08 00:00:00"; an empty split — a 0 validation fraction — is left out instead of failing; tool calls
    and tool schemas travel as JSON text: `arrow_safe`.)"""
    import json

    from datasets import Dataset, DatasetDict

    out = {}
    for name, path in files.items():
        with open(path, encoding="utf-8") as fh:
            rows = [arrow_safe(json.loads(line)) for line in fh if line.strip()]
        if rows:
            out[name] = Dataset.from_list(rows)
    return DatasetDict(out)
