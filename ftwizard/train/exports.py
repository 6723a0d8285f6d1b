"""The TRL CLI config of a run, read off the real objects inside the trainer process: the fields of the exact
`SFTConfig`/`DPOConfig`/… the trainer was built with that differ from the class defaults, plus the model, PEFT and
data keys TRL's CLI takes. `core/run/exports.py` writes it (with `launch.sh`)."""

from __future__ import annotations

import dataclasses
from enum import Enum
from typing import Any

from ftwizard.core.run.config import RunConfig
from ftwizard.core.run.layout import RunDir

SECRETS = ("hub_token", "push_to_hub_token")
DTYPE = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}
# values `__post_init__` rewrites into a form TRL's command-line parser does not take back
CLI_VALUES: dict[str, Any] = {"include_num_input_tokens_seen": lambda v: v not in ("no", False)}


def _plain(v: Any) -> Any:
    if isinstance(v, Enum):
        return v.value
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if hasattr(v, "to_dict"):
        return _plain(v.to_dict())
    return v


def nondefault_args(args: Any) -> dict[str, Any]:
    """The init fields of a TrainingArguments/TRL config that differ from a fresh instance of its class (secrets
    never included). Both sides go through `__post_init__`, so derived values compare like for like; the
    precision and the device are always written (their defaults depend on the machine)."""
    pinned = {"use_cpu": args.use_cpu, "bf16": args.bf16, "fp16": args.fp16}  # the defaults depend on the machine
    # use_configured_state: the fresh instance reuses the process' accelerate state instead of resetting it (a
    # reset would break the trainer already built on it)
    fresh = type(args)(output_dir=args.output_dir, accelerator_config={"use_configured_state": True}, **pinned)
    out: dict[str, Any] = dict(pinned)
    for f in dataclasses.fields(args):
        if not f.init or f.name in SECRETS or f.name.startswith("_"):
            continue
        mine, default = _plain(getattr(args, f.name)), _plain(getattr(fresh, f.name))
        if mine != default:
            out[f.name] = CLI_VALUES.get(f.name, lambda v: v)(mine)
    out["output_dir"] = str(args.output_dir)
    return out


def trl_cli_config(trainer: Any, cfg: RunConfig, rd: RunDir, prec: str, data_dir: str, peft_config: Any,
                   has_eval: bool) -> dict[str, Any]:
    """Everything `trl <trainer> --config` needs to run this training again without ftwizard."""
    from ftwizard.train.model import model_path

    out: dict[str, Any] = {"model_name_or_path": model_path(cfg),
                           "dtype": DTYPE["bf16" if cfg.method == "qlora" and prec == "fp32" else prec],
                           "dataset_name": data_dir, "dataset_train_split": "train"}
    if has_eval:
        out["dataset_test_split"] = "validation"
    if peft_config is not None and getattr(peft_config, "peft_type", None) is not None \
            and str(_plain(peft_config.peft_type)) == "LORA":
        targets = cfg.target_modules if cfg.target_modules == "all-linear" else peft_config.target_modules
        out.update({"use_peft": True, "lora_r": peft_config.r, "lora_alpha": peft_config.lora_alpha,
                    "lora_dropout": peft_config.lora_dropout,
                    "lora_target_modules": sorted(targets) if isinstance(targets, set | list) else targets,
                    "use_dora": bool(peft_config.use_dora)})
    if cfg.method == "qlora":
        out.update({"load_in_4bit": True, "bnb_4bit_quant_type": "nf4", "use_bnb_nested_quant": True})
    args = nondefault_args(trainer.args)
    args.pop("model_init_kwargs", None)  # the CLI builds them from dtype/model keys above
    if cfg.push_to_hub:  # ftwizard uploads the final result itself; the CLI does it with these
        args.update(push_to_hub=True, hub_model_id=cfg.hub_model_id, hub_private_repo=cfg.hub_private)
    out.update(args)
    return out


def caveats(cfg: RunConfig) -> list[str]:
    """What the TRL CLI cannot do the same way (written at the top of the exported config and launch.sh)."""
    notes = []
    if cfg.method in ("prefix", "prompt", "ia3"):
        notes.append(f"TRL's CLI builds LoRA adapters only: this run's {cfg.method} adapter needs "
                     "SFTTrainer(peft_config=...) in Python (see adapter/adapter_config.json).")
    if cfg.init_from:
        notes.append(f"init_from: {cfg.init_from} — the TRL CLI starts from model_name_or_path only; merge that "
                     "adapter into its base first (ftwizard check RUN --only merge) and point model_name_or_path there.")
    return notes
