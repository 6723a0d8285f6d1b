"""TRL CLI key names ↔ RunConfig fields: check `trainer_args:` (the pass-through to the TRL config) and turn a
TRL CLI config (`trl sft --config X.yaml`) into a RunConfig, saying what went where.

Pure: the TRL/transformers field names come from the generated list in `trl_fields.py`, so `train --check` needs
neither library. The trainer re-checks `trainer_args` against the real config class before the model loads.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ftwizard.core.run.trl_fields import TRAINING_ARGUMENTS, class_defaults, class_fields
from ftwizard.core.trainers import TRAINERS

# report_to name → the package that provides it (also its pip name)
TRACKERS: dict[str, str] = {"tensorboard": "tensorboard", "wandb": "wandb", "trackio": "trackio", "mlflow": "mlflow"}

# per trainer, read from its TrainerSpec (core/trainers.py): the TRL config class, its own TRL keys → RunConfig
# fields, and the keys its module sets itself
TRAINER_CONFIG: dict[str, str] = {n: s.config_class for n, s in TRAINERS.items()}
TRAINER_KEYS: dict[str, dict[str, str]] = {n: dict(s.keys) for n, s in TRAINERS.items()}
TRAINER_SETS: dict[str, tuple[str, ...]] = {n: s.module_keys for n, s in TRAINERS.items()}

# TRL config key → the RunConfig field ftwizard sets it from, for every trainer (so `trainer_args` may not set it)
TRL_FROM_CONFIG: dict[str, str] = {
    "per_device_train_batch_size": "micro_batch", "per_device_eval_batch_size": "micro_batch",
    "gradient_accumulation_steps": "gradient_accumulation", "learning_rate": "learning_rate",
    "num_train_epochs": "epochs", "max_steps": "max_steps", "warmup_steps": "warmup_ratio",
    "warmup_ratio": "warmup_ratio", "lr_scheduler_type": "lr_scheduler", "weight_decay": "weight_decay",
    "gradient_checkpointing": "gradient_checkpointing", "optim": "optimizer", "seed": "seed",
    "logging_steps": "logging_steps", "eval_steps": "eval_steps", "save_steps": "save_steps",
    "save_total_limit": "save_total_limit", "max_length": "max_seq_length", "trust_remote_code": "trust_remote_code",
    "report_to": "report_to", "push_to_hub": "push_to_hub", "hub_model_id": "hub_model_id",
    "hub_private_repo": "hub_private", "bf16": "precision", "fp16": "precision",
}


def mapped_field(trainer: str, key: str) -> str | None:
    """The RunConfig field a TRL key of this trainer's config comes from (None: not one of ftwizard's)."""
    return TRAINER_KEYS.get(trainer, {}).get(key) or TRL_FROM_CONFIG.get(key)
# set by ftwizard itself (the run directory contract) or by a trainer module, never by `trainer_args`
RESERVED: dict[str, str] = {
    "output_dir": "ftwizard writes checkpoints to <run>/checkpoints (choose the run with --out)",
    "save_strategy": "ftwizard saves every save_steps", "eval_strategy": "ftwizard evaluates every eval_steps",
    "logging_nan_inf_filter": "ftwizard must see NaN losses to diagnose them",
    "hub_token": "the token is read from `hf auth login` or HF_TOKEN, never from a file",
    "push_to_hub_token": "the token is read from `hf auth login` or HF_TOKEN, never from a file",
}


def trl_fields(trainer: str) -> frozenset[str]:
    """Every field of the trainer's TRL config class (TrainingArguments' included)."""
    spec = TRAINERS.get(trainer)
    return TRAINING_ARGUMENTS | (class_fields(spec.trl_config) if spec else frozenset())


def config_class_path(trainer: str) -> str:
    """`module:Class` of the trainer's TRL config (TrainingArguments for a trainer not listed)."""
    spec = TRAINERS.get(trainer)
    return spec.trl_config if spec else "transformers:TrainingArguments"


