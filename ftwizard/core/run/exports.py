"""The same run without ftwizard: the TRL CLI config and `launch.sh` written next to config.yaml."""

from __future__ import annotations

import shlex
from typing import Any

import yaml

from ftwizard.core.run.config import RunConfig
from ftwizard.core.run.layout import RunDir


def trl_config(rd: RunDir, cfg: RunConfig) -> dict[str, Any]:
    """TRL CLI key names for this run (`trl <trainer> --config trl_<trainer>.yaml`)."""
    out: dict[str, Any] = {
        "model_name_or_path": cfg.model, "dataset_name": str(rd.data_dir.resolve()),
        "output_dir": str(rd.checkpoints.resolve()), "per_device_train_batch_size": cfg.micro_batch,
        "gradient_accumulation_steps": cfg.gradient_accumulation, "learning_rate": cfg.learning_rate,
        "num_train_epochs": cfg.epochs, "max_length": cfg.max_seq_length, "lr_scheduler_type": cfg.lr_scheduler,
        "warmup_steps": cfg.warmup_ratio, "weight_decay": cfg.weight_decay,
        "gradient_checkpointing": cfg.gradient_checkpointing, "optim": cfg.optimizer, "seed": cfg.seed,
        "logging_steps": cfg.logging_steps, "eval_strategy": "steps", "eval_steps": cfg.eval_steps,
    }
    if cfg.is_adapter:
        out.update({"use_peft": True, "lora_r": cfg.rank, "lora_alpha": cfg.alpha, "lora_dropout": cfg.dropout,
                    "lora_target_modules": cfg.target_modules, "use_dora": cfg.method == "dora"})
    if cfg.method == "qlora":
        out.update({"load_in_4bit": True, "bnb_4bit_quant_type": "nf4", "use_bnb_nested_quant": True})
    if cfg.trainer == "dpo":
        out["beta"] = cfg.dpo_beta
    else:
        out["assistant_only_loss"] = cfg.assistant_only_loss
    return out


def write_exports(rd: RunDir, cfg: RunConfig) -> None:
    """The equivalent TRL CLI config and launch command, so leaving ftwizard is easy."""
    path = rd.trl_config(cfg.trainer)
    path.write_text(yaml.safe_dump(trl_config(rd, cfg), sort_keys=False), encoding="utf-8")
    n = max(1, cfg.num_gpus)
    q = shlex.quote
    if n > 1:
        from ftwizard.core.run.launcher import prepare_accelerate

        conf = prepare_accelerate(rd.path, n)
        line = (f"accelerate launch --config_file {q(str(conf))} --num_processes {n} -m trl.scripts.{cfg.trainer} "
                f"--config {q(str(path.resolve()))}")
    else:
        line = f"trl {cfg.trainer} --config {q(str(path.resolve()))}"
    rd.launch_sh.write_text(
        "#!/usr/bin/env bash\n# The same training without ftwizard:\nset -euo pipefail\n"
        f"{line}\n# or, with ftwizard: ftwizard train {q(str(rd.config_path))} --out {q(str(rd.path))}\n",
        encoding="utf-8")
