"""KTO: learn from single answers marked desirable or undesirable (TRL `KTOTrainer`). With an adapter the
reference model is the base with the adapter switched off (no second copy in memory).

The data is TRL's unpaired preference type, {"prompt", "completion", "label"} (conversational allowed) — what the
`kto` dataset family converts to, labelled conversations included — or preference pairs, which TRL unpairs."""

from __future__ import annotations

from typing import Any

from ftwizard.train.trainers import TrainContext


def check_columns(columns: list[str]) -> None:
    cols = set(columns)
    if {"prompt", "completion", "label"} <= cols or {"chosen", "rejected"} <= cols:
        return
    raise ValueError("dataset error: KTO needs answers labelled good or bad (prompt, completion and a true/false "
                     f"label per row) or preference pairs; this data has columns {', '.join(columns)} — "
                     "use trainer: sft for example answers")


def build(ctx: TrainContext) -> Any:
    from trl import KTOConfig, KTOTrainer

    cfg = ctx.cfg
    check_columns(ctx.train_dataset.column_names)
    args = KTOConfig(**ctx.args, beta=cfg.dpo_beta, desirable_weight=cfg.kto_desirable_weight,
                     undesirable_weight=cfg.kto_undesirable_weight)
    return KTOTrainer(model=ctx.model, args=args, train_dataset=ctx.train_dataset, eval_dataset=ctx.eval_dataset,
                      processing_class=ctx.tokenizer, peft_config=ctx.peft_config, callbacks=ctx.callbacks)
