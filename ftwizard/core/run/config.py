"""The typed run config: everything the trainer needs, saved as `<run>/config.yaml`.

Like TRL's `*Config` dataclasses and LitGPT's `TrainArgs`: every field has a type, a help text, and the checks
run when the config is built (`__post_init__`), so a bad value stops *before* anything is loaded, with one line
that names the field, the value and what is allowed. Numbers that YAML 1.1 reads as strings (`2e-4`) are coerced
by the field's type. `ftwizard train --check CONFIG` runs exactly these checks.
"""

from __future__ import annotations

import difflib
import math
import re
import types
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

import yaml

from ftwizard.core.trainers import TRAINERS

Method = Literal["full", "lora", "qlora", "dora", "prefix", "prompt", "ia3"]
Precision = Literal["auto", "bf16", "fp16", "fp32"]
Engine = Literal["auto", "ddp", "fsdp", "deepspeed", "zero2", "zero3"]
TargetPreset = Literal["all-linear", "minimal", "attention"]

METHODS: tuple[str, ...] = get_args(Method)
ADAPTER_METHODS: tuple[str, ...] = tuple(m for m in METHODS if m != "full")
PRECISIONS: tuple[str, ...] = get_args(Precision)
ENGINES: tuple[str, ...] = get_args(Engine)
TARGET_PRESETS: tuple[str, ...] = get_args(TargetPreset)
# when each method makes sense, one line each (reference sheets 000, 002 and 004)
METHOD_WHY: dict[str, str] = {
    "full": "all weights: the most capacity, for lots of data and several GPUs; the highest risk of forgetting",
    "lora": "~0.5% of the weights in small matrices, merged with no inference cost: the usual choice",
    "qlora": "LoRA on a 4-bit base: about half of LoRA's memory, a little slower and a little less exact",
    "dora": "LoRA split into magnitude and direction: better than LoRA at the same rank, somewhat slower",
    "prefix": "trainable vectors before every layer's keys/values: <0.1% of the weights, very fast, less "
              "expressive than LoRA (task-specific prompting)",
    "prompt": "a few trainable soft-prompt tokens: the least memory and the lowest quality; one narrow task, "
              "big models",
    "ia3": "learned scalings of keys, values and the MLP: ~0.01% of the weights, the fastest, moderate quality",
}
# transformers' `OptimizerNames` and `SchedulerType` values (copied: the core imports no transformers)
OPTIMIZERS = (
    "adamw_torch", "adamw_torch_fused", "adafactor", "adamw_anyprecision", "adamw_torch_4bit", "adamw_torch_8bit",
    "ademamix", "sgd", "adagrad", "adamw_bnb_8bit", "adamw_8bit", "ademamix_8bit", "lion_8bit", "lion_32bit",
    "paged_adamw_32bit", "paged_adamw_8bit", "paged_ademamix_32bit", "paged_ademamix_8bit", "paged_lion_32bit",
    "paged_lion_8bit", "rmsprop", "rmsprop_bnb", "rmsprop_bnb_8bit", "rmsprop_bnb_32bit", "galore_adamw",
    "galore_adamw_8bit", "galore_adafactor", "lomo", "adalomo", "grokadamw", "schedule_free_radam",
    "schedule_free_adamw", "schedule_free_sgd", "apollo_adamw", "stable_adamw",
)
SCHEDULERS = (
    "linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup", "inverse_sqrt",
    "reduce_lr_on_plateau", "cosine_with_min_lr", "cosine_warmup_with_min_lr", "warmup_stable_decay",
)


MAX_STEPS = 10**9  # steps (max_steps, eval/save/logging_steps): far past any real run, far below an overflow
MAX_EPOCHS = 10_000


def load_yaml(text: str) -> Any:
    """A config file's YAML (safe, no aliases): every run config and TRL config goes through here.
    ConfigError in one line for an alias, yaml.YAMLError for invalid YAML."""
    from ftwizard.core.yamlsafe import YamlAliasError
    from ftwizard.core.yamlsafe import load_yaml as _load

    try:
        return _load(text)
    except YamlAliasError as exc:
        raise ConfigError("config", f"*{exc.anchor}", "no YAML aliases",
                          f"YAML aliases are not allowed in a run config (*{exc.anchor} at line {exc.line}): "
                          "write the value out where it is used") from None


