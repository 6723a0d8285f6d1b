"""The time of `ftwizard train` before launch (core/plan/timing.py), refined by the preflight, and the monitor's
ETA from the first step (RunState + the heartbeat) — pure, no training here (the real figures: bench/time_check.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ftwizard.core.plan.timing import Workload, estimate_time, fmt_seconds, from_preflight, padded_tokens
from ftwizard.core.run.state import RunState
from ftwizard.ui.screens.monitor import progress_text

SMOL = dict(params=134.5e6, trainable=4.88e6, method="lora", grad_ckpt=False, model_bytes=538e6, rows=48,
            tokens_per_row=56.8, seq_quantiles={"p50": 56, "p90": 61, "p99": 66, "max": 66}, max_seq_length=128,
            micro_batch=4, gradient_accumulation=1, epochs=4.0, eval_steps=8, eval_on_start=True, save_steps=10)


def test_the_real_model_plan_prices_every_part() -> None:
    w = Workload(**SMOL)
    assert w.train_rows == 38 and w.val_rows == 5 and w.steps() == 40
    assert 56.8 < w.padded_row() < 66  # a micro-batch of 4 pads to about its longest row
    assert padded_tokens(w, 40) == pytest.approx(38 * 4 * w.padded_row())
    t = estimate_time(w, threads=1)
    assert t is not None and t.steps == 40
    assert t.parts["eval_count"] == 6 and t.parts["save_count"] == 4  # step 0 + every 8; every 10
    # measured on this project's CPU (2026-12-05): `ftwizard train` of this plan took 124 s and 132 s
    assert 124 * 0.8 < t.total_seconds < 132 * 1.25, t.to_dict()
    parts = {k: v for k, v in t.parts.items() if not k.endswith("_count")}
    assert t.total_seconds == pytest.approx(sum(parts.values()), abs=1)
    assert t.range_seconds[0] < t.total_seconds < t.range_seconds[1]
    assert set(t.to_dict()) >= {"device", "tokens", "train_seconds", "total_seconds", "basis"}


def test_more_threads_gpus_and_checkpointing_move_the_time_the_right_way() -> None:
    one = estimate_time(Workload(**SMOL), threads=1)
    two = estimate_time(Workload(**SMOL), threads=2)
    ckpt = estimate_time(Workload(**{**SMOL, "grad_ckpt": True}), threads=1)
    full = estimate_time(Workload(**{**SMOL, "method": "full", "trainable": 134.5e6}), threads=1)
    assert one and two and ckpt and full
    assert two.train_seconds < one.train_seconds < min(ckpt.train_seconds, full.train_seconds)
    assert full.parts["saves"] > one.parts["saves"] * 3  # a full checkpoint is the whole model and its optimizer
    gpu = estimate_time(Workload(**SMOL), gpu="H100")
    assert gpu is not None and gpu.train_seconds < one.train_seconds / 50 and "TFLOPS" in gpu.basis
    assert estimate_time(Workload(**SMOL), gpu="Imaginary GPU 9000") is None


def test_the_preflight_step_replaces_the_model() -> None:
    w = Workload(**{**SMOL, "exact_rows": (38, 5)})
    t = from_preflight(w, measured_s=2.6, measured_steps=1, longest_tokens=66, device="this CPU", elapsed_s=15.0)
    assert t.basis.startswith("measured: the preflight's step took 2.60 s on 66 tokens × 4")
    # 38 rows × 4 epochs in micro-batches of 4 at 2.6 s per 66-token batch, scaled to the padded rows
    assert t.train_seconds == pytest.approx(38 * 4 / 4 * 2.6 * w.padded_row() / 66 + 40 * 0.05, rel=0.01)
    assert t.parts["so_far"] == 15.0 and t.total_seconds > t.train_seconds + 15
    assert "so far" in t.line()


def test_units_never_round_to_zero() -> None:
    assert fmt_seconds(42) == "42 s" and fmt_seconds(150) == "2.5 min" and fmt_seconds(7200) == "2.0 h"
    from ftwizard.core.plan.cost import about, money

    assert about(0.0000001) == "< 1 s" and money(0.001) == "< USD 0.01" and money(1.234) == "~USD 1.23"


def test_the_eta_is_shown_from_the_first_step_and_before_it() -> None:
    s = RunState()
    t0 = 1_000_000.0
    s.add({"type": "time", "time": t0, "total_seconds": 130.0, "parts": {"so_far": 15.0}})
    s.add({"type": "train_begin", "step": 0, "max_steps": 40, "time": t0 + 1})
    assert s.eta_s(t0 + 11) == pytest.approx(130 - 15 - 11)  # before step 1: the preflight's estimate, counting down
    assert s.beat({"step": 1, "step_s": 2.5}) is True
    assert s.eta_s(t0 + 14) == pytest.approx(39 * 2.5)  # from step 1: the heartbeat's step time
    text = progress_text(s, {"state": "running"}, now=t0 + 14)
    assert "step 1/40" in text and "ETA 1m37s" in text and "elapsed 13s" in text and "0.40 step/s" in text
    assert "elapsed 23s" in progress_text(s, {"state": "running"}, now=t0 + 24)  # ticks between events


def test_elapsed_counts_loading_too() -> None:
    """Elapsed is the attempt's wall time (loading and the preflight count), with the training time beside it."""
    s, t0 = RunState(), 1_000_000.0
    running = {"state": "running", "started": t0}
    assert "starting (loading, preflight) 1m30s" in progress_text(s, running, now=t0 + 90)  # it said "elapsed 0s"
    s.add({"type": "train_begin", "step": 0, "max_steps": 40, "time": t0 + 100})
    s.beat({"step": 1, "step_s": 2.5})
    assert "elapsed 2m00s (training 20s)" in progress_text(s, running, now=t0 + 120)
    done = {"state": "done", "started": t0, "ended": t0 + 300}
    s.add({"type": "log", "step": 40, "elapsed_s": 190.0, "time": t0 + 290})
    assert "elapsed 5m00s (training 3m10s)" in progress_text(s, done, now=t0 + 999)  # frozen at the end


def test_plan_json_carries_the_time(tmp_path: Path) -> None:
    """`ftwizard plan --json` carries `time` for the device the plan is for (here a fake RTX 4090 and the CPU)."""
    cfg = {"model_type": "llama", "hidden_size": 2048, "intermediate_size": 5632, "num_hidden_layers": 22,
           "num_attention_heads": 32, "num_key_value_heads": 4, "vocab_size": 32000, "max_position_embeddings": 2048,
           "torch_dtype": "bfloat16"}
    model = tmp_path / "m"
    model.mkdir()
    (model / "config.json").write_text(json.dumps(cfg))
    fake = tmp_path / "gpu.json"
    fake.write_text(json.dumps({"gpus": [{"name": "NVIDIA GeForce RTX 4090", "total_gib": 24}]}))
    for extra, device in ((["--fake", str(fake)], "4090"), (["--gpu", "cpu"], "CPU")):
        out = subprocess.run([sys.executable, "-m", "ftwizard", "plan", str(model), "--rows", "2000", "--json",
                              *extra], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        t = json.loads(out.stdout)["time"]
        assert device in t["device"] and t["total_seconds"] > t["train_seconds"] > 0 and t["tokens"] > 0, t
        assert t["basis"].startswith("model: ")
