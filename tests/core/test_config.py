"""The typed run config: every bad value stops before anything loads, with one line naming the field, the value and
what is allowed (exit 2 from `ftwizard train`); YAML's string numbers are coerced."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ftwizard.core.run.config import ConfigError, RunConfig

BAD = {
    "method: qlra": ("method", "qlora"),
    "trainer: xyz": ("trainer", "sft"),
    "learning_rate: fast": ("learning_rate", "number"),
    "rank: -3": ("rank", "1 to 1024"),
    "micro_batch: 0": ("micro_batch", "1 to 4096"),
    "epochs: 0": ("epochs", "> 0"),
    "split: [0.8, 0.5, 0.1]": ("split", "sum to 1"),
    "precision: fp8": ("precision", "bf16"),
    "engine: magic": ("engine", "fsdp"),
    "gradient_checkpointing: maybe": ("gradient_checkpointing", "true or false"),
    "max_seq_length: -1": ("max_seq_length", "tokens"),
    "optimizer: adamw_turbo": ("optimizer", "adamw_torch"),
    "modle: x": ("modle", "did you mean `model`"),
}


@pytest.mark.parametrize("line", list(BAD))
def test_bad_value_names_field_value_and_allowed(tmp_path, line):
    f = tmp_path / "c.yaml"
    f.write_text(f"model: m\ndata: d.jsonl\n{line}\n")
    with pytest.raises(ConfigError) as err:
        RunConfig.load(f)
    name, allowed = BAD[line]
    msg = str(err.value)
    assert name in msg and allowed in msg and "\n" not in msg


def test_yaml_numbers_are_coerced(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("learning_rate: 2e-4\nmicro_batch: '8'\nepochs: 1\ngradient_checkpointing: 'yes'\n"
                 "split: ['0.9', 0.05, 0.05]\ntarget_modules: q_proj, v_proj\n")
    cfg = RunConfig.load(f)
    assert cfg.learning_rate == 2e-4 and cfg.micro_batch == 8 and cfg.epochs == 1.0
    assert cfg.gradient_checkpointing is True and cfg.split == [0.9, 0.05, 0.05]
    assert cfg.target_modules == ["q_proj", "v_proj"]


@pytest.mark.parametrize("text", ["- a\n- b\n", "42\n", "model: [x\n"])
def test_not_a_mapping_or_broken_yaml(tmp_path, text):
    f = tmp_path / "c.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError):
        RunConfig.load(f)


def test_every_field_has_help():
    assert all(RunConfig.help_text().values())


@pytest.mark.parametrize("line,code", [("method: qlra", 2), ("learning_rate: 2e-4", 0)])
def test_train_check_exit_codes_and_one_line(tmp_path, tiny, line, code):
    f = tmp_path / "c.yaml"
    f.write_text(f"model: {tiny[0]}\ndata: {tiny[1]}\n{line}\n")
    res = subprocess.run([sys.executable, "-m", "ftwizard", "train", "--check", str(f)], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == code, res.stdout + res.stderr
    assert "Traceback" not in res.stdout + res.stderr
    if code:
        assert res.stderr.strip().count("\n") <= 1 and "method" in res.stderr and "qlora" in res.stderr


def test_bad_config_stops_before_launch(tmp_path):
    """`ftwizard train` on a bad config creates no run directory and starts no trainer."""
    f = tmp_path / "c.yaml"
    f.write_text("model: m\ndata: d.jsonl\nepochs: 0\n")
    out = tmp_path / "run"
    res = subprocess.run([sys.executable, "-m", "ftwizard", "train", str(f), "--out", str(out)], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 2 and "epochs" in res.stderr and not out.exists()
