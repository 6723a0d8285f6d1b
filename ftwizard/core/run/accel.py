"""The accelerate config for multi-GPU runs: DDP, FSDP (full shard, auto-wrap by decoder layer, full state dict
on save so the result loads anywhere) or DeepSpeed ZeRO-2/3 (an error when deepspeed is not installed), or a
wrapper around the user's own DeepSpeed JSON. Written to <run>/accelerate.yaml and passed with --config_file;
a user's own accelerate config is passed as it is instead."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import yaml

from ftwizard.core.plan.families import LAYER_CLASSES  # decoder-layer class per model_type (FSDP auto-wrap)


def deepspeed_available() -> bool:
    return importlib.util.find_spec("deepspeed") is not None


def resolve_engine(engine: str, method: str, num_gpus: int) -> tuple[str, str | None]:
    """(engine, note). auto → DDP for adapters, FSDP for full fine-tuning; DeepSpeed asked for but not installed is
    a ValueError with the install line; QLoRA stays on DDP (4-bit weights are not sharded here)."""
    if num_gpus <= 1:
        return "single", None
    note = None
    if engine in ("auto", ""):
        engine = "fsdp" if method == "full" else "ddp"
    if engine.startswith("deepspeed") or engine.startswith("zero"):
        if not deepspeed_available():
            raise ValueError("engine: DeepSpeed is not installed: pip install deepspeed (or choose engine: fsdp)")
        engine = "zero2" if engine in ("deepspeed", "zero2") else "zero3"
    if method == "qlora" and engine != "ddp":
        return "ddp", "QLoRA runs with DDP here: its 4-bit weights are not sharded"
    return engine, note


def accelerate_config(engine: str, method: str, num_gpus: int, precision: str, model_type: str | None = None,
                      cpu: bool = False) -> tuple[dict[str, Any], str | None]:
    eng, note = resolve_engine(engine, method, num_gpus)
    mixed = {"bf16": "bf16", "fp16": "fp16"}.get(precision, "no")
    cfg: dict[str, Any] = {"compute_environment": "LOCAL_MACHINE", "num_machines": 1, "machine_rank": 0,
                           "num_processes": max(1, num_gpus), "mixed_precision": mixed, "use_cpu": cpu,
                           "main_training_function": "main", "rdzv_backend": "static", "same_network": True}
    if eng in ("single", "ddp"):
        cfg["distributed_type"] = "MULTI_CPU" if cpu else ("MULTI_GPU" if num_gpus > 1 else "NO")
    elif eng == "fsdp":
        cfg["distributed_type"] = "FSDP"
        cfg["fsdp_config"] = {
            "fsdp_version": 2, "fsdp_auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
            "fsdp_transformer_layer_cls_to_wrap": LAYER_CLASSES.get(model_type or "", None),
            "fsdp_state_dict_type": "FULL_STATE_DICT", "fsdp_cpu_ram_efficient_loading": True,
            "fsdp_reshard_after_forward": True, "fsdp_activation_checkpointing": False, "fsdp_offload_params": False,
        }
        if cfg["fsdp_config"]["fsdp_transformer_layer_cls_to_wrap"] is None:
            del cfg["fsdp_config"]["fsdp_transformer_layer_cls_to_wrap"]
    else:
        cfg["distributed_type"] = "DEEPSPEED"
        cfg["deepspeed_config"] = {"zero_stage": 3 if eng == "zero3" else 2, "offload_optimizer_device": "none",
                                   "offload_param_device": "none", "zero3_init_flag": eng == "zero3",
                                   "zero3_save_16bit_model": eng == "zero3", "gradient_clipping": 1.0}
    return cfg, note


def write_accelerate_config(path: str | Path, engine: str, method: str, num_gpus: int, precision: str,
                            model_type: str | None = None, cpu: bool = False) -> str | None:
    cfg, note = accelerate_config(engine, method, num_gpus, precision, model_type, cpu)
    Path(path).write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return note


def deepspeed_wrapper(ds_json: str | Path, num_gpus: int) -> dict[str, Any]:
    """An accelerate config that runs the user's DeepSpeed JSON unchanged (accelerate reads ZeRO stage, precision
    and offload from the JSON)."""
    return {"compute_environment": "LOCAL_MACHINE", "distributed_type": "DEEPSPEED", "num_machines": 1,
            "machine_rank": 0, "num_processes": max(1, num_gpus), "rdzv_backend": "static", "same_network": True,
            "use_cpu": False, "main_training_function": "main",
            "deepspeed_config": {"deepspeed_config_file": str(Path(ds_json).resolve())}}
