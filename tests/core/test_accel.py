"""Generated accelerate configs for several GPUs: DDP, FSDP, DeepSpeed (or its fallback)."""

from __future__ import annotations

import yaml

from ftwizard.core.run.accel import accelerate_config, deepspeed_available, resolve_engine
from ftwizard.core.run.config import RunConfig
from ftwizard.core.run.launcher import prepare_accelerate, trainer_command
from ftwizard.core.run.layout import RunDir


def test_engines():
    assert resolve_engine("auto", "lora", 1) == ("single", None)
    assert resolve_engine("auto", "lora", 2)[0] == "ddp"
    assert resolve_engine("auto", "full", 4)[0] == "fsdp"
    assert resolve_engine("fsdp", "qlora", 2) == ("ddp", "QLoRA runs with DDP here: its 4-bit weights are not sharded")
    eng, note = resolve_engine("deepspeed", "full", 8)
    assert (eng, note is None) == ("zero2", True) if deepspeed_available() else (eng == "fsdp" and "DeepSpeed" in note)


def test_fsdp_config_wraps_the_decoder_layer():
    cfg, _ = accelerate_config("fsdp", "full", 4, "bf16", "llama")
    assert cfg["distributed_type"] == "FSDP" and cfg["num_processes"] == 4 and cfg["mixed_precision"] == "bf16"
    assert cfg["fsdp_config"]["fsdp_transformer_layer_cls_to_wrap"] == "LlamaDecoderLayer"
    ddp, _ = accelerate_config("ddp", "lora", 2, "fp16")
    assert ddp["distributed_type"] == "MULTI_GPU" and ddp["mixed_precision"] == "fp16"


def test_launcher_writes_and_passes_the_config(tmp_path):
    run = tmp_path / "r"
    RunDir(run).create(RunConfig(model="m", method="full", engine="auto", num_gpus=2, precision="bf16"))
    path = prepare_accelerate(run, 2)
    assert yaml.safe_load(path.read_text())["distributed_type"] == "FSDP"
    cmd = trainer_command(run, num_gpus=2, config_file=path)
    assert cmd[cmd.index("--config_file") + 1] == str(path) and cmd[-2:] == ["ftwizard.train", str(run)]
    assert prepare_accelerate(run, 1) is None
