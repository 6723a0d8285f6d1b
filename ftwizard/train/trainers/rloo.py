"""RLOO: REINFORCE with a leave-one-out baseline (TRL `RLOOTrainer`). Like GRPO it samples several completions per
prompt and scores them with the same reward functions; each completion's advantage is its reward minus the mean
of the others for that prompt. It takes GRPO's knobs (grpo_num_generations, grpo_max_completion_length,
grpo_rewards, grpo_kl_beta, grpo_temperature, grpo_reward_timeout) and its prompt data.

Added as the proof that a trainer is one file plus its TrainerSpec line in core/run/trainers.py."""

from __future__ import annotations

from typing import Any

from ftwizard.train.rewards import ANSWER_COLUMNS, RewardError, needs_reference, resolve_rewards
from ftwizard.train.trainers import TrainContext
from ftwizard.train.trainers.grpo import as_prompts


def build(ctx: TrainContext) -> Any:
    from trl import RLOOConfig, RLOOTrainer

    cfg = ctx.cfg
    train = as_prompts(ctx.train_dataset)
    cols = train.column_names
    if "prompt" not in cols:
        raise ValueError(f"RLOO trains on prompts ({{\"prompt\": ...}} rows, or chat rows whose last answer becomes "
                         f"the reference); this data has columns {', '.join(cols)}")
    if needs_reference(cfg.grpo_rewards) and not any(c in cols for c in ANSWER_COLUMNS):
        raise RewardError(f"the exact_match/char_match rewards need an answer column ({', '.join(ANSWER_COLUMNS)}) "
                          f"next to each prompt; the data has {', '.join(cols)}")
    rewards: list[Any] = resolve_rewards(cfg.grpo_rewards, cfg.grpo_max_completion_length, ctx.rd.path.parent,
                                         timeout_s=cfg.grpo_reward_timeout)
    args = {k: v for k, v in ctx.args.items() if k != "max_length"}
    args.update(eval_strategy="no", num_generations=cfg.grpo_num_generations,
                max_completion_length=cfg.grpo_max_completion_length, beta=cfg.grpo_kl_beta,
                temperature=cfg.grpo_temperature)
    return RLOOTrainer(model=ctx.model, reward_funcs=rewards, args=RLOOConfig(**args), train_dataset=train,
                       processing_class=ctx.tokenizer, peft_config=ctx.peft_config, callbacks=ctx.callbacks)
