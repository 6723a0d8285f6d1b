"""GRPO: sample several completions per prompt, score them with reward functions, reinforce the better ones
(TRL `GRPOTrainer`). No evaluation pass while training (it would generate too); the after-training check
measures the reward on the test prompts."""

from __future__ import annotations

from typing import Any

from ftwizard.train.rewards import ANSWER_COLUMNS, RewardError, needs_reference, resolve_rewards
from ftwizard.train.trainers import TrainContext


def build(ctx: TrainContext) -> Any:
    from trl import GRPOConfig, GRPOTrainer

    train, rewards, args = generation_setup(ctx, "GRPO")
    return GRPOTrainer(model=ctx.model, reward_funcs=rewards, args=GRPOConfig(**args),
                       train_dataset=train, processing_class=ctx.tokenizer,
                       peft_config=ctx.peft_config, callbacks=ctx.callbacks)


def generation_setup(ctx: TrainContext, title: str) -> tuple[Any, list[Any], dict[str, Any]]:
    """What the generation-based RL trainers (GRPO and those built like it) share: the prompt rows, the guarded rewards and the
    config fields (no evaluation pass: it would generate too)."""
    cfg = ctx.cfg
    train = as_prompts(ctx.train_dataset)
    cols = train.column_names
    if "prompt" not in cols:
        raise ValueError(f"{title} trains on prompts ({{\"prompt\": ...}} rows, or chat rows whose last answer "
                         f"becomes the reference); this data has columns {', '.join(cols)}")
    if needs_reference(cfg.grpo_rewards) and not any(c in cols for c in ANSWER_COLUMNS):
        raise RewardError(f"the exact_match/char_match rewards need an answer column ({', '.join(ANSWER_COLUMNS)}) "
                          f"next to each prompt; the data has {', '.join(cols)}")
    # a relative user reward path: from where ftwizard was started, else next to the run directory
    rewards: list[Any] = resolve_rewards(cfg.grpo_rewards, cfg.grpo_max_completion_length, ctx.rd.path.parent,
                                         timeout_s=cfg.grpo_reward_timeout)  # NaN/inf or a hang: fails, named
    args = {k: v for k, v in ctx.args.items() if k != "max_length"}
    args.update(eval_strategy="no", num_generations=cfg.grpo_num_generations,
                max_completion_length=cfg.grpo_max_completion_length, beta=cfg.grpo_kl_beta,
                temperature=cfg.grpo_temperature)
    return train, rewards, args


def as_prompts(ds: Any) -> Any:
    """Example-answer data as GRPO prompts: a chat row's last assistant turn, or a completion, becomes the
    `answer` column the exact_match/char_match rewards compare with; the rest is the prompt."""
    cols = ds.column_names
    if "prompt" in cols and "completion" in cols and "answer" not in cols:
        def split_pc(row: dict[str, Any]) -> dict[str, Any]:
            c = row["completion"]
            return {"answer": (c[-1]["content"] if isinstance(c, list) else str(c)).strip()}

        return ds.map(split_pc, remove_columns=["completion"])
    if "messages" in cols and "prompt" not in cols:
        def split_chat(row: dict[str, Any]) -> dict[str, Any]:
            msgs = list(row["messages"])
            answer = msgs.pop()["content"] if msgs and msgs[-1]["role"] == "assistant" else ""
            return {"prompt": msgs, "answer": answer.strip()}

        return ds.map(split_chat, remove_columns=["messages"])
    return ds
