"""The trainer registry's pure half: what each training objective takes, its starting points, what the monitor
plots and what the estimator adds. The other half — building the TRL config and trainer — is one module per
trainer in `ftwizard/train/trainers/<name>.py`, found by name (no second registry to edit).

Adding a trainer = one `TrainerSpec(...)` line here + one file `train/trainers/<name>.py` with `build(ctx)`.
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


def _register(*specs: TrainerSpec) -> dict[str, TrainerSpec]:
    return {s.name: s for s in specs}


TRAINERS: dict[str, TrainerSpec] = _register(
    TrainerSpec("sft", "Supervised fine-tuning", ("alpaca", "sharegpt", "openai", "prompt_completion", "text"),
                "teach a format, style or task from example answers", 2e-4, 2e-5),
    TrainerSpec("dpo", "Direct preference optimization", ("preference",),
                "prefer the chosen answer over the rejected one (pairs)", 5e-6, 5e-7,
                metrics=("rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies"),
                reference_model=True, check="preference"),
)


def trainer_spec(name: str) -> TrainerSpec:
    try:
        return TRAINERS[name]
    except KeyError:
        raise ValueError(f"unknown trainer {name!r}: known trainers are {', '.join(TRAINERS)}") from None


def trainer_for_family(family: str | None) -> str:
    """The default objective for a dataset family (SFT for anything it takes)."""
    for spec in TRAINERS.values():
        if family in spec.families:
            return spec.name
    return "sft"
