"""The same run without ftwizard: `<run>/trl_<trainer>.yaml` (TRL CLI key names) and `<run>/launch.sh`.

Written twice: a provisional one from the config when the run is created, then the exact one by the trainer
process once the trainer is built (`train/exports.py` reads the real `SFTConfig`/`DPOConfig`/… and the PEFT config),
with the data split in place and the precision as used. Paths are absolute and shell-quoted.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import yaml

from ftwizard.core.run.config import RunConfig
from ftwizard.core.run.layout import RunDir
from ftwizard.core.run.trl_fields import class_defaults
from ftwizard.core.trainers import TRAINERS

# trainers with a `trl.scripts.<name>` module (`trl <name>` on the command line) in the installed trl;
# tests/core/test_exports.py checks this list against it. A trainer that shares another's script (continued
# pre-training → sft) carries its fixed keys (packing, …) in its spec.
TRL_SCRIPTS: dict[str, str] = {n: s.trl_script for n, s in TRAINERS.items() if s.trl_script}  # from the specs
PRECISION_KEYS: dict[str, dict[str, Any]] = {"bf16": {"bf16": True, "dtype": "bfloat16"},
                                             "fp16": {"fp16": True, "dtype": "float16"},
                                             "fp32": {"bf16": False, "dtype": "float32"}}


def trl_config(rd: RunDir, cfg: RunConfig) -> dict[str, Any]:
    """The provisional TRL CLI config, from the config alone (the trainer replaces it with the exact one)."""
    out: dict[str, Any] = {
        "model_name_or_path": cfg.model, "dataset_name": str(rd.data_dir.resolve()), "dataset_train_split": "train",
        "dataset_test_split": "validation", "output_dir": str(rd.checkpoints.resolve()),
        "per_device_train_batch_size": cfg.micro_batch, "per_device_eval_batch_size": cfg.micro_batch,
        "gradient_accumulation_steps": cfg.gradient_accumulation, "learning_rate": cfg.learning_rate,
        "num_train_epochs": cfg.epochs, "max_steps": cfg.max_steps, "max_length": cfg.max_seq_length,
        "lr_scheduler_type": cfg.lr_scheduler, "warmup_steps": cfg.warmup_ratio, "weight_decay": cfg.weight_decay,
        "gradient_checkpointing": cfg.gradient_checkpointing, "optim": cfg.optimizer, "seed": cfg.seed,
        "logging_steps": cfg.logging_steps, "eval_strategy": "steps", "eval_steps": cfg.eval_steps,
        "save_strategy": "steps", "save_steps": cfg.save_steps, "save_total_limit": cfg.save_total_limit,
        "report_to": list(cfg.report_to) or "none", **PRECISION_KEYS.get(cfg.precision, {}),
    }
    if cfg.method in ("lora", "qlora", "dora"):
        out.update({"use_peft": True, "lora_r": cfg.rank, "lora_alpha": cfg.alpha, "lora_dropout": cfg.dropout,
                    "lora_target_modules": cfg.target_modules, "use_dora": cfg.method == "dora"})
    if cfg.method == "qlora":
        out.update({"load_in_4bit": True, "bnb_4bit_quant_type": "nf4", "use_bnb_nested_quant": True})
    spec = TRAINERS.get(cfg.trainer)
    if spec is not None:  # its own keys from the config, then what its module fixes (its TrainerSpec)
        defaults = class_defaults(spec.trl_config)
        for key, name in spec.keys:
            value = getattr(cfg, name)
            if name.endswith("_model") and not value:
                continue
            out[key] = [value] if isinstance(defaults.get(key), list) and not isinstance(value, list) else value
        out.update(dict(spec.fixed))
    if cfg.trust_remote_code:
        out["trust_remote_code"] = True
    if cfg.push_to_hub:
        out.update({"push_to_hub": True, "hub_model_id": cfg.hub_model_id, "hub_private_repo": cfg.hub_private})
    out.update(cfg.trainer_args)
    return out


def accelerate_file(rd: RunDir, cfg: RunConfig) -> str:
    """The accelerate config of several GPUs: the user's own, else <run>/accelerate.yaml (generated, or wrapping the
    user's DeepSpeed JSON)."""
    return cfg.accelerate_config or str(rd.accelerate_path.resolve())


def launch_line(rd: RunDir, cfg: RunConfig) -> str | None:
    """The shell line that runs this training with TRL alone (None when TRL has no script for the trainer)."""
    script = TRL_SCRIPTS.get(cfg.trainer)
    if script is None:
        return None
    q = shlex.quote
    conf = q(str(rd.trl_config(cfg.trainer).resolve()))
    if cfg.num_gpus > 1:
        acc = q(accelerate_file(rd, cfg))
        return (f"accelerate launch --config_file {acc} --num_processes {cfg.num_gpus} -m trl.scripts.{script} "
                f'--config {conf} "$@"')
    return f'trl {script} --config {conf} "$@"'


def write_trl_export(rd: RunDir, cfg: RunConfig, trl: dict[str, Any], notes: list[str] | None = None,
                     provisional: bool = False) -> Path:
    """Write trl_<trainer>.yaml and launch.sh. `notes`: what the TRL CLI cannot do the same way."""
    head = ["# The same training with TRL's CLI (key names of its config classes).",
            "# provisional: the trainer rewrites this file with the exact values once training starts"
            if provisional else "# written by the trainer from the exact config it trained with"]
    head += [f"# note: {n}" for n in notes or []]
    path = rd.trl_config(cfg.trainer)
    path.write_text("\n".join(head) + "\n" + yaml.safe_dump(trl, sort_keys=False), encoding="utf-8")
    q = shlex.quote
    line = launch_line(rd, cfg)
    body = line if line is not None else (f"echo {q(f'TRL has no command-line script for {cfg.trainer}: use ftwizard')}"
                                          " >&2; exit 1")
    extra = "".join(f"# note: {n}\n" for n in notes or [])
    rd.launch_sh.write_text(
        "#!/usr/bin/env bash\n# The same training without ftwizard (extra options go to TRL, e.g. --output_dir DIR):\n"
        f"{extra}set -euo pipefail\n{body}\n"
        f"# or, with ftwizard: ftwizard train {q(str(rd.config_path.resolve()))} --out NEW_RUN_DIR\n",
        encoding="utf-8")
    rd.launch_sh.chmod(0o755)
    return path


def write_exports(rd: RunDir, cfg: RunConfig) -> None:
    """The provisional export at run creation, with the accelerate config of several GPUs."""
    if cfg.num_gpus > 1:
        from ftwizard.core.run.launcher import prepare_accelerate

        prepare_accelerate(rd.path, cfg.num_gpus)
    write_trl_export(rd, cfg, trl_config(rd, cfg), provisional=True)
