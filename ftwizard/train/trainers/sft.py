"""SFT: supervised fine-tuning on example answers (TRL `SFTTrainer`)."""

from __future__ import annotations

from typing import Any

from ftwizard.train.trainers import TrainContext


def build(ctx: TrainContext) -> Any:
    from trl import SFTConfig, SFTTrainer

    cfg, tok = ctx.cfg, ctx.tokenizer
    template = getattr(tok, "chat_template", None) or ""
    is_chat = "messages" in ctx.train_dataset.column_names
    assistant_only = cfg.assistant_only_loss and is_chat and "generation" in template
    if cfg.assistant_only_loss and is_chat and not assistant_only:
        ctx.emit({"type": "warning", "kind": "loss_on_prompt",
                  "message": "The chat template does not mark assistant turns ({% generation %}), so the loss "
                             "is computed on the whole conversation.",
                  "fix": "Use a model whose chat template supports assistant masks, or convert the data "
                         "to prompt/completion."})
    args = SFTConfig(**ctx.args, packing=cfg.packing, assistant_only_loss=assistant_only)
    return SFTTrainer(model=ctx.model, args=args, train_dataset=ctx.train_dataset, eval_dataset=ctx.eval_dataset,
                      processing_class=tok, peft_config=ctx.peft_config, callbacks=ctx.callbacks)
