"""Preflight: the longest batch first, so an out-of-memory shows in seconds, not hours; memory recorded."""

from __future__ import annotations

import json
import time
from typing import Any

from ftwizard.core.run.config import RunConfig
from ftwizard.core.run.layout import RunDir


def preflight(trainer: Any, cfg: RunConfig, rd: RunDir, torch: Any) -> None:
    """Forward+backward on the longest examples first, so an OOM shows in seconds; record memory."""
    ds = trainer.train_dataset
    if cfg.preflight_steps <= 0 or ds is None or "input_ids" not in ds.column_names:
        return
    lens = [len(x) for x in ds["input_ids"]]
    order = sorted(range(len(lens)), key=lambda i: -lens[i])[: cfg.micro_batch]
    batch = trainer.data_collator([ds[i] for i in order])
    model = trainer.model
    dev = next(p for p in model.parameters()).device
    batch = {k: v.to(dev) for k, v in batch.items() if hasattr(v, "to")}
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    t = time.time()
    model.train()
    for _ in range(cfg.preflight_steps):
        out = model(**{k: v for k, v in batch.items() if k in ("input_ids", "attention_mask", "labels")})
        out.loss.backward()
    model.zero_grad(set_to_none=True)
    measured = torch.cuda.max_memory_allocated() / 1024**3 if torch.cuda.is_available() else None
    info = {"device": "cuda" if torch.cuda.is_available() else "cpu", "longest_tokens": max(lens),
            "micro_batch": cfg.micro_batch, "estimate_gib": cfg.estimate_gib,
            "measured_peak_allocated_gib": round(measured, 3) if measured is not None else None,
            "note": None if measured is not None else "no GPU: memory is not measured on the CPU",
            "seconds": round(time.time() - t, 2)}
    rd.memory_path.write_text(json.dumps(info, indent=2), encoding="utf-8")
    rd.append_event({"type": "preflight", **info})
