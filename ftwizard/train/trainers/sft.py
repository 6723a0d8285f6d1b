"""SFT: supervised fine-tuning on example answers (TRL `SFTTrainer`), with the loss on the right tokens for any
tokenizer (see `ftwizard/train/templates.py`). When the chat template cannot mark assistant turns, ftwizard marks
every turn itself (`ftwizard/train/turn_mask.py`) and hands TRL pre-tokenized rows: `input_ids` + `assistant_masks`,
which TRL turns into labels, truncates to `max_length` and filters like its own (`assistant_only_loss` stays off, as
TRL would otherwise try to re-render conversations that are already tokens)."""

from __future__ import annotations

from typing import Any

from ftwizard.train.templates import check_rows_left, describe_loss_tokens, plan_sft
from ftwizard.train.trainers import TrainContext


def build(ctx: TrainContext) -> Any:
    from trl import SFTConfig, SFTTrainer

    cfg, tok = ctx.cfg, ctx.tokenizer
    plan, per_turn = plan_sft(tok, ctx.train_dataset.column_names, cfg.assistant_only_loss, ctx.template_source,
                              first_row=ctx.train_dataset[0])
    ctx.emit(plan.to_event())
    if per_turn:
        from ftwizard.train.turn_mask import stats_events, tokenize_datasets

        max_length = None if cfg.packing else ctx.args.get("max_length")
        keep_end = ctx.args.get("truncation_mode") == "keep_end"  # trainer_args are in ctx.args
        ctx.datasets, stats = tokenize_datasets(ctx.datasets, tok, max_length, keep_end)
        for ev in stats_events(stats, max_length):
            ctx.emit(ev)
        ctx.export_notes.append(
            "ftwizard marked every assistant turn itself (this chat template has no {% generation %} markers): the "
            "TRL CLI trains on the whole conversation instead, unless you pass a template with markers "
            "(chat_template_path) and assistant_only_loss: true")
    args = SFTConfig(**ctx.args, packing=cfg.packing,
                     assistant_only_loss=plan.mode == "assistant_only" and not per_turn,
                     completion_only_loss=plan.mode == "completion_only" or None)
    trainer = SFTTrainer(model=ctx.model, args=args, train_dataset=ctx.train_dataset, eval_dataset=ctx.eval_dataset,
                         processing_class=tok, peft_config=ctx.peft_config, callbacks=ctx.callbacks)
    check_rows_left(ctx, trainer)
    loss_tokens = describe_loss_tokens(trainer, tok)
    if loss_tokens:
        ctx.emit(loss_tokens)
    return trainer