class ConfigError(ValueError):
    """A config value that cannot run. `str()` is the one line to show; `reason` is the short complaint a form shows
    beside the field ("must be at least 1", "'two' is not a whole number")."""

    def __init__(self, name: str, value: Any, allowed: str, message: str | None = None,
                 reason: str | None = None) -> None:
        self.field, self.value, self.allowed = name, value, allowed
        self.reason = reason or f"{value!r} is not allowed"
        super().__init__(message or f"{name}: {value!r} is not allowed — {allowed}")

    def short(self) -> str:
        """The complaint and, when it does not already say it, what is allowed: the line a form shows."""
        return self.reason if self.allowed in self.reason else f"{self.reason} ({self.allowed})"


@dataclass(frozen=True)
class Rule:
    """What one field allows beyond its type: a range (open or closed ends), a set of names, or a test; `allowed` is
    the words that say it. Every reader of a value (YAML, `--check`, `trl import`, the app's forms, CLI flags) runs
    the same rule through `check_value`."""

    allowed: str
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    choices: tuple[str, ...] | None = None
    also: tuple[Any, ...] = ()  # values allowed outside the range (max_steps' -1, "empty")
    test: Any = None  # value → bool, for what a range or a set cannot say

    def problem(self, value: Any) -> str | None:
        """None when `value` is allowed, else the short complaint."""
        if value in self.also:
            return None
        if self.choices is not None and value not in self.choices:
            return "choose one of " + ", ".join(self.choices) if len(self.choices) <= 12 else \
                f"{value!r} is not one of the names it takes"
        if isinstance(value, int | float) and not isinstance(value, bool):
            if value != value or value in (math.inf, -math.inf):
                return "must be a finite number"
            if self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo):
                return f"must be {'more than' if self.lo_open else 'at least'} {self.lo:g}"
            if self.hi is not None and (value >= self.hi if self.hi_open else value > self.hi):
                return f"must be {'below' if self.hi_open else 'at most'} {self.hi:g}"
        if self.test is not None and not self.test(value):
            return f"{value!r} is not allowed"
        return None


def _help(text: str, default: Any = MISSING, factory: Any = MISSING, rule: Rule | None = None) -> Any:
    meta = {"help": text, **({"rule": rule} if rule is not None else {})}
    if factory is not MISSING:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def _span(lo: float, hi: float, what: str, **kw: Any) -> Rule:
    return Rule(what, lo=lo, hi=hi, **kw)


def _modules_ok(v: Any) -> bool:
    if isinstance(v, str):
        return bool(v.strip())
    return bool(v) and all(t.strip() for t in v)


def _split_ok(v: list[float]) -> bool:
    return len(v) == 3 and all(0 <= x <= 1 for x in v) and abs(sum(v) - 1) < 1e-6 and v[0] > 0


def _template_ok(v: str) -> bool:
    return v in ("auto", "chatml") or v.endswith((".jinja", ".j2", ".txt"))


def _hub_id_ok(v: str | None) -> bool:
    return v is None or re.fullmatch(r"[\w.-]+(/[\w.-]+)?", v) is not None


