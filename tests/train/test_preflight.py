"""The preflight includes the optimizer step: an OOM that forward+backward alone would miss is caught.

A real TRL SFTTrainer on the tiny model (no mocks of transformers/peft/trl); the GPU is simulated with a fake
card size (FTWIZARD_FAKE_GPU_GIB) and the CPU tensor-bytes reader.
"""

from __future__ import annotations

import json

import pytest

from ftwizard.core.run.config import RunConfig
from ftwizard.core.run.diagnosis import diagnose
from ftwizard.core.run.layout import RunDir

pytestmark = pytest.mark.slow
GIB = 1024**3


def _trainer(tiny, tmp_path, micro_batch: int, method: str = "full"):
    import torch
    from datasets import load_dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    model_dir, data = tiny
    cfg = RunConfig(model=str(model_dir), data=str(data), method=method, micro_batch=micro_batch,
                    gradient_accumulation=2, max_seq_length=48, preflight_steps=1, auto_fit=False,
                    estimate_gib=0.001)
    rd = RunDir(tmp_path / f"run-{method}-{micro_batch}").create(cfg)
    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    peft = None
    if method == "lora":
        from peft import LoraConfig

        peft = LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", task_type="CAUSAL_LM")
    ds = load_dataset("json", data_files=str(data), split="train").select(range(40))
    args = SFTConfig(output_dir=str(tmp_path / "out"), per_device_train_batch_size=micro_batch,
                     gradient_accumulation_steps=2, max_length=48, use_cpu=True, report_to=[], optim="adamw_torch",
                     learning_rate=1e-2, dataloader_num_workers=0, disable_tqdm=True)
    return SFTTrainer(model=model, args=args, train_dataset=ds, processing_class=tok, peft_config=peft), cfg, rd


def _measure(trainer, cfg, rd, monkeypatch):
    import torch

    from ftwizard.train.preflight import preflight

    monkeypatch.delenv("FTWIZARD_FAKE_GPU_GIB", raising=False)
    return preflight(trainer, cfg, rd, torch).info  # no card: measured, not checked


def test_optimizer_step_is_in_the_preflight_and_catches_what_backward_misses(tiny, tmp_path, monkeypatch):
    import torch

    from ftwizard.train.preflight import PreflightOutOfMemory, preflight

    trainer, cfg, rd = _trainer(tiny, tmp_path, micro_batch=1)
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    info = _measure(trainer, cfg, rd, monkeypatch)
    backward = info["after_backward_gib"]["allocated"] * GIB
    step = info["after_step_gib"]["allocated"] * GIB
    assert info["verdict"] == "unchecked" and info["includes_optimizer_step"]
    assert step > backward  # AdamW's states appear only at the step
    # the preflight changed nothing: same weights, no optimizer left behind for train()
    assert all(torch.equal(before[n], p) for n, p in trainer.model.named_parameters())
    assert trainer.optimizer is None and all(p.grad is None for p in trainer.model.parameters())

    # a card where forward+backward fits but the optimizer step does not
    card = (backward + step) / 2 / 0.95
    assert backward <= card * 0.95 < step
    monkeypatch.setenv("FTWIZARD_FAKE_GPU_GIB", str(card / GIB))
    with pytest.raises(PreflightOutOfMemory) as exc:
        preflight(trainer, cfg, rd, torch)
    diag = diagnose(f"PreflightOutOfMemory: {exc.value}", cfg.to_dict(), cfg.estimate_gib)
    assert diag.kind == "oom" and "gradient checkpointing" in diag.fix.lower()
    saved = json.loads(rd.memory_path.read_text())
    assert saved["verdict"] == "out_of_memory" and saved["fake_card"]
    assert saved["after_backward_gib"]["allocated"] <= saved["card_total_gib"] * 0.95
    assert any(e["type"] == "preflight" and e["verdict"] == "out_of_memory" for e in rd.read_events())
    assert all(torch.equal(before[n], p) for n, p in trainer.model.named_parameters())


def test_lora_preflight_restores_the_adapter(tiny, tmp_path, monkeypatch):
    import torch

    trainer, cfg, rd = _trainer(tiny, tmp_path, micro_batch=2, method="lora")
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if p.requires_grad}
    info = _measure(trainer, cfg, rd, monkeypatch)
    assert info["after_step_gib"]["allocated"] > 0 and info["includes_optimizer_step"]
    after = {n: p for n, p in trainer.model.named_parameters() if p.requires_grad}
    assert before and all(torch.equal(before[n], after[n]) for n in before)


def test_auto_fit_lowers_the_micro_batch_and_says_so(tiny, tmp_path, monkeypatch):
    import torch

    from ftwizard.train.preflight import preflight

    big, cfg_big, rd_big = _trainer(tiny, tmp_path, micro_batch=8)
    small, cfg_small, rd_small = _trainer(tiny, tmp_path, micro_batch=2)
    need_big = _measure(big, cfg_big, rd_big, monkeypatch)["measured_peak_allocated_gib"]
    need_small = _measure(small, cfg_small, rd_small, monkeypatch)["measured_peak_allocated_gib"]
    assert need_small < need_big
    monkeypatch.setenv("FTWIZARD_FAKE_GPU_GIB", str((need_small + need_big) / 2 / 0.95))
    cfg_big.auto_fit = True
    res = preflight(big, cfg_big, rd_big, torch)
    assert res is not None and res.info["verdict"] == "fits" and res.fixes
    assert cfg_big.micro_batch < 8 and cfg_big.micro_batch * cfg_big.gradient_accumulation == 16  # same effective batch
    assert big.args.per_device_train_batch_size == cfg_big.micro_batch
    assert big.args.gradient_accumulation_steps == cfg_big.gradient_accumulation
    evs = rd_big.read_events()
    assert any(e["type"] == "memory_fix" and "micro-batch" in e["message"] for e in evs)
    assert RunConfig.load(rd_big.config_path).micro_batch == cfg_big.micro_batch  # resume uses what ran


def test_gpu_calibrate_dry_run_writes_measured_next_to_estimate(tmp_path):
    """bench/gpu_calibrate.py on the CPU with a tiny config: one real training point in its own process."""
    import csv
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "bench" / "gpu_calibrate.py"
    spec = importlib.util.spec_from_file_location("gpu_calibrate", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / "measured.csv"
    assert mod.main(["--dry-run", "--methods", "lora", "--batches", "1", "--ckpt", "on", "--out", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 1 and rows[0]["status"] == "ok" and rows[0]["gpu"] == "cpu-dry-run"
    assert float(rows[0]["tokens_per_s"]) > 0 and float(rows[0]["est_high_gib"]) >= float(rows[0]["est_peak_gib"]) > 0
    assert set(mod.FIELDS) <= set(rows[0])
