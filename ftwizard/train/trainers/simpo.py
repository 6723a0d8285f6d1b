"""SimPO: preference pairs with a length-normalized implicit reward and a target margin, no reference model
(TRL experimental `CPOTrainer` with `loss_type="simpo"`, `cpo_alpha=0`: pure SimPO without CPO's SFT term)."""

from __future__ import annotations

import warnings
from typing import Any

from ftwizard.train.trainers import TrainContext


def build(ctx: TrainContext) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from trl.experimental.cpo import CPOConfig, CPOTrainer

    cfg = ctx.cfg
    args = CPOConfig(**ctx.args, loss_type="simpo", cpo_alpha=0.0, beta=cfg.dpo_beta, simpo_gamma=cfg.simpo_gamma)
    return CPOTrainer(model=ctx.model, args=args, train_dataset=ctx.train_dataset, eval_dataset=ctx.eval_dataset,
                      processing_class=ctx.tokenizer, peft_config=ctx.peft_config, callbacks=ctx.callbacks)