@dataclass
class RunConfig:
    """One training run. Field order = the order in config.yaml."""

    model: str = _help("Local folder with config.json, a .gguf file (converted once), or a Hub id (cached, or "
                       "downloaded when allowed).", "")
    model_gguf: str | None = _help("The .gguf file `model` was converted from (written by ftwizard; the Ollama "
                                   "export starts from it).", None)
    data: str = _help("Dataset file/folder, a Hub dataset id, or a split folder with train/validation/test.jsonl.", "")
    data_format: str | None = _help("Dataset family (detected when empty): alpaca, sharegpt, openai, preference, …", None,
        rule=Rule("a dataset family name, or leave it out", also=(None,), test=lambda v: bool(v.strip())))
    data_subset: str | None = _help("Hub dataset: the subset (config name), if it has several.", None)
    data_split: str = _help("Hub dataset: the split to read (e.g. train).", "train")
    data_revision: str | None = _help("Hub dataset: a branch, tag or commit (default: main).", None)
    data_allow_download: bool = _help("Download a Hub dataset that is not in the local cache.", False)
    trainer: str = _help("Training objective: " + ", ".join(TRAINERS) + ".", "sft",
        rule=Rule("one of " + ", ".join(TRAINERS), choices=tuple(TRAINERS)))
    method: Method = _help("full (all weights), lora, qlora (4-bit base + LoRA), dora, prefix, prompt or ia3.", "lora")
    init_from: str | None = _help("Start from a finished run, an adapter or a model folder (SFT, then DPO on the "
                                  "SFT result): its model becomes `model`; its adapter keeps training.", None)
    rank: int = _help("LoRA rank r (1–1024): 8 simple tasks, 16–32 domain, 64+ complex.", 16,
        rule=_span(1, 1024, "a LoRA rank from 1 to 1024 (8–64 is typical)"))
    alpha: int = _help("LoRA alpha (scaling = alpha / rank); usually 2 × rank.", 32,
        rule=_span(1, 65536, "a whole number from 1 to 65536 (usually 2 × rank)"))
    dropout: float = _help("LoRA dropout in [0, 1).", 0.05,
        rule=_span(0, 1, "a fraction in [0, 1)", hi_open=True))
    target_modules: str | list[str] = _help("LoRA targets: all-linear, minimal, attention, or module names.", "all-linear",
        rule=Rule("all-linear, minimal, attention, or a list of module names", test=_modules_ok))
    virtual_tokens: int = _help("Prefix/prompt tuning: trainable virtual tokens (1–512; 20 typical).", 20,
        rule=_span(1, 512, "1 to 512 virtual tokens (20 typical)"))
    max_seq_length: int = _help("Longest sequence in tokens (longer rows are truncated).", 1024,
        rule=_span(8, 1_048_576, "tokens, from 8 to 1048576"))
    micro_batch: int = _help("Examples per GPU per forward pass.", 4,
        rule=_span(1, 4096, "a whole number from 1 to 4096"))
    gradient_accumulation: int = _help("Micro-batches per optimizer step (effective batch = micro × accum × GPUs).", 4,
        rule=_span(1, 65536, "a whole number from 1 to 65536"))
    learning_rate: float = _help("Peak learning rate (SFT LoRA ~2e-4, full ~2e-5, DPO/KTO ~5e-6).", 2e-4,
        rule=_span(0, 1, "a number between 0 and 1, e.g. 2e-4", lo_open=True))
    epochs: float = _help("Passes over the training split (> 0).", 3.0,
        rule=_span(0, MAX_EPOCHS, f"a number of passes > 0 and at most {MAX_EPOCHS} (e.g. 3); use max_steps for a "
                    "fixed step count", lo_open=True))
    max_steps: int = _help("Stop after this many optimizer steps (-1: use epochs).", -1,
        rule=_span(1, MAX_STEPS, f"-1 (use epochs) or a step count from 1 to {MAX_STEPS}", also=(-1,)))
    warmup_ratio: float = _help("Fraction of steps with a rising learning rate, in [0, 1).", 0.03,
        rule=_span(0, 1, "a fraction in [0, 1)", hi_open=True))
    lr_scheduler: str = _help("Learning-rate schedule (transformers SchedulerType).", "cosine",
        rule=Rule("one of " + ", ".join(SCHEDULERS), choices=SCHEDULERS))
    weight_decay: float = _help("AdamW weight decay (≥ 0).", 0.01,
        rule=_span(0, 10, "a number from 0 to 10 (0.01 typical)"))
    gradient_checkpointing: bool = _help("Recompute activations in backward: less memory, ~30% slower.", False)
    optimizer: str = _help("transformers optimizer name (adamw_torch, paged_adamw_8bit, …).", "adamw_torch",
        rule=Rule("a transformers optimizer, e.g. adamw_torch, adamw_torch_fused, adamw_bnb_8bit, "
                    "paged_adamw_8bit, adafactor", choices=OPTIMIZERS))
    precision: Precision = _help("auto (bf16 if the GPU has it, else fp16; fp32 on the CPU), bf16, fp16, fp32.", "auto")
    packing: bool = _help("Pack several short rows into one sequence (faster on short rows).", False)
    assistant_only_loss: bool = _help("Compute the loss on the answers only (the prompt is masked).", True)
    chat_template: str = _help("auto (the model's, or ChatML when it has none), chatml, or a .jinja file.", "auto",
        rule=Rule("auto, chatml, or the path of a .jinja template file", test=_template_ok))
    eval_steps: int = _help("Evaluate on the validation split every N steps.", 50,
        rule=_span(1, MAX_STEPS, f"a step count from 1 to {MAX_STEPS}"))
    eval_on_start: bool = _help("Evaluate once before the first step: the base model's eval loss to compare with.",
                                False)
    logging_steps: int = _help("Log loss/LR every N steps.", 5,
        rule=_span(1, MAX_STEPS, f"a step count from 1 to {MAX_STEPS}"))
    save_steps: int = _help("Save a checkpoint every N steps.", 100,
        rule=_span(1, MAX_STEPS, f"a step count from 1 to {MAX_STEPS}"))
    save_total_limit: int = _help("Keep at most N checkpoints (oldest deleted).", 3,
        rule=_span(1, 100_000, "from 1 (resume needs a checkpoint) to 100000"))
    split: list[float] = _help("train/validation/test fractions, summing to 1.", factory=lambda: [0.8, 0.1, 0.1],
        rule=Rule("three fractions train, validation, test that sum to 1, e.g. [0.8, 0.1, 0.1]", test=_split_ok))
    seed: int = _help("Random seed (split, init, data order).", 42,
        rule=_span(0, 2**32 - 1, f"a whole number from 0 to {2**32 - 1}"))
    dpo_beta: float = _help("Preference beta (> 0): how far the model may move from the reference (for odds-ratio "
                            "preference, the weight of its preference term); each trainer starts from its own.", 0.1,
        rule=_span(0, 100, "a number in (0, 100] (0.1 is typical)", lo_open=True))
    dpo_loss_type: str = _help("DPO loss type (sigmoid, ipo, hinge, …).", "sigmoid")
    kto_desirable_weight: float = _help("KTO weight of the good (label true) rows; raise it when they are fewer.", 1.0,
        rule=_span(0, 1000, "a weight in (0, 1000] (1.0 typical)", lo_open=True))
    kto_undesirable_weight: float = _help("KTO weight of the bad (label false) rows.", 1.0,
        rule=_span(0, 1000, "a weight in (0, 1000] (1.0 typical)", lo_open=True))
    simpo_gamma: float = _help("Target reward margin of length-normalized preference (≥ 0; gamma/beta ≈ 0.5).", 0.5,
        rule=_span(0, 100, "a margin from 0 to 100 (0.5 typical)"))
    grpo_num_generations: int = _help("GRPO completions per prompt (2–64); micro_batch × accumulation × GPUs must be "
                                      "a multiple of it.", 8,
        rule=_span(2, 64, "2 to 64 completions per prompt (8 typical)"))
    grpo_max_completion_length: int = _help("GRPO: longest generated completion in tokens (1–32768).", 256,
        rule=_span(1, 32768, "tokens, from 1 to 32768"))
    grpo_rewards: list[str] = _help("GRPO rewards: exact_match, char_match, format, regex:PATTERN, length_penalty, "
                                    "or path/to/module.py:function.", factory=lambda: ["exact_match"],
        rule=Rule("at least one reward: exact_match, char_match, format, regex:PATTERN, length_penalty or "
                    "file.py:function", test=lambda v: bool(v) and all(r.strip() for r in v)))
    grpo_kl_beta: float = _help("GRPO KL penalty to the starting model (0: none, no reference copy; 0.04 classic).", 0.0,
        rule=_span(0, 100, "a number from 0 (no KL penalty) to 100"))
    grpo_temperature: float = _help("GRPO sampling temperature (> 0; 1.0 keeps the completions varied).", 1.0,
        rule=_span(0, 100, "a temperature in (0, 100] (1.0 typical)", lo_open=True))
    grpo_reward_timeout: float = _help("GRPO: seconds one reward function may take on one batch before the run "
                                       "fails, naming it (1–86400).", 60.0,
        rule=_span(1, 86400, "seconds from 1 to 86400 (60 default)"))
    teacher_model: str = _help("GKD teacher: a local folder or Hub id of a larger model with the same tokenizer.", "")
    gkd_lmbda: float = _help("GKD: share of batches the student generates itself, in [0, 1].", 0.5,
        rule=_span(0, 1, "a fraction in [0, 1]"))
    engine: Engine = _help("Several GPUs: auto, ddp, fsdp, deepspeed (zero2/zero3).", "auto")
    num_gpus: int = _help("GPUs to use (1–64).", 1,
        rule=_span(1, 64, "a whole number from 1 to 64"))
    accelerate_config: str | None = _help("Several GPUs: your own `accelerate config` YAML, used unchanged.", None)
    deepspeed_config: str | None = _help("Several GPUs: your own DeepSpeed JSON, used unchanged (needs deepspeed).",
                                         None)
    report_to: list[str] = _help("Experiment trackers: tensorboard, wandb, trackio, mlflow (installed ones).",
                                 factory=list)
    push_to_hub: bool = _help("Upload the result to the Hugging Face Hub (token: `hf auth login` or HF_TOKEN).", False)
    hub_model_id: str | None = _help("Hub repository for push_to_hub: `name` or `owner/name`.", None,
        rule=Rule("`name` or `owner/name` (letters, digits, - _ .)", test=_hub_id_ok))
    hub_private: bool = _help("Create the Hub repository as private.", True)
    trainer_args: dict[str, Any] = _help("Any other TRL/transformers config field, passed as is "
                                         "(e.g. max_grad_norm: 0.5).", factory=dict)
    trust_remote_code: bool = _help("Run the model repository's own Python code. Only for authors you trust.", False)
    preflight_steps: int = _help("Steps on the longest batch before training, to catch an OOM in seconds (0: off; "
                                 "at most 2: the first catches the OOM, the second times a warm step for the time estimate).", 2,
        rule=_span(0, 100, "0 (off) to 100"))
    auto_fit: bool = _help("If the first step does not fit the GPU: lower the micro-batch (same effective batch) or "
                           "turn on gradient checkpointing, say so, and go on (off: stop with the fix).", True)
    estimate_gib: float | None = _help("Predicted peak GPU memory (written by the planner).", None,
        rule=_span(0, 1e6, "0 to 1000000 GiB", also=(None,)))
    estimate_ram_gib: float | None = _help("Predicted peak RAM of the trainer process on a CPU: the tensors plus "
                                           "Python, PyTorch and the libraries (written by the planner).", None,
        rule=_span(0, 1e6, "0 to 1000000 GiB", also=(None,)))
    estimate_hours: float | None = _help("Planned training time in hours on the planned GPU (written by the "
                                         "planner; the run card compares it with the real time).", None,
        rule=_span(0, 1e6, "0 to 1000000 hours", also=(None,)))
    # test hooks (never set by the app): inject a fault to exercise the diagnosis path
    debug_inject_nan_at_step: int | None = _help("Test hook: make the weights NaN at this step.", None,
        rule=_span(1, MAX_STEPS, f"empty, or a step from 1 to {MAX_STEPS}", also=(None,)))
    debug_sleep_per_step: float = _help("Test hook: sleep this many seconds per step.", 0.0,
        rule=_span(0, 3600, "0 to 3600 seconds"))
    debug_disk_full_at_step: int | None = _help("Test hook: raise 'no space left' at this step.", None,
        rule=_span(1, MAX_STEPS, f"empty, or a step from 1 to {MAX_STEPS}", also=(None,)))

    def __post_init__(self) -> None:
        _coerce(self)
        _check(self)

    # ---- YAML ----
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_dict(cls, d: Any) -> RunConfig:
        if not isinstance(d, dict):
            raise ConfigError("config", type(d).__name__, "a YAML mapping",
                              f"the file holds a {type(d).__name__}, not a mapping: write one `key: value` per line "
                              f"(see `ftwizard train --help`)")
        d = _unnest(d)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            key = unknown[0]
            hint = _did_you_mean(key, known)
            more = f" (and {', '.join(unknown[1:])})" if len(unknown) > 1 else ""
            raise ConfigError(key, d[key], "a known key", f"unknown key `{key}`{more}: {hint}"
                              "`ftwizard train --help-config` lists the known keys")
        return cls(**d)

    @classmethod
    def load(cls, path: str | Path) -> RunConfig:
        text = Path(path).read_text(encoding="utf-8")
        try:
            raw = load_yaml(text)
        except yaml.YAMLError as exc:
            from ftwizard.core.yamlsafe import yaml_problem

            raise ConfigError("config", Path(path).name, "valid YAML", yaml_problem(exc)) from None
        return cls.from_dict(raw if raw is not None else {})

    @classmethod
    def help_text(cls) -> dict[str, str]:
        from ftwizard.core.trainers import field_users

        out = {}
        for f in fields(cls):
            users = field_users(f.name)
            out[f.name] = str(f.metadata.get("help", "")) + (f" ({users})" if users else "")
        return out

    @property
    def is_adapter(self) -> bool:
        return self.method in ADAPTER_METHODS


