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


# ---- one validator: the app's forms, CLI flags and YAML read a value with the same rule ----------------------
PROBES = ["0", "-1", "1", "0.5", "1.5", "3", "1e9", "two", "", "nan", "yes", "lora", "ia3", "adamw_8bit", "q_proj v_proj"]


def test_the_plan_form_and_the_run_config_accept_the_same_values():
    """Every field the Plan step edits is a RunConfig field, read by the same rule: a value the form takes is a
    value a config takes, and one the form refuses the config refuses too."""
    from ftwizard.core.wizard import FIELDS, parse_value

    for key in FIELDS:
        for raw in PROBES:
            try:
                form = parse_value(key, raw)
            except ValueError:
                form = ConfigError
            try:
                cfg = getattr(RunConfig(**{key: raw}), key)
            except ConfigError:
                cfg = ConfigError
            assert form == cfg, (key, raw, form, cfg)


def test_a_cli_flag_is_refused_with_the_configs_words():
    from ftwizard.core.run.config import check_value

    with pytest.raises(ConfigError) as err:
        check_value("micro_batch", "0")
    res = subprocess.run([sys.executable, "-m", "ftwizard", "estimate", "llama-3.2-1b", "--batch", "0"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and err.value.short() in res.stderr, res.stderr


# ---- a trainer's own settings, nested under its name ---------------------------------------------------------
def test_nested_trainer_settings_are_the_flat_fields(tmp_path):
    from ftwizard.core.run.config import trainer_knobs
    from ftwizard.core.trainers import TRAINERS

    for name in TRAINERS:
        knobs = trainer_knobs(name)
        for key, flat in knobs.items():
            value = RunConfig().to_dict()[flat]
            assert RunConfig.from_dict({name: {key: value}}).to_dict()[flat] == value, (name, key)
    f = tmp_path / "c.yaml"
    f.write_text("trainer: grpo\nmicro_batch: 4\ngrpo:\n  num_generations: 4\n  beta: 0.04\n  rewards: [format]\n")
    cfg = RunConfig.load(f)
    assert (cfg.grpo_num_generations, cfg.grpo_kl_beta, cfg.grpo_rewards) == (4, 0.04, ["format"])
    # the nested value is checked by the field's rule
    f.write_text("trainer: dpo\ndpo:\n  beta: -1\n")
    with pytest.raises(ConfigError, match="dpo_beta"):
        RunConfig.load(f)


@pytest.mark.parametrize("text, words", [
    ("dpo:\n  betta: 0.2\n", "did you mean `beta`"),
    ("dpo:\n  beta: 0.2\ndpo_beta: 0.3\n", "keep one"),
    ("dpo: 0.2\n", "beta, loss_type"),
    ("cpt:\n  packing: true\n", "trainer_args"),
])
def test_a_wrong_nested_setting_is_one_line(tmp_path, text, words):
    f = tmp_path / "c.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError) as err:
        RunConfig.load(f)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_a_trainer_and_a_data_format_that_do_not_go_together_are_refused_by_check():
    """`trainer: dpo` on chat data passed --check, then failed after the model loaded."""
    with pytest.raises(ConfigError, match=r"trainer: 'dpo' .*a trainer for openai data \(data_format\): sft"):
        RunConfig(model="m", data="d.jsonl", data_format="openai", trainer="dpo")
    RunConfig(model="m", data="d.jsonl", data_format="preference", trainer="dpo")
    RunConfig(model="m", data="d.jsonl", trainer="dpo")  # no format given: the data step decides
