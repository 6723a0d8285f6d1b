"""The portable run, without training: the TRL field list and scripts match the installed trl, `trainer_args`
checks, the TRL CLI config import, launch.sh lines, trackers and DeepSpeed checked against this machine."""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import subprocess
import sys

import pytest
import yaml

from ftwizard.core.run.config import METHOD_WHY, METHODS, ConfigError, RunConfig
from ftwizard.core.run.config_load import check_environment, load_any
from ftwizard.core.run.exports import TRL_SCRIPTS, launch_line
from ftwizard.core.run.layout import RunDir
from ftwizard.core.run.service import create_run
from ftwizard.core.run.trl_fields import CONFIG_CLASSES, EXTRA_FIELDS, TRAINING_ARGUMENTS
from ftwizard.core.run.trl_import import TRACKERS, from_trl, trainer_args_problem


def test_static_field_lists_match_the_installed_trl():
    """Regenerate trl_fields.py when this fails (installed transformers/trl added or dropped a field)."""
    import transformers

    base = {f.name for f in dataclasses.fields(transformers.TrainingArguments) if f.init}
    assert base == set(TRAINING_ARGUMENTS)
    from ftwizard.core.trainers import TRAINERS

    classes = {**CONFIG_CLASSES, **{s.config_class: s.trl_config for s in TRAINERS.values()}}
    classes.pop("TrainingArguments", None)
    for name, where in classes.items():
        if name not in EXTRA_FIELDS:  # a trainer added since the table: class_fields reads the installed class
            continue
        module, cls_name = where.split(":")
        cls = getattr(importlib.import_module(module), cls_name)
        assert {f.name for f in dataclasses.fields(cls) if f.init} - base == set(EXTRA_FIELDS[name]), name


@pytest.mark.parametrize("script", sorted(set(TRL_SCRIPTS.values())))
def test_each_exported_trl_script_exists(script):
    assert importlib.util.find_spec(f"trl.scripts.{script}") is not None


def test_trainer_args_are_checked_against_the_trl_config():
    assert trainer_args_problem("sft", {"max_grad_norm": 0.5, "neftune_noise_alpha": 5}) is None
    assert trainer_args_problem("dpo", {"rpo_alpha": 1.0}).startswith("not a field of DPOConfig: rpo_alpha")
    assert trainer_args_problem("dpo", {"label_smoothing": 0.1}) is None
    assert "learning_rate → learning_rate:" in trainer_args_problem("sft", {"learning_rate": 1e-4})
    assert "output_dir" in trainer_args_problem("sft", {"output_dir": "x"})
    assert "set by the gkd trainer itself: beta" in trainer_args_problem("gkd", {"beta": 0.1})
    assert trainer_args_problem("grpo", {"beta": 0.04}).endswith("beta → grpo_kl_beta:")
    with pytest.raises(ConfigError, match="not a field of SFTConfig: bogus, nope"):
        RunConfig(trainer_args={"bogus": 1, "nope": 2, "max_grad_norm": 1.0})
    assert RunConfig(trainer_args={"max_grad_norm": "0.5"}).trainer_args == {"max_grad_norm": "0.5"}


def test_trackers_and_deepspeed_are_checked_against_this_machine(tmp_path):
    missing = next((n for n, pkg in TRACKERS.items() if importlib.util.find_spec(pkg) is None), None)
    if missing:
        with pytest.raises(ConfigError, match=f"pip install {TRACKERS[missing]}"):
            check_environment(RunConfig(report_to=[missing]))
    with pytest.raises(ConfigError, match="tensorboard, wandb, trackio or mlflow"):
        RunConfig(report_to=["comet"])
    if importlib.util.find_spec("deepspeed") is None:
        with pytest.raises(ConfigError, match="pip install deepspeed"):
            check_environment(RunConfig(engine="zero3", num_gpus=2))
    with pytest.raises(ConfigError, match="hub_model_id"):
        RunConfig(push_to_hub=True)
    assert RunConfig(push_to_hub=True, hub_model_id="me/tuned").hub_private is True
    with pytest.raises(ConfigError, match="init_from"):
        check_environment(RunConfig(init_from=str(tmp_path / "gone")))
    with pytest.raises(ConfigError, match="engine"):
        RunConfig(engine="megatron")