def _did_you_mean(key: str, names: Any) -> str:
    """"did you mean `x`? " for the nearest of `names`, or "" (an unknown key and a misspelt nested setting)."""
    near = difflib.get_close_matches(key, sorted(names), n=1)
    return f"did you mean `{near[0]}`? " if near else ""


# ---- a trainer's own settings, nested under its name --------------------------------------------------------
def trainer_knobs(name: str) -> dict[str, str]:
    """A trainer's own settings as a nested block names them (`grpo: {num_generations: 4}`) → the RunConfig field:
    its TRL config keys (the spec's one map), the fields themselves, and the fields without the trainer's prefix."""
    spec = TRAINERS[name]
    out: dict[str, str] = {}
    own = ((f, f) for f in ((spec.needs,) if spec.needs else ()) + spec.reads)
    for trl_key, f in (*spec.keys, *own):
        out.setdefault(trl_key, f)
        out.setdefault(f, f)
        prefix = f.split("_", 1)[0]
        if prefix in TRAINERS and "_" in f:
            out.setdefault(f.split("_", 1)[1], f)
    return out


def short_knobs(name: str) -> list[str]:
    """A trainer's nested setting names, one per field (TRL's or the unprefixed name, not the flat field name)."""
    knobs = trainer_knobs(name)
    named = {f for k, f in knobs.items() if k != f}
    return sorted(k for k, f in knobs.items() if k != f or f not in named)


