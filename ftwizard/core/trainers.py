"""The trainer registry's pure half: everything ftwizard knows about a training objective, in one `TrainerSpec`
line — the data it takes, its starting points, its TRL config class and CLI script, which of its TRL keys come from
which config field, what it sets itself, its batch rule, what the monitor plots and whether its loss says it is
learning, and what the estimator adds. The planner, `train --check`, the monitor, the exports, `trl import` and the
estimator read these fields; none of them names a trainer. The other half — building the TRL config and trainer —
is one module per trainer in `ftwizard/train/trainers/<name>.py`, found by name (no second registry to edit).

Adding a trainer = one `TrainerSpec(...)` line here + one file `train/trainers/<name>.py` with `build(ctx)`
(train/trainers/rloo.py was added that way).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TrainerSpec:
    name: str
    title: str
    families: tuple[str, ...]  # dataset families (core/data/formats) this objective trains on
    why: str  # one line: when to pick it
    lr_lora: float  # starting learning rate with an adapter
    lr_full: float  # … and for a full fine-tune
    metrics: tuple[str, ...] = ()  # extra log keys the monitor plots (besides loss/LR/grad norm)
    reference_model: bool = False  # keeps a frozen reference copy (full fine-tune only; PEFT disables the adapter)
    generates: bool = False  # generates completions while training (KV cache in the estimate)
    check: str = "compare"  # the after-training check that fits (train/checks)
    beta: float | None = None  # starting beta (config `dpo_beta`) where the objective has one
    starts: tuple[tuple[str, object, str], ...] = ()  # (config field, starting value, why) the planner applies
    needs: str = ""  # a config field that must be set besides the data (never picked by default then)
    trl_config: str = "transformers:TrainingArguments"  # `module:Class` of its TRL config
    trl_script: str = ""  # the TRL CLI script that trains it (launch.sh); "" = none
    keys: tuple[tuple[str, str], ...] = ()  # (its TRL config key, the RunConfig field ftwizard sets it from)
    sets: tuple[str, ...] = ()  # TRL keys its module sets itself (`trainer_args` may not)
    batch_divisor: str = ""  # a RunConfig field that must divide micro_batch × accumulation × GPUs
    loss_learns: bool = True  # a flat loss means "not learning" (False: RL/distillation losses are not that signal)
    fixed: tuple[tuple[str, object], ...] = ()  # TRL keys its module sets to these values (for the TRL export)
    min_micro_batch: tuple[int, str] = (1, "")  # the smallest micro-batch it can train with, and why
    reads: tuple[str, ...] = ()  # RunConfig fields of its own that are no TRL key (the rewards it scores with)

    @property
    def config_class(self) -> str:
        return self.trl_config.rsplit(":", 1)[-1]

    @property
    def module_keys(self) -> tuple[str, ...]:
        """Every TRL key its module decides: the ones it sets and the ones it fixes (`trainer_args` may set none)."""
        return self.sets + tuple(k for k, _ in self.fixed if k not in self.sets)


# the generation-based RL trainers (GRPO, RLOO) share their knobs: TRL key → RunConfig field
GENERATION_KEYS: tuple[tuple[str, str], ...] = (
    ("beta", "grpo_kl_beta"), ("num_generations", "grpo_num_generations"),
    ("max_completion_length", "grpo_max_completion_length"), ("temperature", "grpo_temperature"))
REWARD_FIELDS = ("grpo_rewards", "grpo_reward_timeout")  # the rewards GRPO and RLOO score completions with


def _register(*specs: TrainerSpec) -> dict[str, TrainerSpec]:
    return {s.name: s for s in specs}


TRAINERS: dict[str, TrainerSpec] = _register(
    TrainerSpec("sft", "Supervised fine-tuning", ("alpaca", "sharegpt", "openai", "prompt_completion", "text"),
                "teach a format, style or task from example answers", 2e-4, 2e-5,
                trl_config="trl:SFTConfig", trl_script="sft",
                keys=(("packing", "packing"), ("assistant_only_loss", "assistant_only_loss")),
                sets=("completion_only_loss",)),
    TrainerSpec("dpo", "Direct preference optimization", ("preference",),
                "prefer the chosen answer over the rejected one (pairs)", 5e-6, 5e-7,
                metrics=("rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies"),
                reference_model=True, check="preference", beta=0.1,
                trl_config="trl:DPOConfig", trl_script="dpo", keys=(("beta", "dpo_beta"), ("loss_type", "dpo_loss_type"))),
    TrainerSpec("kto", "Kahneman-Tversky optimization", ("kto",),
                "learn from answers marked good or bad (thumbs up/down), no pairs needed", 5e-6, 5e-7,
                metrics=("rewards/chosen", "rewards/rejected", "rewards/margins", "kl", "logps/chosen",
                         "logps/rejected"),
                reference_model=True, check="preference", beta=0.1,
                trl_config="trl:KTOConfig", trl_script="kto",
                keys=(("beta", "dpo_beta"), ("desirable_weight", "kto_desirable_weight"),
                      ("undesirable_weight", "kto_undesirable_weight")),
                min_micro_batch=(2, "its KL term compares each answer with another row of the same micro-batch"),
                starts=(("kto_desirable_weight", 1.0, "raise it so desirable × weight ≈ undesirable rows "
                         "(TRL: the ratio should sit in [1, 4/3])"),)),
    TrainerSpec("orpo", "Odds-ratio preference optimization", ("preference",),
                "preference pairs in one pass with an SFT term and no reference model (less memory than DPO)",
                8e-6, 8e-7, metrics=("rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies",
                                     "log_odds_ratio", "nll_loss"),
                check="preference", beta=0.1, trl_config="trl.experimental.orpo:ORPOConfig",
                keys=(("beta", "dpo_beta"),)),
    TrainerSpec("simpo", "Simple preference optimization (CPO loss_type=simpo)", ("preference",),
                "preference pairs with a length-normalized reward and no reference model", 1e-6, 5e-7,
                metrics=("rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies", "nll_loss"),
                check="preference", beta=2.0, trl_config="trl.experimental.cpo:CPOConfig",
                keys=(("beta", "dpo_beta"), ("simpo_gamma", "simpo_gamma")), sets=("loss_type", "cpo_alpha"),
                starts=(("simpo_gamma", 0.5, "target reward margin; the SimPO paper uses gamma/beta ≈ 0.5"),)),
    TrainerSpec("grpo", "Group relative policy optimization",
                ("prompt_only", "openai", "sharegpt", "alpaca", "prompt_completion"),  # answers become `answer`
                "reinforce answers a reward function scores well (math, formats, checkable tasks)", 1e-5, 1e-6,
                metrics=("reward", "reward_std", "kl", "completions/mean_length", "completions/clipped_ratio",
                         "frac_reward_zero_std", "entropy"),
                generates=True, check="reward", trl_config="trl:GRPOConfig", trl_script="grpo",
                keys=GENERATION_KEYS, batch_divisor="grpo_num_generations", loss_learns=False, reads=REWARD_FIELDS,
                starts=(("grpo_num_generations", 8, "completions per prompt to compare; more = a steadier "
                         "advantage but generation time and KV cache grow with it"),
                        ("grpo_max_completion_length", 256, "room for the answer; the KV cache and generation "
                         "time grow with it, and clipped completions score badly"))),
    TrainerSpec("rloo", "REINFORCE leave-one-out", ("prompt_only", "openai", "sharegpt", "alpaca", "prompt_completion"),
                "reinforce well-scored answers against the other samples' mean (GRPO's data and rewards)", 1e-5,
                1e-6, metrics=("reward", "reward_std", "kl", "completions/mean_length", "completions/clipped_ratio"),
                generates=True, check="reward", trl_config="trl:RLOOConfig", trl_script="rloo", keys=GENERATION_KEYS,
                batch_divisor="grpo_num_generations", loss_learns=False, reads=REWARD_FIELDS),
    TrainerSpec("cpt", "Continued pre-training", ("text",),
                "deep domain knowledge from plain documents (loss on every token, packed)", 5e-5, 1e-5,
                trl_config="trl:SFTConfig", trl_script="sft",
                sets=("packing", "completion_only_loss", "assistant_only_loss", "dataset_text_field"),
                fixed=(("packing", True), ("packing_strategy", "bfd_split"), ("completion_only_loss", False),
                       ("assistant_only_loss", False), ("dataset_text_field", "text")),
                starts=(("packing", True, "documents are packed into full sequences: no padding wasted"),)),
    TrainerSpec("gkd", "Generalized knowledge distillation", ("openai", "sharegpt"),
                "a small student imitates a larger teacher's token distribution (teacher_model)", 2e-4, 2e-5,
                check="compare", needs="teacher_model", trl_config="trl.experimental.gkd:GKDConfig",
                keys=(("lmbda", "gkd_lmbda"), ("teacher_model_name_or_path", "teacher_model")),
                sets=("beta", "max_new_tokens"), loss_learns=False,
                starts=(("gkd_lmbda", 0.5, "share of batches the student generates itself (on-policy)"),)),
)


def field_users(field_name: str) -> str:
    """Which trainers read a RunConfig field, with their starting values: "used by dpo (0.1), simpo (2.0)"; "" when
    no trainer's spec names it (a field every trainer uses)."""
    users = []
    for s in TRAINERS.values():
        if field_name not in {f for _, f in s.keys} and field_name != s.needs and field_name not in s.reads:
            continue
        start = next((v for f, v, _ in s.starts if f == field_name), None)
        if start is None and field_name == "dpo_beta":
            start = s.beta
        users.append(f"{s.name} ({start:g})" if isinstance(start, int | float) and not isinstance(start, bool)
                     else s.name)
    return f"used by {', '.join(users)}" if users else ""


def starting_values(name: str) -> dict[str, object]:
    """The config fields a trainer's plan starts from (its beta, its `starts`), beyond the learning rate."""
    s = trainer_spec(name)
    out: dict[str, object] = {"dpo_beta": s.beta} if s.beta is not None else {}
    out.update({f: v for f, v, _ in s.starts})
    return out


def trainer_spec(name: str) -> TrainerSpec:
    try:
        return TRAINERS[name]
    except KeyError:
        raise ValueError(f"unknown trainer {name!r}: known trainers are {', '.join(TRAINERS)}") from None


def trainer_for_family(family: str | None) -> str:
    """The default objective for a dataset family: the trainer made for it (its first family), else the first
    that takes it, else SFT."""
    for spec in TRAINERS.values():
        if spec.families[0] == family and spec.name != "sft" and not spec.needs:
            return spec.name
    for spec in TRAINERS.values():
        if family in spec.families:
            return spec.name
    return "sft"


def trainers_for_family(family: str | None) -> list[str]:
    """Every objective that trains on `family` (what the user may switch to)."""
    return [s.name for s in TRAINERS.values() if family in s.families]
