"""Continued pre-training: plain documents, loss on every token, packed into full sequences (TRL `SFTTrainer`
on the language-modeling `text` column with `completion_only_loss=False`, `packing=True`)."""

from __future__ import annotations

from typing import Any

from ftwizard.train.trainers import TrainContext


def build(ctx: TrainContext) -> Any:
    from trl import SFTConfig, SFTTrainer

    if "text" not in ctx.train_dataset.column_names:
        raise ValueError("continued pre-training needs plain text rows ({\"text\": ...}); this data has columns "
                         f"{', '.join(ctx.train_dataset.column_names)} — use trainer: sft for chat or "
                         "prompt/completion data")
    args = SFTConfig(**ctx.args, packing=True, completion_only_loss=False, assistant_only_loss=False,
                     dataset_text_field="text")
    return SFTTrainer(model=ctx.model, args=args, train_dataset=ctx.train_dataset, eval_dataset=ctx.eval_dataset,
                      processing_class=ctx.tokenizer, peft_config=ctx.peft_config, callbacks=ctx.callbacks)