def _unnest(d: dict[Any, Any]) -> dict[Any, Any]:
    """A config with per-trainer blocks (`dpo: {beta: 0.2}`, `grpo: {num_generations: 4}`) as the flat fields the
    run reads (`dpo_beta`, `grpo_num_generations`); the flat form keeps working, and both at once must agree."""
    blocks = [k for k in d if k in TRAINERS]
    if not blocks:
        return d
    out = {k: v for k, v in d.items() if k not in TRAINERS}
    for name in blocks:
        block, knobs = d[name], trainer_knobs(name)
        if not isinstance(block, dict) or not knobs:
            raise ConfigError(name, block, "a block of that trainer's own settings",
                              f"`{name}:` holds a trainer's own settings as `key: value` lines"
                              + (f" ({', '.join(short_knobs(name))})" if knobs else
                                 f", and {name} has none: its TRL fields go in trainer_args"))
        for key, value in block.items():
            if key not in knobs:
                raise ConfigError(f"{name}.{key}", value, "one of its settings",
                                  f"`{name}.{key}` is not one of {name}'s own settings: "
                                  f"{_did_you_mean(str(key), knobs)}it takes "
                                  f"{', '.join(short_knobs(name))}; any other TRL field goes in trainer_args")
            flat = knobs[key]
            if flat in out and out[flat] != value:
                raise ConfigError(flat, value, "one value", f"`{name}.{key}` ({value!r}) and `{flat}` ({out[flat]!r}) "
                                  "are the same setting with different values: keep one")
            out[flat] = value
    return out


