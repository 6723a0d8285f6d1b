"""`ftwizard export` (core/run/remote.py) and the rented shape of a plan that does not fit (core/plan/rent.py): pure
generation, no GPU, no network. The SkyPilot task is checked against SkyPilot's own task schema (vendored from
skypilot 0.14.1, `sky.utils.schemas.get_task_schema()`), and with SkyPilot's real parser where a Python with `sky`
is found (FTWIZARD_SKY_PYTHON, /tmp/skyvenv, or this one)."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ftwizard.cli import main
from ftwizard.core.run.config import RunConfig
from ftwizard.core.run.remote import time_limit

SCHEMA = Path(__file__).parent / "remote" / "skypilot_task_schema-0.14.1.json"
# every long option in Slurm's sbatch(1) man page that a generated script could reasonably use
SBATCH_KNOWN = {"account", "array", "cpus-per-task", "cpus-per-gpu", "constraint", "dependency", "error", "exclusive",
                "export", "gpus", "gpus-per-node", "gpus-per-task", "gres", "job-name", "mail-type", "mail-user",
                "mem", "mem-per-cpu", "mem-per-gpu", "nodes", "ntasks", "ntasks-per-node", "output", "partition",
                "qos", "requeue", "signal", "time", "chdir", "nodelist", "exclude", "reservation"}


@pytest.fixture
def config(tmp_path: Path) -> Path:
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps({"instruction": f"q{i}", "output": f"a{i}"}) + "\n" for i in range(40)))
    cfg = RunConfig(model="llama-3.1-8b", data=str(data), method="full", micro_batch=2, gradient_accumulation=8,
                    estimate_hours=3.0)
    path = tmp_path / "run.yaml"
    path.write_text(cfg.to_yaml(), encoding="utf-8")
    return path


def _export(config: Path, out: Path, *args: str) -> int:
    return main(["export", str(config), "--out", str(out), *args])


def test_skypilot_task_matches_skypilot_schema(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "sky" / "job.yaml"
    assert _export(config, out, "--to", "skypilot", "--gpu", "A100-80GB", "--gpus", "2", "--nodes", "2") == 0
    task = yaml.safe_load(out.read_text())
    if importlib.util.find_spec("jsonschema"):
        import jsonschema

        jsonschema.validate(task, json.loads(SCHEMA.read_text()))
    assert task["resources"]["accelerators"] == "A100-80GB:2" and task["num_nodes"] == 2
    assert task["secrets"] == {"HF_TOKEN": None}  # by name only, never a value
    mounts = task["file_mounts"]
    assert Path(mounts["~/ftwizard-job/config.yaml"]).exists() and Path(mounts["~/ftwizard-job/accelerate.yaml"]).exists()
    assert (Path(mounts["~/ftwizard-job/data"]) / "train.jsonl").exists()  # split here once: same rows everywhere
    for flag in ("--num_machines $SKYPILOT_NUM_NODES", "--machine_rank $SKYPILOT_NODE_RANK", "--main_process_ip",
                 "--num_processes 4", "-m ftwizard.train", "SKYPILOT_NODE_IPS"):
        assert flag in task["run"]
    assert "cu1" in task["setup"] and "pip install" in task["setup"]
    remote = RunConfig.load(mounts["~/ftwizard-job/config.yaml"])
    assert remote.num_gpus == 4 and remote.gradient_accumulation == 2  # 2 × 8 × 1 = 2 × 2 × 4: same effective batch
    assert remote.data == "ftwizard-job/data"
    acc = yaml.safe_load(Path(mounts["~/ftwizard-job/accelerate.yaml"]).read_text())
    assert acc["distributed_type"] == "FSDP" and acc["num_machines"] == 2 and acc["num_processes"] == 4
    assert acc["fsdp_config"]["fsdp_transformer_layer_cls_to_wrap"] == "LlamaDecoderLayer"


def _sky_python() -> str | None:
    for cand in (os.environ.get("FTWIZARD_SKY_PYTHON"), "/tmp/skyvenv/bin/python", sys.executable):
        if cand and Path(cand).exists() and subprocess.run([cand, "-c", "import sky"], capture_output=True).returncode == 0:
            return cand
    return None


def test_skypilot_task_loads_in_skypilot(config: Path, tmp_path: Path) -> None:
    py = _sky_python()
    if py is None:
        pytest.skip("skypilot is not installed (python -m venv /tmp/skyvenv && /tmp/skyvenv/bin/pip install skypilot)")
    out = tmp_path / "job.yaml"
    assert _export(config, out, "--to", "skypilot", "--gpu", "H100", "--gpus", "8") == 0
    code = ("import sys, yaml, sky\n"
            "t = sky.Task.from_yaml_config(yaml.safe_load(open(sys.argv[1])), secrets_overrides=[('HF_TOKEN', 'x')])\n"
            "r = next(iter(t.resources))\n"
            "print(t.num_nodes, r.accelerators, sorted(t.secrets), len(t.file_mounts))\n")
    res = subprocess.run([py, "-c", code, str(out)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.split()[:3] == ["1", "{'H100':", "8}"] and "['HF_TOKEN']" in res.stdout


def test_skypilot_single_machine_runs_ftwizard_train(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "job.yaml"
    assert _export(config, out, "--to", "skypilot", "--gpu", "H100", "--gpus", "2", "--install", "ftwizard==0.1") == 0
    task = yaml.safe_load(out.read_text())
    assert "ftwizard train ftwizard-job/config.yaml --out ftwizard-job/run" in task["run"]
    assert "pip install ftwizard==0.1" in task["setup"] and "~/ftwizard-src" not in task["file_mounts"]
    remote = RunConfig.load(task["file_mounts"]["~/ftwizard-job/config.yaml"])
    assert remote.accelerate_config == "ftwizard-job/accelerate.yaml"  # ftwizard's launcher uses it unchanged


def test_slurm_script_is_valid_bash_with_known_sbatch_options(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "job.sbatch"
    assert _export(config, out, "--to", "slurm", "--gpu", "A100-80GB", "--gpus", "4", "--nodes", "3") == 0
    text = out.read_text()
    if shutil.which("bash"):
        assert subprocess.run(["bash", "-n", str(out)], capture_output=True).returncode == 0
    opts = dict(re.findall(r"^#SBATCH --([a-z-]+)=(\S+)$", text, flags=re.M))
    assert set(opts) <= SBATCH_KNOWN
    assert opts["nodes"] == "3" and opts["gpus-per-node"] == "4" and opts["time"] == "7:00:00"  # 2 × 3 h + 1 h
    for part in ("srun", "accelerate launch", "--num_machines $SLURM_NNODES", "--machine_rank $SLURM_NODEID",
                 "scontrol show hostnames", "--num_processes 12"):
        assert part in text
    assert "HF_TOKEN=" not in text


def test_accelerate_export(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "acc.yaml"
    assert _export(config, out, "--to", "accelerate", "--gpu", "H100", "--gpus", "8", "--nodes", "2") == 0
    acc = yaml.safe_load(out.read_text())
    assert acc["distributed_type"] == "FSDP" and acc["num_machines"] == 2 and acc["num_processes"] == 16


def test_time_limit() -> None:
    assert time_limit(None) == "24:00:00" and time_limit(0.1) == "1:15:00" and time_limit(3) == "7:00:00"


def _plan(*args: str, capsys: pytest.CaptureFixture[str]) -> dict:
    assert main(["plan", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_plan_proposes_a_rented_shape_that_fits(capsys: pytest.CaptureFixture[str]) -> None:
    plan = _plan("llama-3.1-8b", "--method", "full", "--gpu", "RTX 4090", capsys=capsys)
    assert plan["fits"] is False
    shape = plan["rent_shape"]
    assert shape and shape["peak_gib"] <= shape["memory_gib"] and shape["cost"] > 0
    assert shape["sky_accelerators"] == f"{shape['accelerator']}:{shape['gpus']}"


def test_plan_proposes_several_gpus_with_fsdp_when_one_is_not_enough(capsys: pytest.CaptureFixture[str]) -> None:
    from ftwizard.core.plan.memory import estimate
    from ftwizard.core.plan.model_facts import load_model_facts

    plan = _plan("llama-3.1-70b", "--method", "full", "--gpu", "RTX 4090", capsys=capsys)
    shape = plan["rent_shape"]
    assert shape["gpus"] > 1 and shape["engine"] == "fsdp"
    inp = plan["memory"]["inputs"]
    from ftwizard.core.plan.memory import EstimateInput

    inp = EstimateInput(**{**inp, "targets": tuple(inp["targets"]), "gpus": shape["gpus"], "engine": "fsdp",
                           "grad_ckpt": shape["gradient_checkpointing"]})
    assert estimate(load_model_facts("llama-3.1-70b"), inp).fits(shape["memory_gib"])


def test_plan_prints_the_rented_shape(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "llama-3.1-8b", "--method", "full", "--gpu", "RTX 4090"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "does not fit your RTX 4090; rent" in out and "ftwizard export" in out


def test_a_plan_that_fits_proposes_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    assert _plan("qwen2.5-0.5b", "--gpu", "RTX 4090", capsys=capsys)["rent_shape"] is None


def test_plan_lists_its_fixes_and_fit_applies_them(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "llama-3.1-8b", "--method", "lora", "--gpu", "RTX 4060 Ti"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "Fixes" in out and "QLoRA" in out and "(fits)" in out
    plan = _plan("llama-3.1-8b", "--method", "lora", "--gpu", "RTX 4060 Ti", "--fit", capsys=capsys)
    assert plan["fits"] is True and plan["fixes_applied"] == ["QLoRA: the base model in 4-bit"]
    assert plan["choices"]["method"] == {"value": "qlora", "reason": "set by a fix to make it fit"}
    assert main(["plan", "llama-3.1-8b", "--method", "lora", "--gpu", "RTX 4060 Ti", "--fit"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "fixed: QLoRA: the base model in 4-bit" in out and "Fixes" not in out


def test_fit_changes_nothing_when_no_combination_fits(capsys: pytest.CaptureFixture[str]) -> None:
    before = _plan("llama-3.1-8b", "--method", "lora", "--gpu", "RTX 3080", capsys=capsys)
    after = _plan("llama-3.1-8b", "--method", "lora", "--gpu", "RTX 3080", "--fit", capsys=capsys)
    assert after["fits"] is False and after["fixes_applied"] == []
    assert after["memory"]["peak_gib"] == before["memory"]["peak_gib"]
    assert main(["plan", "llama-3.1-8b", "--method", "lora", "--gpu", "RTX 3080", "--fit"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "the plan is unchanged" in out and "still too big" in out