def trainer_args_problem(trainer: str, args: dict[str, Any], known: frozenset[str] | None = None) -> str | None:
    """None when every `trainer_args` key may be passed to the trainer's TRL config, else what is wrong (one line)."""
    known = trl_fields(trainer) if known is None else known
    cls = TRAINER_CONFIG.get(trainer, "TrainingArguments")
    unknown = sorted(k for k in args if k not in known)
    if unknown:
        import difflib

        near = sorted({m for k in unknown for m in difflib.get_close_matches(k, sorted(known), n=2, cutoff=0.75)})
        spec = TRAINERS.get(trainer)
        own = sorted(class_fields(spec.trl_config) - set(TRAINER_SETS.get(trainer, ()))) if spec else []
        listed = ", ".join(own[:10]) + (f", … ({len(own)} in all)" if len(own) > 10 else "")
        hint = (f"did you mean {' or '.join(near)}? " if near else f"{cls}'s own keys: {listed}; " if own else "")
        return f"not a field of {cls}: {', '.join(unknown)} ({hint}see `ftwizard train --help-config` and TRL's docs)"
    mapped = sorted(k for k in args if mapped_field(trainer, k))
    if mapped:
        return "set these with their config keys instead: " + ", ".join(f"{k} → {mapped_field(trainer, k)}:"
                                                                        for k in mapped)
    reserved = sorted(k for k in args if k in RESERVED)
    if reserved:
        return "; ".join(f"{k}: {RESERVED[k]}" for k in reserved)
    own = sorted(k for k in args if k in TRAINER_SETS.get(trainer, ()))
    if own:
        return f"set by the {trainer} trainer itself: {', '.join(own)}"
    wild = sorted(k for k, v in args.items() if not _sane_number(v))
    if wild:
        return ("out of range: " + ", ".join(f"{k}: {args[k]!r}" for k in wild)
                + f" (numbers passed to TRL must be finite and within ±{ARG_LIMIT:.0e})")
    return None


ARG_LIMIT = 1e9  # a trainer_args number past this is a typo (max_steps 10²³ trained at LR 1e-22), not a setting


def _sane_number(v: Any) -> bool:
    """A trainer_args value is sane unless a number (or a number in a list) is non-finite or past ±ARG_LIMIT."""
    import math

    if isinstance(v, bool):
        return True
    if isinstance(v, int | float):
        return math.isfinite(v) and abs(v) <= ARG_LIMIT
    if isinstance(v, list | tuple):
        return all(_sane_number(x) for x in v)
    if isinstance(v, dict):
        return all(_sane_number(x) for x in v.values())
    return True


# ---- a TRL CLI config → RunConfig ------------------------------------------------------------------------------
# ModelConfig / ScriptArguments keys (not in any TRL config class)
MODEL_KEYS: dict[str, str] = {"model_name_or_path": "model", "dataset_name": "data", "lora_r": "rank",
                              "lora_alpha": "alpha", "lora_dropout": "dropout", "lora_target_modules": "target_modules"}