# ---- coercion by field type --------------------------------------------------------------------------------
_HINTS: dict[str, Any] | None = None


def _hints() -> dict[str, Any]:
    global _HINTS
    if _HINTS is None:
        _HINTS = get_type_hints(RunConfig)
    return _HINTS


def _options(tp: Any) -> tuple[Any, ...]:
    return get_args(tp) if get_origin(tp) in (Union, types.UnionType) else (tp,)


_NEXT = object()  # a coercer's "not this option of the union: try the next one"
_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def _only(opts: tuple[Any, ...], *kinds: Any) -> bool:
    """True when every option of the union (None aside) is one of `kinds` (then a miss is an error, not a retry)."""
    return all(o is type(None) or o in kinds or get_origin(o) in kinds for o in opts)


def _to_literal(name: str, value: Any, opt: Any, opts: tuple[Any, ...]) -> Any:
    if value in get_args(opt):
        return value
    if _only(opts, Literal):
        names = ", ".join(map(str, get_args(opt)))
        raise ConfigError(name, value, "one of " + names, reason="choose one of " + names)
    return _NEXT


def _to_bool(name: str, value: Any, opt: Any, opts: tuple[Any, ...]) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    if _only(opts, bool):
        raise ConfigError(name, value, "true or false", reason=f"say yes or no, not {value!r}")
    return _NEXT


