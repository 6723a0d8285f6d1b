"""End-to-end: the real trainer subprocess on a tiny model built here (nothing downloaded, no mocks)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ftwizard.core.run.config import RunConfig
from ftwizard.core.run.launcher import launch, reconcile, wait
from ftwizard.core.run.layout import RunDir
from tests.helpers import wait_for

pytestmark = pytest.mark.slow



def _run(tmp_path, tiny, name, **kw) -> tuple[Path, dict]:
    model, data = tiny
    cfg = RunConfig(model=str(model), data=str(data), max_seq_length=48, micro_batch=8, gradient_accumulation=1,
                    learning_rate=2e-3, epochs=1, max_steps=kw.pop("max_steps", 12), logging_steps=2, eval_steps=6,
                    save_steps=6, target_modules="all-linear", **kw)
    run = tmp_path / name
    RunDir(run).create(cfg)
    st = wait(launch(run), run)
    return run, st


def test_lora_run_writes_the_contract_and_adapter_loads(tmp_path, tiny):
    run, st = _run(tmp_path, tiny, "lora", method="lora", rank=4, alpha=8)
    rd = RunDir(run)
    assert st["state"] == "done", (run / "stdout.log").read_text()[-3000:]
    evs = rd.read_events()
    logs = [e for e in evs if e["type"] == "log" and "loss" in e]
    assert logs and all({"step", "epoch", "loss", "learning_rate", "grad_norm", "time"} <= set(e) for e in logs)
    assert any(e["type"] == "eval" and "eval_loss" in e for e in evs)
    assert any(e["type"] == "preflight" for e in evs) and json.loads(rd.memory_path.read_text())["longest_tokens"] > 0
    assert (rd.data_dir / "split.json").exists() and rd.last_checkpoint() is not None
    assert st["pid"] and st["started"] and st["ended"]
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(str(tiny[0]))
    model = PeftModel.from_pretrained(base, str(rd.adapter))
    out = model(input_ids=torch.tensor([[4, 10, 11, 12]]))
    assert out.logits.shape[-1] == base.config.vocab_size


def test_qlora_on_cpu(tmp_path, tiny):
    run, st = _run(tmp_path, tiny, "qlora", method="qlora", rank=4, alpha=8, max_steps=4, precision="bf16",
                   optimizer="adamw_torch")
    assert st["state"] == "done", (run / "stdout.log").read_text()[-3000:]
    cfg = json.loads((RunDir(run).adapter / "adapter_config.json").read_text())
    assert cfg["r"] == 4


def test_full_finetune_and_dora(tmp_path, tiny):
    run, st = _run(tmp_path, tiny, "full", method="full", max_steps=4)
    assert st["state"] == "done" and (run / "model" / "config.json").exists()
    run, st = _run(tmp_path, tiny, "dora", method="dora", rank=4, alpha=8, max_steps=4)
    assert st["state"] == "done"
    assert json.loads((RunDir(run).adapter / "adapter_config.json").read_text())["use_dora"] is True


def test_dpo(tmp_path, tiny):
    model, _ = tiny
    rows = [{"prompt": [{"role": "user", "content": f"199{i % 10}-01-0{1 + i % 9}"}],
             "chosen": [{"role": "assistant", "content": f"0{1 + i % 9}/01/199{i % 10}"}],
             "rejected": [{"role": "assistant", "content": "no"}]} for i in range(40)]
    data = tmp_path / "pref.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = RunConfig(model=str(model), data=str(data), trainer="dpo", method="lora", rank=4, alpha=8,
                    max_seq_length=48, micro_batch=4, max_steps=3, logging_steps=1, eval_steps=10, save_steps=10,
                    learning_rate=1e-3)
    run = tmp_path / "dpo"
    RunDir(run).create(cfg)
    st = wait(launch(run), run)
    assert st["state"] == "done", (run / "stdout.log").read_text()[-3000:]
    assert any("loss" in e for e in RunDir(run).read_events() if e["type"] == "log")


def test_injected_nan_is_diagnosed_and_events_kept(tmp_path, tiny):
    run, st = _run(tmp_path, tiny, "nan", method="full", max_steps=20, debug_inject_nan_at_step=3)
    assert st["state"] == "failed"
    assert st["diagnosis"]["kind"] == "nan" and "learning rate" in st["diagnosis"]["fix"]
    evs = RunDir(run).read_events()
    assert any(e["type"] == "log" for e in evs) and evs[-1]["type"] == "failed"


def test_bad_model_path_and_bad_data(tmp_path, tiny):
    cfg = RunConfig(model=str(tmp_path / "nope"), data=str(tiny[1]), max_steps=1)
    RunDir(tmp_path / "badm").create(cfg)
    st = wait(launch(tmp_path / "badm"), tmp_path / "badm")
    assert st["state"] == "failed" and st["diagnosis"]["kind"] in ("bad_model", "crash")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": []}\n{oops\n')
    RunDir(tmp_path / "badd").create(RunConfig(model=str(tiny[0]), data=str(bad), max_steps=1))
    st = wait(launch(tmp_path / "badd"), tmp_path / "badd")
    assert st["state"] == "failed" and st["diagnosis"]["kind"] == "bad_data"


def test_stop_checkpoint_resume_and_kill(tmp_path, tiny):
    model, data = tiny
    cfg = RunConfig(model=str(model), data=str(data), method="lora", rank=4, alpha=8, max_seq_length=48, micro_batch=8,
                    max_steps=40, logging_steps=1, eval_steps=100, save_steps=100, debug_sleep_per_step=0.15)
    run = tmp_path / "stop"
    rd = RunDir(run).create(cfg)
    proc = launch(run)
    assert wait_for(lambda: any(e.get("step", 0) >= 3 for e in rd.read_events() if e["type"] == "log"), timeout=120)
    os.kill(proc.pid, signal.SIGTERM)
    st = wait(proc, run)
    assert st["state"] == "stopped"
    ck = rd.last_checkpoint()
    assert ck is not None
    stopped_at = int(ck.name.split("-")[-1])
    n_before = len(rd.read_events())
    out = subprocess.run([sys.executable, "-m", "ftwizard", "train", "--resume", str(run)], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:]
    evs = rd.read_events()
    assert len(evs) > n_before and evs[:n_before] == rd.read_events()[:n_before]
    steps = [e["step"] for e in evs[n_before:] if e["type"] == "log"]
    assert steps and min(steps) > stopped_at and rd.status()["state"] == "done"
    # a killed process (SIGKILL) cannot write its own status: reconcile diagnoses it, events stay intact
    cfg.max_steps = 400
    run2 = tmp_path / "kill"
    rd2 = RunDir(run2).create(cfg)
    proc = launch(run2)
    assert wait_for(lambda: any(e["type"] == "log" for e in rd2.read_events()), timeout=120)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    st = reconcile(run2)
    assert st["state"] == "failed" and st["diagnosis"]["kind"] == "killed"
    assert all(isinstance(e, dict) for e in rd2.read_events())


def test_accelerate_cpu_ddp_two_processes(tmp_path, tiny):
    model, data = tiny
    cfg = RunConfig(model=str(model), data=str(data), method="lora", rank=4, alpha=8, max_seq_length=48,
                    micro_batch=4, max_steps=3, logging_steps=1, eval_steps=10, save_steps=10, num_gpus=2)
    run = tmp_path / "ddp"
    RunDir(run).create(cfg)
    st = wait(launch(run, num_gpus=2, cpu_multi=True), run)
    assert st["state"] == "done", (run / "stdout.log").read_text()[-3000:]
    assert RunDir(run).adapter.exists()
    procs = [e for e in RunDir(run).read_events() if e.get("kind") == "processes"]
    assert procs and procs[0]["processes"] == 2 and procs[0]["backend"] == "gloo", procs  # really two processes


def _final(run: Path) -> tuple[float, float, int]:
    evs = RunDir(run).read_events()
    train_loss = [e["train_loss"] for e in evs if isinstance(e.get("train_loss"), float)][-1]
    eval_loss = [e["eval_loss"] for e in evs if isinstance(e.get("eval_loss"), float)][-1]
    tokens = max(e.get("num_input_tokens_seen") or 0 for e in evs)
    return train_loss, eval_loss, tokens


def test_exported_accelerate_config_runs_two_processes_like_one(tmp_path, tiny):
    """Issue 25: `ftwizard export --to accelerate --gpus 2` for a run planned on one process; the exported config
    (FSDP, as the rented shape chose) started on 2 CPU processes (gloo) with the accumulation the export says keeps
    the effective batch: the same effective batch, the same tokens, final losses within 2% of one process."""
    model, data = tiny
    cfg = RunConfig(model=str(model), data=str(data), method="lora", rank=4, alpha=8, dropout=0.0, max_seq_length=48,
                    micro_batch=2, gradient_accumulation=4, max_steps=10, logging_steps=1, eval_steps=5,
                    save_steps=100, learning_rate=2e-3)
    one = tmp_path / "one"
    RunDir(one).create(cfg)
    assert wait(launch(one), one)["state"] == "done", (one / "stdout.log").read_text()[-3000:]
    (tmp_path / "cfg.yaml").write_text(cfg.to_yaml(), encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "ftwizard", "export", str(tmp_path / "cfg.yaml"), "--to", "accelerate",
                          "--gpus", "2", "--gpu", "A100-80GB", "--out", str(tmp_path / "acc.yaml")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    said = " ".join((out.stdout + out.stderr).split())
    assert "gradient accumulation 4 → 2 on 2 GPUs: the same effective batch" in said, said
    import yaml

    acc = yaml.safe_load((tmp_path / "acc.yaml").read_text())
    assert acc["num_processes"] == 2 and acc["distributed_type"] in ("FSDP", "MULTI_GPU")
    two = tmp_path / "two"
    from dataclasses import replace

    RunDir(two).create(replace(cfg, gradient_accumulation=2, num_gpus=2, accelerate_config=str(tmp_path / "acc.yaml")))
    st = wait(launch(two, num_gpus=2, cpu_multi=True), two)
    assert st["state"] == "done", (two / "stdout.log").read_text()[-3000:]
    procs = [e for e in RunDir(two).read_events() if e.get("kind") == "processes"]
    assert procs and procs[0]["processes"] == 2 and procs[0]["effective_batch"] == 8 == 2 * 4, procs
    (t1, e1, n1), (t2, e2, n2) = _final(one), _final(two)
    assert n1 == n2  # the same tokens trained
    assert abs(t2 - t1) / t1 < 0.02 and abs(e2 - e1) / e1 < 0.02, (t1, t2, e1, e2)
    assert RunDir(two).adapter.exists()


def test_disk_full_is_diagnosed_and_nothing_written_is_lost(tmp_path, tiny):
    run, st = _run(tmp_path, tiny, "disk", method="lora", rank=4, alpha=8, debug_disk_full_at_step=8)
    assert st["state"] == "failed" and st["diagnosis"]["kind"] == "disk_full", st
    assert "space" in st["diagnosis"]["summary"].lower() or "disk" in st["diagnosis"]["summary"].lower()
    rd = RunDir(run)
    evs = rd.read_events()
    assert [e["step"] for e in evs if e["type"] == "log" and "loss" in e][:3] == [2, 4, 6]
    assert evs[-1]["type"] == "failed" and rd.last_checkpoint() is not None  # checkpoint-6 survives


def test_checks_on_a_lora_run_merge_and_template(tmp_path, tiny):
    run, st = _run(tmp_path, tiny, "checks", method="lora", rank=4, alpha=8)
    assert st["state"] == "done"
    from ftwizard.train.checks import run_checks

    res = run_checks(run, only=["compare", "template", "merge", "card"], limit=20)
    for side in ("baseline", "tuned"):
        assert {"exact_match", "rouge_l", "perplexity", "loss"} <= set(res[side])
        assert 0 <= res[side]["exact_match"] <= 1 and res[side]["perplexity"] >= 1
    assert res["template"]["chat_template"] and "stopped_at_eos" in res["template"]
    merged = Path(res["merged"]["path"])
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(merged))
    tok = AutoTokenizer.from_pretrained(str(merged))
    ids = tok.apply_chat_template([{"role": "user", "content": "2001-02-03"}], add_generation_prompt=True,
                                  return_tensors="pt", return_dict=True)
    out = model.generate(**ids, max_new_tokens=5, do_sample=False)
    assert out.shape[1] > ids["input_ids"].shape[1]
    assert (run / "RUN_CARD.md").exists() and json.loads((run / "run_card.json").read_text())["versions"]["peft"]
    state = json.loads((run / "checklist.json").read_text())["items"]
    assert state["compare"]["done"] and state["merge"]["done"]
    out = subprocess.run([sys.executable, "-m", "ftwizard", "check", str(run), "--only", "card", "--json"],
                         capture_output=True, text=True, check=True)
    assert {"baseline", "tuned", "merged", "card"} <= set(json.loads(out.stdout))
