"""SFT: supervised fine-tuning on example answers (TRL `SFTTrainer`), with the loss on the right tokens for any
tokenizer (see `ftwizard/train/templates.py`)."""

from __future__ import annotations

from typing import Any

from ftwizard.train.templates import check_rows_left, describe_loss_tokens, last_turn_as_completion, plan_sft
from ftwizard.train.trainers import TrainContext


def build(ctx: TrainContext) -> Any:
    from trl import SFTConfig, SFTTrainer

    cfg, tok = ctx.cfg, ctx.tokenizer
    plan, convert = plan_sft(tok, ctx.train_dataset.column_names, cfg.assistant_only_loss, ctx.template_source)
    if convert:
        ctx.datasets = ctx.datasets.map(lambda row: last_turn_as_completion(row["messages"]),
                                        remove_columns=["messages"])
    ctx.emit(plan.to_event())
    args = SFTConfig(**ctx.args, packing=cfg.packing, assistant_only_loss=plan.mode == "assistant_only",
                     completion_only_loss=plan.mode == "completion_only" or None)
    trainer = SFTTrainer(model=ctx.model, args=args, train_dataset=ctx.train_dataset, eval_dataset=ctx.eval_dataset,
                         processing_class=tok, peft_config=ctx.peft_config, callbacks=ctx.callbacks)
    check_rows_left(ctx, trainer)
    loss_tokens = describe_loss_tokens(trainer, tok)
    if loss_tokens:
        ctx.emit(loss_tokens)
    return trainer
