"""ORPO: preference pairs with an SFT term and an odds-ratio penalty, no reference model (TRL experimental
`ORPOTrainer`). `beta` is ORPO's lambda (the weight of the odds-ratio term)."""

from __future__ import annotations

import warnings
from typing import Any

from ftwizard.train.trainers import TrainContext


def build(ctx: TrainContext) -> Any:
    with warnings.catch_warnings():  # the experimental namespace warns once on import
        warnings.simplefilter("ignore")
        from trl.experimental.orpo import ORPOConfig, ORPOTrainer

    args = ORPOConfig(**ctx.args, beta=ctx.cfg.dpo_beta)
    return ORPOTrainer(model=ctx.model, args=args, train_dataset=ctx.train_dataset, eval_dataset=ctx.eval_dataset,
                       processing_class=ctx.tokenizer, peft_config=ctx.peft_config, callbacks=ctx.callbacks)