IGNORED_KEYS: dict[str, str] = {
    "output_dir": "ftwizard writes to the run directory (--out)",
    "dataset_train_split": "ftwizard splits the data itself (split:)",
    "dataset_test_split": "ftwizard evaluates on its validation split",
    "dataset_config": "not used", "dataset_streaming": "not used", "model_revision": "not used",
    "attn_implementation": "not used", "bnb_4bit_quant_type": "QLoRA uses nf4", "use_bnb_nested_quant": "QLoRA nests",
    "lora_task_type": "CAUSAL_LM", "use_peft": "see method", "use_dora": "see method", "load_in_4bit": "see method",
    "dtype": "see precision", "eval_strategy": "ftwizard evaluates every eval_steps",
    "save_strategy": "ftwizard saves every save_steps", "per_device_eval_batch_size": "same as micro_batch",
}
DTYPES = {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32"}
# keys older TRL/transformers versions took, renamed since: old → new
RENAMED: dict[str, str] = {"max_seq_length": "max_length in TRL", "evaluation_strategy": "eval_strategy in transformers"}
LORA_KEYS = ("lora_r", "lora_alpha", "lora_dropout", "lora_target_modules")


def looks_like_trl(d: Any) -> bool:
    """A mapping with TRL CLI key names (model_name_or_path, dataset_name, per_device_train_batch_size, …)."""
    return isinstance(d, dict) and any(k in d for k in ("model_name_or_path", "dataset_name",
                                                        "per_device_train_batch_size", "num_train_epochs"))


def trainer_hint(path: str | Path | None, d: dict[str, Any]) -> str:
    """`trainer:` in the file, else `trl_<trainer>.yaml` / `<trainer>.yaml` in its name, else sft."""
    if isinstance(d.get("trainer"), str):
        return d["trainer"]
    stem = Path(path).stem.lower() if path else ""
    m = re.fullmatch(r"(?:trl_)?([a-z]+)(?:[_-].*)?", stem)
    if m and m.group(1) in TRAINER_CONFIG:
        return m.group(1)
    return "sft"


def from_trl(d: dict[str, Any], path: str | Path | None = None) -> tuple[dict[str, Any], list[str]]:
    """(RunConfig fields, lines saying what each TRL key became). ValueError naming the keys it cannot place."""
    trainer = trainer_hint(path, d)
    out: dict[str, Any] = {"trainer": trainer}
    lines = [f"trainer: {trainer}" + ("" if "trainer" in d else " (from the file name, or the default)")]
    known = trl_fields(trainer)
    extra: dict[str, Any] = {}
    unknown: list[str] = []
    for key, value in d.items():
        if key == "trainer":
            continue
        target = MODEL_KEYS.get(key) or mapped_field(trainer, key)
        if key in ("bf16", "fp16", "dtype", "use_peft", "use_dora", "load_in_4bit"):
            continue  # precision and method below
        if key == "warmup_steps":
            if isinstance(value, int | float) and 0 <= value < 1:
                out["warmup_ratio"] = value
                lines.append(f"warmup_steps: {value} → warmup_ratio")
            else:
                lines.append(f"warmup_steps: {value} → not mapped (ftwizard uses warmup_ratio: a fraction of steps)")
            continue
        if key == "per_device_eval_batch_size" or (target is None and key in IGNORED_KEYS):
            lines.append(f"{key}: {value} → ignored ({IGNORED_KEYS[key]})")
        elif target is not None:
            out[target] = _normalize(target, value)
            lines.append(f"{key} → {target}")
        elif key in known and key not in RESERVED and key not in TRAINER_SETS.get(trainer, ()):
            extra[key] = value
            lines.append(f"{key} → trainer_args")
        elif key in RESERVED or key in TRAINER_SETS.get(trainer, ()):
            lines.append(f"{key}: {value} → ignored ({RESERVED.get(key, f'set by the {trainer} trainer')})")
        else:
            unknown.append(key)
    if unknown:
        hints = [f"{k} was renamed to {RENAMED[k]}" for k in unknown if k in RENAMED]
        raise ValueError(f"not TRL {TRAINER_CONFIG.get(trainer, 'config')} or model keys: {', '.join(unknown)}"
                         + (f" ({'; '.join(hints)})" if hints else ""))
    lines += _trl_defaults(trainer, d, out)
    prec = "bf16" if d.get("bf16") else "fp16" if d.get("fp16") else DTYPES.get(str(d.get("dtype")), None)
    if prec is None and (d.get("use_cpu") or d.get("bf16") is False):
        prec = "fp32"
    if prec:
        out["precision"] = prec
        lines.append(f"bf16/fp16/dtype → precision: {prec}")
    method = ("qlora" if d.get("load_in_4bit") else "dora" if d.get("use_dora") else "lora") if d.get("use_peft") \
        else "full"
    out["method"] = method
    lines.append(f"use_peft/use_dora/load_in_4bit → method: {method}")
    lora = [k for k in LORA_KEYS if k in d]
    if method == "full" and lora:
        lines.append(f"warning: {', '.join(lora)} set but not use_peft: true, so TRL (and ftwizard) train all "
                     "weights (method: full); add use_peft: true to train a LoRA adapter")
    if extra:
        out["trainer_args"] = extra
    return out, lines


def _normalize(target: str, value: Any) -> Any:
    """TRL spellings ftwizard's fields take differently: `report_to: none`, `loss_type: [sigmoid]`."""
    if target == "report_to":
        names = [value] if isinstance(value, str) else list(value or [])
        return [n for n in names if n not in ("none", "all")]
    if target == "dpo_loss_type" and isinstance(value, list) and len(value) == 1:
        return value[0]
    return value


def _trl_defaults(trainer: str, d: dict[str, Any], out: dict[str, Any]) -> list[str]:
    """What TRL would use for the keys the file leaves out (its defaults differ from ftwizard's: learning rate,
    batch size, scheduler, gradient checkpointing, …), so `ftwizard train` trains what `trl` would."""
    defaults = class_defaults(config_class_path(trainer))
    defaults.setdefault("eval_steps", d.get("logging_steps", defaults.get("logging_steps")))  # TRL: = logging_steps
    lines = []
    for key, value in defaults.items():
        target = mapped_field(trainer, key)
        if key in d or target is None or target in out or value is None:
            continue
        if key == "warmup_steps":
            target = "warmup_ratio"
        value = _normalize(target, value)
        out[target] = value
        lines.append(f"{key}: {value} (TRL's default) → {target}")
    return lines
