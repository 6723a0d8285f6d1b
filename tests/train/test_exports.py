"""A run you can take anywhere, on the tiny model: the exported TRL command reproduces ftwizard's losses,
TensorBoard logs, `trainer_args` reaching the trainer, a fake Hub token written nowhere, prefix/prompt/IA3
adapters, and a run started from a finished one (SFT, then DPO on it)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from ftwizard.core.run.config import RunConfig
from ftwizard.core.run.config_load import check_environment
from ftwizard.core.run.launcher import launch, wait
from ftwizard.core.run.layout import RunDir
from ftwizard.core.run.service import create_run

pytestmark = pytest.mark.slow
FAKE_TOKEN = "hf_fakeTOKENfor" + "ftwizardTests0123456789"


def _cfg(tiny, **kw) -> RunConfig:
    model, data = tiny
    base = dict(model=str(model), data=str(data), max_seq_length=48, micro_batch=8, gradient_accumulation=1,
                learning_rate=2e-3, epochs=1, max_steps=8, logging_steps=2, eval_steps=4, save_steps=4, rank=4,
                alpha=8)
    return check_environment(RunConfig(**{**base, **kw}))


def _train(run: Path, cfg: RunConfig) -> dict:
    create_run(run, cfg)
    st = wait(launch(run, extra_env={"HF_TOKEN": FAKE_TOKEN}), run)
    assert st["state"] == "done", (run / "stdout.log").read_text()[-3000:]
    return st


@pytest.fixture(scope="module")
def sft_run(tmp_path_factory, tiny) -> Path:
    pytest.importorskip("tensorboard")
    run = tmp_path_factory.mktemp("exports") / "sft run"  # a space in the path: launch.sh quotes it
    _train(run, _cfg(tiny, report_to=["tensorboard"], trainer_args={"max_grad_norm": 0.5}))
    return run


def _losses(history: list[dict]) -> tuple[dict[int, float], dict[int, float]]:
    return ({h["step"]: h["loss"] for h in history if "loss" in h},
            {h["step"]: h["eval_loss"] for h in history if "eval_loss" in h})


def test_exported_trl_command_reproduces_the_loss(sft_run, tmp_path):
    rd = RunDir(sft_run)
    trl = yaml.safe_load(rd.trl_config("sft").read_text())
    assert trl["dataset_name"] == str(rd.data_dir.resolve()) and trl["dataset_test_split"] == "validation"
    assert (trl["use_cpu"], trl["bf16"], trl["dtype"]) == (True, False, "float32")  # as used on this CPU
    assert (trl["max_steps"], trl["save_steps"], trl["save_total_limit"], trl["max_grad_norm"]) == (8, 4, 3, 0.5)
    assert trl["report_to"] == ["tensorboard"] and trl["lora_target_modules"] == "all-linear"
    from ftwizard.core.run.config_load import load_any

    back, _ = load_any(rd.trl_config("sft"))  # and `ftwizard train trl_sft.yaml` reads it back to the same run
    ours_cfg = rd.config()
    for key in ("micro_batch", "learning_rate", "max_steps", "rank", "alpha", "method", "eval_steps", "logging_steps",
                "save_steps", "max_seq_length", "report_to", "lr_scheduler", "optimizer", "warmup_ratio"):
        assert getattr(back, key) == getattr(ours_cfg, key), key
    assert back.precision == "fp32" and back.trainer_args["max_grad_norm"] == 0.5
    out = tmp_path / "trl out"
    env = {**os.environ, "HF_TOKEN": FAKE_TOKEN}
    res = subprocess.run(["bash", str(rd.launch_sh), "--output_dir", str(out)], capture_output=True, text=True,
                         env=env, cwd=tmp_path, timeout=600)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    state = json.loads((out / "checkpoint-8" / "trainer_state.json").read_text())
    theirs, theirs_eval = _losses(state["log_history"])
    ours, ours_eval = _losses(rd.read_events())
    assert sorted(ours) == sorted(theirs) == [2, 4, 6, 8] and sorted(ours_eval) == sorted(theirs_eval) == [4, 8]
    for step in ours:
        assert theirs[step] == pytest.approx(ours[step], rel=1e-4, abs=1e-5), (step, ours, theirs)
    for step in ours_eval:
        assert theirs_eval[step] == pytest.approx(ours_eval[step], rel=1e-4, abs=1e-5)


def test_tensorboard_trainer_args_and_no_token_written(sft_run):
    import torch

    rd = RunDir(sft_run)
    assert list(rd.checkpoints.rglob("events.out.tfevents.*")), "no TensorBoard event file"
    args = torch.load(rd.adapter / "training_args.bin", weights_only=False)
    assert args.max_grad_norm == 0.5 and list(args.report_to) == ["tensorboard"]
    state = json.loads((rd.last_checkpoint() / "trainer_state.json").read_text())
    assert state["global_step"] == 8
    token = FAKE_TOKEN.encode()
    leaked = [p for p in sft_run.rglob("*") if p.is_file() and token in p.read_bytes()]
    assert not leaked, leaked
    for text in (rd.status_path.read_text(), rd.config_path.read_text(), rd.stdout_path.read_text(),
                 json.dumps(rd.status().get("command"))):
        assert FAKE_TOKEN not in text


@pytest.mark.parametrize("method,peft_type", [("prefix", "PREFIX_TUNING"), ("prompt", "PROMPT_TUNING"),
                                               ("ia3", "IA3")])
def test_more_peft_methods_train_and_load(tmp_path, tiny, method, peft_type):
    run = tmp_path / method
    _train(run, _cfg(tiny, method=method, virtual_tokens=4, max_steps=2, eval_steps=2, save_steps=2))
    rd = RunDir(run)
    assert json.loads((rd.adapter / "adapter_config.json").read_text())["peft_type"] == peft_type
    assert any(e["type"] == "log" and "loss" in e for e in rd.read_events())
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(tiny[0])), str(rd.adapter))
    assert model(input_ids=torch.tensor([[4, 10, 11, 12]])).logits.shape[0] == 1
    assert "SFTTrainer(peft_config" in rd.launch_sh.read_text()  # the TRL CLI builds LoRA only: said, not faked


def test_dpo_and_full_from_a_finished_sft_run(sft_run, tmp_path, tiny):
    rows = [{"prompt": [{"role": "user", "content": f"199{i % 10}-01-0{1 + i % 9}"}],
             "chosen": [{"role": "assistant", "content": f"0{1 + i % 9}/01/199{i % 10}"}],
             "rejected": [{"role": "assistant", "content": "no"}]} for i in range(40)]
    pref = tmp_path / "pref.jsonl"
    pref.write_text("".join(json.dumps(r) + "\n" for r in rows))
    dpo = tmp_path / "dpo"
    cfg = _cfg(tiny, model="", data=str(pref), trainer="dpo", rank=8, micro_batch=4, max_steps=2, eval_steps=10,
               save_steps=10, init_from=str(sft_run))
    assert cfg.model == str(tiny[0]) and cfg.init_from == str(RunDir(sft_run).adapter.resolve())
    _train(dpo, cfg)
    notes = [e["message"] for e in RunDir(dpo).read_events() if e["type"] == "note" and "starting from" in
             e.get("message", "")]
    assert notes and "keeps training" in notes[0]
    sft_ad = json.loads((RunDir(sft_run).adapter / "adapter_config.json").read_text())
    dpo_ad = json.loads((RunDir(dpo).adapter / "adapter_config.json").read_text())
    assert dpo_ad["r"] == sft_ad["r"] == 4  # the SFT adapter kept training (not a fresh rank-8 one)
    from safetensors.torch import load_file

    before = load_file(str(RunDir(sft_run).adapter / "adapter_model.safetensors"))
    after = load_file(str(RunDir(dpo).adapter / "adapter_model.safetensors"))
    assert before.keys() == after.keys() and any(not before[k].equal(after[k]) for k in before)
    full = tmp_path / "full"
    _train(full, _cfg(tiny, method="full", max_steps=1, eval_steps=10, save_steps=10, init_from=str(sft_run)))
    assert (RunDir(full).full_model / "config.json").exists()


def test_push_to_hub_failure_is_a_warning_and_the_token_stays_out(tmp_path, tiny):
    """Offline (HF_HUB_OFFLINE=1) the upload fails at once: the run is still done, the result saved, the warning says
    how to push by hand, and the fake token is nowhere in the run directory."""
    run = tmp_path / "push"
    create_run(run, _cfg(tiny, max_steps=1, eval_steps=10, save_steps=10, push_to_hub=True, hub_model_id="me/tiny"))
    st = wait(launch(run, extra_env={"HF_TOKEN": FAKE_TOKEN, "HF_HUB_OFFLINE": "1"}), run)
    rd = RunDir(run)
    assert st["state"] == "done" and rd.adapter.exists(), (run / "stdout.log").read_text()[-3000:]
    warn = [e for e in rd.read_events() if e.get("kind") == "push_to_hub"]
    assert warn and "hf upload me/tiny" in warn[0]["fix"]
    trl = yaml.safe_load(rd.trl_config("sft").read_text())
    assert (trl["push_to_hub"], trl["hub_model_id"], trl["hub_private_repo"]) == (True, "me/tiny", True)
    assert not [p for p in run.rglob("*") if p.is_file() and FAKE_TOKEN.encode() in p.read_bytes()]
