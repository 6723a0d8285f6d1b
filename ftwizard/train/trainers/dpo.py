"""DPO: prefer the chosen answer over the rejected one (TRL `DPOTrainer`). With an adapter the reference model is
the base with the adapter switched off (no second copy in memory).

TRL drops the pairs whose prompt alone fills `max_length` (nothing of either answer would be left): how many is
written as a `rows_dropped` warning, and a run with none left stops with the fix."""

from __future__ import annotations

from typing import Any

from ftwizard.train.trainers import TrainContext


def check_pairs_left(ctx: TrainContext, trainer: Any) -> None:
    """Say how many pairs TRL dropped for a prompt that fills max_seq_length; stop when none is left."""
    n = ctx.cfg.max_seq_length
    for split, before_ds, after_ds in (("training", ctx.train_dataset, trainer.train_dataset),
                                       ("validation", ctx.eval_dataset, trainer.eval_dataset)):
        if before_ds is None or after_ds is None:
            continue
        before, after = len(before_ds), len(after_ds)
        if split == "training" and after == 0:
            raise ValueError(f"dataset error: no training pairs left: in every pair the prompt (with the chat "
                             f"template) fills max_seq_length ({n} tokens), so no answer token remains — raise "
                             "max_seq_length")
        if after < before:
            ctx.emit({"type": "warning", "kind": "rows_dropped", "split": split, "dropped": before - after,
                      "message": f"{before - after} of {before} {split} pairs were dropped: their prompt alone fills "
                                 f"max_seq_length ({n} tokens), so nothing of the answers would be left.",
                      "fix": "Raise max_seq_length (the chat template adds tokens to every row), or shorten the "
                             "prompts."})


def build(ctx: TrainContext) -> Any:
    from trl import DPOConfig, DPOTrainer

    cfg = ctx.cfg
    missing = {"chosen", "rejected"} - set(ctx.train_dataset.column_names)
    if missing:
        raise ValueError(f"dataset error: DPO needs preference pairs (chosen and rejected answers); this data has "
                         f"columns {', '.join(ctx.train_dataset.column_names)} — use trainer: sft for example answers, "
                         "or kto for answers labelled good/bad")
    args = DPOConfig(**ctx.args, beta=cfg.dpo_beta, loss_type=[cfg.dpo_loss_type])
    trainer = DPOTrainer(model=ctx.model, args=args, train_dataset=ctx.train_dataset, eval_dataset=ctx.eval_dataset,
                         processing_class=ctx.tokenizer, peft_config=ctx.peft_config, callbacks=ctx.callbacks)
    check_pairs_left(ctx, trainer)
    return trainer
