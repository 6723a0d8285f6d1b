"""GRPO: sample several completions per prompt, score them with reward functions, reinforce the better ones
(TRL `GRPOTrainer`). No evaluation pass while training (it would generate too); the after-training check
measures the reward on the test prompts."""

from __future__ import annotations

from typing import Any

from ftwizard.train.rewards import ANSWER_COLUMNS, RewardError, needs_reference, resolve_rewards
from ftwizard.train.trainers import TrainContext


def build(ctx: TrainContext) -> Any:
    from trl import GRPOConfig, GRPOTrainer

    cfg = ctx.cfg
    cols = ctx.train_dataset.column_names
    if "prompt" not in cols:
        raise ValueError(f"GRPO trains on prompts alone ({{\"prompt\": ...}} rows); this data has columns "
                         f"{', '.join(cols)}")
    if needs_reference(cfg.grpo_rewards) and not any(c in cols for c in ANSWER_COLUMNS):
        raise RewardError(f"the exact_match/char_match rewards need an answer column ({', '.join(ANSWER_COLUMNS)}) "
                          f"next to each prompt; the data has {', '.join(cols)}")
    # a relative user reward path: from where ftwizard was started, else next to the run directory
    rewards: list[Any] = resolve_rewards(cfg.grpo_rewards, cfg.grpo_max_completion_length, ctx.rd.path.parent)
    args = {k: v for k, v in ctx.args.items() if k != "max_length"}
    args.update(eval_strategy="no", num_generations=cfg.grpo_num_generations,
                max_completion_length=cfg.grpo_max_completion_length, beta=cfg.grpo_kl_beta,
                temperature=cfg.grpo_temperature)
    return GRPOTrainer(model=ctx.model, reward_funcs=rewards, args=GRPOConfig(**args),
                       train_dataset=ctx.train_dataset, processing_class=ctx.tokenizer,
                       peft_config=ctx.peft_config, callbacks=ctx.callbacks)
