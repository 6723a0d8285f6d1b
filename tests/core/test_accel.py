"""Generated accelerate configs for several GPUs: DDP, FSDP, DeepSpeed (or its fallback)."""

from __future__ import annotations

import pytest
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
    if deepspeed_available():
        assert resolve_engine("deepspeed", "full", 8) == ("zero2", None)
    else:  # asked for and missing: an error with the install line, never a silent FSDP
        with pytest.raises(ValueError, match="pip install deepspeed"):
            resolve_engine("deepspeed", "full", 8)


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


def test_user_accelerate_config_is_used_unchanged_and_generated_one_only_once(tmp_path):
    mine = tmp_path / "my_accelerate.yaml"
    text = "# mine\ndistributed_type: MULTI_GPU\nnum_processes: 2\n"
    mine.write_text(text)
    run = tmp_path / "own"
    RunDir(run).create(RunConfig(model="m", num_gpus=2, accelerate_config=str(mine)))
    assert prepare_accelerate(run, 2) == mine.resolve() and mine.read_text() == text
    assert not RunDir(run).accelerate_path.exists()
    gen = tmp_path / "gen"
    rd = RunDir(gen).create(RunConfig(model="m", method="full", num_gpus=2))
    path = prepare_accelerate(gen, 2)
    assert yaml.safe_load(path.read_text())["fsdp_config"]["fsdp_state_dict_type"] == "FULL_STATE_DICT"
    path.write_text("# edited by hand\n" + path.read_text())
    assert prepare_accelerate(gen, 2) == rd.accelerate_path  # a later launch (or --resume) keeps the edit
    assert path.read_text().startswith("# edited by hand")


def test_deepspeed_json_is_wrapped_not_rewritten(tmp_path):
    from ftwizard.core.run.accel import deepspeed_wrapper

    ds = tmp_path / "ds.json"
    ds.write_text('{"zero_optimization": {"stage": 3}}')
    cfg = deepspeed_wrapper(ds, 4)
    assert cfg["distributed_type"] == "DEEPSPEED" and cfg["num_processes"] == 4
    assert cfg["deepspeed_config"] == {"deepspeed_config_file": str(ds.resolve())}