def test_trl_cli_config_is_mapped_and_says_so(tmp_path, tiny):
    trl = {"model_name_or_path": "/m", "dataset_name": "/d.jsonl", "per_device_train_batch_size": 2,
           "gradient_accumulation_steps": 8, "learning_rate": 5e-6, "num_train_epochs": 1, "bf16": True,
           "use_peft": True, "lora_r": 32, "lora_alpha": 16, "beta": 0.05, "max_grad_norm": 0.3,
           "output_dir": "out", "eval_strategy": "steps", "report_to": "none"}
    fields, lines = from_trl({**trl, "report_to": []}, tmp_path / "trl_dpo.yaml")
    assert fields["trainer"] == "dpo" and fields["model"] == "/m" and fields["data"] == "/d.jsonl"
    assert (fields["micro_batch"], fields["gradient_accumulation"], fields["rank"], fields["alpha"]) == (2, 8, 32, 16)
    assert fields["dpo_beta"] == 0.05 and fields["precision"] == "bf16" and fields["method"] == "lora"
    assert fields["trainer_args"] == {"max_grad_norm": 0.3}
    assert "max_grad_norm → trainer_args" in lines and any(ln.startswith("output_dir: out → ignored") for ln in lines)
    RunConfig.from_dict(fields)
    bare, lines = from_trl({"model_name_or_path": "/m", "dataset_name": "/d"}, "sft.yaml")  # TRL's defaults, not ours
    assert (bare["learning_rate"], bare["micro_batch"], bare["lr_scheduler"], bare["gradient_checkpointing"],
            bare["eval_steps"], bare["warmup_ratio"]) == (2e-5, 8, "linear", True, 10, 0)
    assert "learning_rate: 2e-05 (TRL's default) → learning_rate" in lines
    assert from_trl({"model_name_or_path": "/m", "loss_type": "dft"}, "trl_sft.yaml")[0]["trainer_args"] == \
        {"loss_type": "dft"}  # SFT's loss_type is not DPO's
    with pytest.raises(ValueError, match="not_a_key"):
        from_trl({"model_name_or_path": "/m", "not_a_key": 1})
    path = tmp_path / "trl_sft.yaml"
    path.write_text(yaml.safe_dump({"model_name_or_path": str(tiny[0]), "dataset_name": str(tiny[1]), "packing": True,
                                    "use_peft": True, "use_dora": True}))
    cfg, mapped = load_any(path)
    assert cfg.trainer == "sft" and cfg.packing and cfg.method == "dora" and mapped
    out = subprocess.run([sys.executable, "-m", "ftwizard", "train", str(path), "--check"], capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "a TRL config, read as" in out.stdout and "model_name_or_path → model" in out.stdout


def test_launch_lines(tmp_path):
    rd = RunDir(tmp_path / "run dir")
    one = RunConfig(model="/m")
    assert launch_line(rd, one) == f"trl sft --config '{rd.trl_config('sft').resolve()}' \"$@\""
    mine = tmp_path / "acc.yaml"
    mine.write_text("distributed_type: MULTI_GPU\n")
    many = RunConfig(model="/m", trainer="dpo", num_gpus=4, accelerate_config=str(mine))
    line = launch_line(rd, many)
    assert line.startswith(f"accelerate launch --config_file {mine} --num_processes 4 -m trl.scripts.dpo --config ")
    assert launch_line(rd, RunConfig(model="/m", trainer="orpo")) is None


def test_provisional_export_names_what_the_run_does(tmp_path):
    cfg = RunConfig(model="/m", data="/d.jsonl", max_steps=7, save_steps=3, save_total_limit=2, packing=True,
                    precision="fp32", report_to=["tensorboard"] if importlib.util.find_spec("tensorboard") else [],
                    trainer_args={"max_grad_norm": 0.5})
    rd = create_run(tmp_path / "r", cfg)
    trl = yaml.safe_load(rd.trl_config("sft").read_text())
    assert (trl["max_steps"], trl["save_steps"], trl["save_total_limit"], trl["packing"]) == (7, 3, 2, True)
    assert trl["bf16"] is False and trl["dtype"] == "float32" and trl["dataset_test_split"] == "validation"
    assert trl["max_grad_norm"] == 0.5 and trl["dataset_name"] == str(rd.data_dir.resolve())
    assert rd.launch_sh.stat().st_mode & 0o111


def test_every_method_has_its_reason():
    assert set(METHOD_WHY) == set(METHODS) >= {"prefix", "prompt", "ia3"}
    assert all(0 < len(why) < 160 for why in METHOD_WHY.values())


@pytest.mark.parametrize("trainer", sorted(__import__("ftwizard.core.trainers", fromlist=["TRAINERS"]).TRAINERS))
def test_check_accepts_each_trainers_own_keys_and_names_the_right_one_for_a_typo(trainer):
    """`--check` takes a key of the trainer's own TRL config class (one its module does not set and ftwizard does
    not map), and a misspelt one is refused with the name it meant."""
    from ftwizard.core.run.trl_fields import class_fields
    from ftwizard.core.run.trl_import import TRAINER_SETS, mapped_field
    from ftwizard.core.trainers import TRAINERS

    spec = TRAINERS[trainer]
    own = sorted(k for k in class_fields(spec.trl_config) - set(TRAINER_SETS.get(trainer, ()))
                 if not mapped_field(trainer, k) and k not in {"model_init_kwargs", "trust_remote_code"})
    key = own[0] if own else "max_grad_norm"
    value = 1 if key.startswith("num_") else 0.5
    assert trainer_args_problem(trainer, {key: value}) is None, key
    assert RunConfig(trainer=trainer, trainer_args={key: value}, **({spec.needs: "t"} if spec.needs else {}))
    typo = key[:-1] + ("x" if key[-1] != "x" else "y")
    problem = trainer_args_problem(trainer, {typo: value})
    assert problem.startswith(f"not a field of {spec.config_class}: {typo}") and f"did you mean {key}" in problem


ROUND_TRIP_FIELDS = ("trainer", "model", "micro_batch", "gradient_accumulation", "learning_rate", "epochs", "max_steps",
                     "max_seq_length", "lr_scheduler", "warmup_ratio", "weight_decay", "gradient_checkpointing",
                     "optimizer", "seed", "logging_steps", "eval_steps", "save_steps", "save_total_limit", "precision",
                     "method", "rank", "alpha", "dropout", "target_modules", "trainer_args")


@pytest.mark.parametrize("trainer", sorted(__import__("ftwizard.core.trainers", fromlist=["TRAINERS"]).TRAINERS))
def test_config_to_trl_and_back_is_the_same_config(trainer, tmp_path):
    """One map both ways: a config exported as the TRL CLI config and imported again (`trl import`) is the same
    config — the shared fields and every key the trainer's spec maps, at values that are not the defaults."""
    from ftwizard.core.run.exports import trl_config
    from ftwizard.core.trainers import TRAINERS, starting_values

    spec = TRAINERS[trainer]
    values: dict = {"trainer": trainer, "model": "/models/m", "micro_batch": 3, "gradient_accumulation": 5,
                    "learning_rate": 3e-5, "epochs": 2, "max_steps": 17, "max_seq_length": 384,
                    "lr_scheduler": "linear", "warmup_ratio": 0.07, "weight_decay": 0.02,
                    "gradient_checkpointing": False, "optimizer": "adamw_torch", "seed": 7, "logging_steps": 2,
                    "eval_steps": 9, "save_steps": 11, "save_total_limit": 3, "precision": "bf16", "method": "lora",
                    "rank": 8, "alpha": 24, "dropout": 0.1, "target_modules": ["q_proj", "v_proj"],
                    "trainer_args": {"max_grad_norm": 0.7}, **starting_values(trainer)}
    if spec.needs:
        values[spec.needs] = "/models/teacher"
    if trainer in ("grpo", "rloo"):
        values["micro_batch"], values["gradient_accumulation"] = values.get("grpo_num_generations", 4), 2  # divisible
    cfg = RunConfig.from_dict(values)
    rd = RunDir(tmp_path / "run").create(cfg)
    trl = trl_config(rd, cfg)
    fields, lines = from_trl(yaml.safe_load(yaml.safe_dump(trl)), rd.trl_config(trainer))
    back = RunConfig.from_dict({**fields, "data": cfg.data})
    names = set(ROUND_TRIP_FIELDS) | {name for _, name in spec.keys}
    differ = {n: (getattr(cfg, n), getattr(back, n)) for n in names if getattr(cfg, n) != getattr(back, n)}
    assert not differ, (differ, lines)
