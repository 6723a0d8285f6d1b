"""RLOO: REINFORCE with a leave-one-out baseline (TRL `RLOOTrainer`). Like GRPO it samples several completions per
prompt and scores them with the same reward functions; each completion's advantage is its reward minus the mean
of the others for that prompt. It takes GRPO's knobs (grpo_num_generations, grpo_max_completion_length,
grpo_rewards, grpo_kl_beta, grpo_temperature, grpo_reward_timeout) and its prompt data.

Added as the proof that a trainer is one file plus its TrainerSpec line in core/trainers.py."""

from __future__ import annotations

from typing import Any

from ftwizard.train.trainers import TrainContext
from ftwizard.train.trainers.grpo import generation_setup


def build(ctx: TrainContext) -> Any:
    from trl import RLOOConfig, RLOOTrainer

    train, rewards, args = generation_setup(ctx, "RLOO")
    return RLOOTrainer(model=ctx.model, reward_funcs=rewards, args=RLOOConfig(**args), train_dataset=train,
                       processing_class=ctx.tokenizer, peft_config=ctx.peft_config, callbacks=ctx.callbacks)