def _to_int(name: str, value: Any, opt: Any, opts: tuple[Any, ...]) -> Any:
    if isinstance(value, bool):
        raise ConfigError(name, value, "a whole number", reason=f"{value!r} is not a whole number")
    if isinstance(value, int):
        return value
    if isinstance(value, float | str):
        try:
            f = float(value.strip()) if isinstance(value, str) else value
        except ValueError:
            f = math.nan
        if f.is_integer():
            return int(f)
    if float not in opts:
        raise ConfigError(name, value, "a whole number", reason=f"{str(value)!r} is not a whole number")
    return _NEXT


def _to_float(name: str, value: Any, opt: Any, opts: tuple[Any, ...]) -> Any:
    if isinstance(value, bool):
        raise ConfigError(name, value, "a number", reason=f"{value!r} is not a number")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            raise ConfigError(name, value, "a number (e.g. 2e-4)", reason=f"{value!r} is not a number") from None
    raise ConfigError(name, value, "a number", reason=f"{value!r} is not a number")


def _to_str(name: str, value: Any, opt: Any, opts: tuple[Any, ...]) -> Any:
    has_list = any(get_origin(o) is list for o in opts)
    if isinstance(value, str):
        many = "," in value or len(value.split()) > 1
        return _NEXT if (many and has_list) else value  # "q_proj, v_proj" or "q_proj v_proj" → the list option
    if not has_list:
        raise ConfigError(name, value, "text")
    return _NEXT


def _to_dict(name: str, value: Any, opt: Any, opts: tuple[Any, ...]) -> Any:
    if not isinstance(value, dict):
        raise ConfigError(name, value, "a mapping of `key: value` lines")
    return {str(k): v for k, v in value.items()}


def _to_list(name: str, value: Any, opt: Any, opts: tuple[Any, ...]) -> Any:
    (item,) = get_args(opt) or (Any,)
    if isinstance(value, str) and item is str:  # a name-or-list field also splits on spaces (module names have none)
        parts = value.split(",") if (str not in opts or "," in value) else value.split()
        return [v.strip() for v in parts if v.strip()]
    if not isinstance(value, list | tuple):
        raise ConfigError(name, value, "a list")
    if item is float:
        return [_coerce_one(f"{name}[{i}]", v, float) for i, v in enumerate(value)]
    return [str(v) for v in value] if item is str else list(value)


# a field's type (or its generic origin) → the coercer that reads a YAML/CLI/form value as that type
_COERCERS: dict[Any, Any] = {Literal: _to_literal, bool: _to_bool, int: _to_int, float: _to_float, str: _to_str,
                             dict: _to_dict, list: _to_list}


def _coerce_one(name: str, value: Any, tp: Any) -> Any:
    """`value` read as the field's type `tp` (a union tries its options in order), else a ConfigError that says what
    the field takes."""
    opts = _options(tp)
    if value is None:
        if type(None) in opts:
            return None
        raise ConfigError(name, value, "a value is required")
    for opt in opts:
        coercer = _COERCERS.get(get_origin(opt) or opt)
        if coercer is None:
            continue
        out = coercer(name, value, opt, opts)
        if out is not _NEXT:
            return out
    raise ConfigError(name, value, f"expected {tp}")


def _coerce(cfg: RunConfig) -> None:
    hints = _hints()
    for f in fields(cfg):
        setattr(cfg, f.name, _coerce_one(f.name, getattr(cfg, f.name), hints[f.name]))


