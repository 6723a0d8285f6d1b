"""KTO: learn from single answers marked desirable or undesirable (TRL `KTOTrainer`). With an adapter the
reference model is the base with the adapter switched off (no second copy in memory)."""

from __future__ import annotations

from typing import Any

from ftwizard.train.trainers import TrainContext


def build(ctx: TrainContext) -> Any:
    from trl import KTOConfig, KTOTrainer

    cfg = ctx.cfg
    args = KTOConfig(**ctx.args, beta=cfg.dpo_beta, desirable_weight=cfg.kto_desirable_weight,
                     undesirable_weight=cfg.kto_undesirable_weight)
    return KTOTrainer(model=ctx.model, args=args, train_dataset=ctx.train_dataset, eval_dataset=ctx.eval_dataset,
                      processing_class=ctx.tokenizer, peft_config=ctx.peft_config, callbacks=ctx.callbacks)
