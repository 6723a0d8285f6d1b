"""The plan as the RunConfig the trainer reads (the one place the wizard meets core/run)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from ftwizard.core.plan.model_facts import ModelFacts
from ftwizard.core.run.config import RunConfig
from ftwizard.core.wizard.answers import TRAINER_FIELDS, Answers
from ftwizard.core.wizard.plan_view import PlanView, run_cadence
from ftwizard.core.wizard.timing import plan_time


def to_run_config(ans: Answers, view: PlanView, facts: ModelFacts) -> RunConfig:
    """The RunConfig the trainer reads. Model = the local folder or the Hub id (presets use their Hub id)."""
    v = view.values
    adapter = v["method"] != "full"
    targets = v.get("target_modules", "all-linear")
    if isinstance(targets, list) and facts.module_names() and set(targets) == set(facts.resolve_targets("all-linear")):
        targets = "all-linear"
    model = ans.model
    if not Path(model).expanduser().is_dir():
        model = facts.name  # a preset key → its Hub id
    needed: dict[str, Any] = {k: str(v[k]) for k in TRAINER_FIELDS if k in v}  # the trainer's required fields
    cfg = RunConfig(
        model=model, data=ans.data, data_format=ans.data_format, trainer=view.trainer,
        method=v["method"], max_seq_length=int(v["max_seq_length"]), micro_batch=int(v["micro_batch"]),
        gradient_accumulation=int(v["gradient_accumulation"]), learning_rate=float(v["learning_rate"]),
        epochs=float(v["epochs"]), warmup_ratio=float(v["warmup_ratio"]), lr_scheduler=str(v["lr_scheduler"]),
        weight_decay=float(v["weight_decay"]), gradient_checkpointing=bool(v["gradient_checkpointing"]),
        # precision and engine are Literal fields: RunConfig checks the value at construction
        optimizer=str(v["optimizer"]), precision=cast(Any, str(v.get("precision") or "auto") if view.gpus else "auto"),
        engine=cast(Any, str(v.get("engine") or "auto")), num_gpus=max(1, view.gpus),
        trust_remote_code=ans.trust_remote_code, estimate_gib=round(view.estimate.peak_allocated_gib, 2),
        estimate_ram_gib=None if view.gpus else round(view.estimate.peak_gib, 2),
        **run_cadence(view), **needed)
    from ftwizard.core.trainers import starting_values

    for key, value in starting_values(view.trainer).items():  # the objective's own starting beta, margin, …
        if key not in ans.overrides and hasattr(cfg, key):
            setattr(cfg, key, value)
    if adapter:
        cfg.rank, cfg.alpha, cfg.dropout, cfg.target_modules = int(v["rank"]), int(v["alpha"]), float(v["dropout"]), targets
    try:
        timing = plan_time(ans, view)
    except (ValueError, KeyError, OSError):  # a broken user price file: no planned time, the run still starts
        timing = None
    if timing is not None:
        cfg.estimate_hours = round(timing.total_seconds / 3600, 4)
    return cfg