# ---- range checks ------------------------------------------------------------------------------------------
def _need(ok: bool, name: str, value: Any, allowed: str) -> None:
    if not ok:
        raise ConfigError(name, value, allowed)


def field_type(name: str) -> Any:
    """The field's type (e.g. `bool`, `int`, `str | list[str]`)."""
    return _hints()[name]


_RULES: dict[str, Rule] | None = None


def _rules() -> dict[str, Rule]:
    """Field name → its Rule, in field order (fields whose type says all about them have none)."""
    global _RULES
    if _RULES is None:
        _RULES = {f.name: f.metadata["rule"] for f in fields(RunConfig) if "rule" in f.metadata}
    return _RULES


def _apply_rule(name: str, value: Any) -> None:
    """ConfigError (with `.reason` for a form) when `value` breaks the field's rule."""
    rule = _rules().get(name)
    if rule is not None and (problem := rule.problem(value)) is not None:
        raise ConfigError(name, value, rule.allowed, reason=problem)


def check_value(name: str, value: Any) -> Any:
    """`value` (YAML, a form's text, a CLI flag) read as the field's type and checked against its rule: the one
    validator of a single field. ConfigError (with `.reason` for a form) when it cannot run."""
    out = _coerce_one(name, value, _hints()[name])
    _apply_rule(name, out)
    return out


def _check(c: RunConfig) -> None:
    """Every field's own rule, then the rules between fields."""
    for name in _rules():
        _apply_rule(name, getattr(c, name))
    _check_objectives(c)
    _check_portable(c)


def _check_objectives(c: RunConfig) -> None:
    """The rules between an objective's knobs and the batch (which trainer reads which field: core/trainers.py)."""
    divisor = spec.batch_divisor if (spec := TRAINERS.get(c.trainer)) else ""
    if divisor:  # the generation-based RL trainers: each prompt's completions are scored together, in one batch
        batch = c.micro_batch * c.gradient_accumulation * c.num_gpus
        _need(batch % getattr(c, divisor) == 0, divisor, getattr(c, divisor),
              f"a divisor of micro_batch × gradient_accumulation × num_gpus = {batch} (each prompt's completions "
              "are scored together)")
    if spec is not None and spec.min_micro_batch[0] > 1:
        least, why = spec.min_micro_batch
        _need(c.micro_batch >= least, "micro_batch", c.micro_batch, f"at least {least} for {c.trainer.upper()} ({why})")
    from ftwizard.core.data.formats import FAMILIES

    if spec is not None and c.data_format in FAMILIES and c.data_format not in spec.families:
        takers = [t.name for t in TRAINERS.values() if c.data_format in t.families]
        _need(False, "trainer", c.trainer, f"a trainer for {c.data_format} data (data_format): {', '.join(takers)} — "
              f"{c.trainer.upper()} trains on {' or '.join(spec.families)} data")
    if spec is not None and spec.needs:  # a field the objective cannot run without (its TrainerSpec says which)
        value = getattr(c, spec.needs)
        _need(bool(str(value or "").strip()), spec.needs, value,
              f"{c.trainer.upper()} needs it — {_field_help(spec.needs)}")


def _check_portable(c: RunConfig) -> None:
    """Trackers, the Hub, pass-through TRL fields, your own accelerate/DeepSpeed config (what can be checked from
    the config alone; `config_load.check_environment` adds what this machine must have)."""
    from ftwizard.core.run.trl_import import TRACKERS, trainer_args_problem

    for name in c.report_to:
        _need(name in TRACKERS, "report_to", name, "tensorboard, wandb, trackio or mlflow")
    if c.push_to_hub:
        _need(bool(c.hub_model_id), "hub_model_id", c.hub_model_id, "the Hub repository to push to, e.g. me/my-model")
    problem = trainer_args_problem(c.trainer, c.trainer_args)
    _need(problem is None, "trainer_args", sorted(c.trainer_args), problem or "")
    _need(not (c.accelerate_config and c.deepspeed_config), "deepspeed_config", c.deepspeed_config,
          "give accelerate_config or deepspeed_config, not both (an accelerate config can name a DeepSpeed file)")


def _field_help(name: str) -> str:
    """A RunConfig field's help text (what `train --help-config` prints)."""
    return RunConfig.help_text().get(name) or name
