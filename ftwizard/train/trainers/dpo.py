"""DPO: prefer the chosen answer over the rejected one (TRL `DPOTrainer`). With an adapter the reference model is
the base with the adapter switched off (no second copy in memory)."""

from __future__ import annotations

from typing import Any

from ftwizard.train.trainers import TrainContext


def build(ctx: TrainContext) -> Any:
    from trl import DPOConfig, DPOTrainer

    cfg = ctx.cfg
    args = DPOConfig(**ctx.args, beta=cfg.dpo_beta, loss_type=cfg.dpo_loss_type)
    return DPOTrainer(model=ctx.model, args=args, train_dataset=ctx.train_dataset, eval_dataset=ctx.eval_dataset,
                      processing_class=ctx.tokenizer, peft_config=ctx.peft_config, callbacks=ctx.callbacks)
