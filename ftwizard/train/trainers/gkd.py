"""GKD: the student learns the teacher's next-token distribution (generalized Jensen-Shannon divergence) on chat
data, on its own generations for a `gkd_lmbda` share of batches (TRL experimental `GKDTrainer`). The teacher
(`teacher_model`) must share the student's vocabulary; it is loaded frozen in the student's precision."""

from __future__ import annotations

import warnings
from typing import Any

from ftwizard.train.trainers import TrainContext


def build(ctx: TrainContext) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from trl.experimental.gkd import GKDConfig, GKDTrainer
    from transformers import AutoModelForCausalLM

    cfg = ctx.cfg
    if "messages" not in ctx.train_dataset.column_names:
        raise ValueError("GKD trains on chat rows ({\"messages\": [...]}); make them with `ftwizard distill` or "
                         "use trainer: sft")
    teacher = AutoModelForCausalLM.from_pretrained(cfg.teacher_model, dtype=ctx.model.dtype,
                                                   trust_remote_code=cfg.trust_remote_code).eval()
    s_vocab, t_vocab = ctx.model.config.get_text_config().vocab_size, teacher.config.get_text_config().vocab_size
    if s_vocab != t_vocab:
        raise ValueError(f"GKD needs the teacher and the student to share a vocabulary: the student has {s_vocab} "
                         f"tokens, the teacher {cfg.teacher_model} {t_vocab} — pick a teacher from the same family, "
                         "or distill with `ftwizard distill` + SFT (works across tokenizers)")
    args = GKDConfig(**ctx.args, lmbda=cfg.gkd_lmbda, beta=0.5,  # 0.5: the symmetric JSD (TRL's default)
                     max_new_tokens=min(256, max(16, cfg.max_seq_length // 2)))
    return GKDTrainer(model=ctx.model, teacher_model=teacher, args=args, train_dataset=ctx.train_dataset,
                      eval_dataset=ctx.eval_dataset, processing_class=ctx.tokenizer, peft_config=ctx.peft_config,
                      callbacks=ctx.callbacks)
