"""Continued pre-training: plain documents, loss on every token, packed into full sequences (TRL `SFTTrainer`
on the language-modeling `text` column with `completion_only_loss=False`, `packing=True`).

Packing uses TRL's `bfd_split` strategy: a document longer than `max_seq_length` is split into pieces that are
packed like any other (TRL's default `bfd` would cut it at `max_seq_length` and lose the rest). How many documents
were split is written as an event."""

from __future__ import annotations

from typing import Any

from ftwizard.train.trainers import TrainContext


def split_note(tok: Any, texts: list[str], max_len: int) -> dict[str, Any]:
    """The event saying how the documents fit `max_len`: how many are longer and were split into pieces."""
    lengths = [len(ids) for ids in tok(texts, add_special_tokens=False)["input_ids"]] if texts else []
    longer = sum(1 for n in lengths if n > max_len)
    pieces = sum(-(-n // max_len) for n in lengths if n > max_len)
    msg = (f"Documents are packed into {max_len}-token sequences; {longer} of {len(lengths)} are longer and were "
           f"split into {pieces} pieces (nothing is cut)." if longer else
           f"Documents are packed into {max_len}-token sequences; none is longer.")
    return {"type": "note", "kind": "packing", "strategy": "bfd_split", "documents": len(lengths),
            "split_documents": longer, "pieces": pieces, "max_length": max_len, "message": msg}


def build(ctx: TrainContext) -> Any:
    from trl import SFTConfig, SFTTrainer

    if "text" not in ctx.train_dataset.column_names:
        raise ValueError("continued pre-training needs plain text rows ({\"text\": ...}); this data has columns "
                         f"{', '.join(ctx.train_dataset.column_names)} — use trainer: sft for chat or "
                         "prompt/completion data")
    args = SFTConfig(**ctx.args, packing=True, packing_strategy="bfd_split", completion_only_loss=False,
                     assistant_only_loss=False, dataset_text_field="text")
    ctx.emit(split_note(ctx.tokenizer, list(ctx.train_dataset["text"]), args.max_length or ctx.cfg.max_seq_length))
    return SFTTrainer(model=ctx.model, args=args, train_dataset=ctx.train_dataset, eval_dataset=ctx.eval_dataset,
                      processing_class=ctx.tokenizer, peft_config=ctx.peft_config, callbacks=ctx.callbacks)
