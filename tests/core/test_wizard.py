"""Pure wizard core: answers/presets, the editable plan and its fixes, live-warning rules, run state, checklist."""

from __future__ import annotations

import json
import time

import pytest

from ftwizard.core.plan.catalog import find_preset
from ftwizard.core.plan.hardware import FakeProbe, ProbeResult
from ftwizard.core.run.checklist import ITEMS, load_state, mark
from ftwizard.core.run.config import RunConfig
from ftwizard.core.run.layout import RunDir
from ftwizard.core.run.state import RunState, Series, downsample, ema, list_runs
from ftwizard.core.run.watch import RunSetup, TrainingWatch
from ftwizard.core.wizard import Answers, apply_fix, auto_fit, make_plan, parse_value, planning_probe, to_run_config

LLAMA8 = find_preset("llama-3.1-8b")
RTX4090 = FakeProbe.of("4090").probe()


def test_answers_round_trip_through_preset_yaml(tmp_path):
    a = Answers(decide={"start": False}, task_kind="domain", gpu="NVIDIA A100-SXM4-80GB", gpu_count=2,
                model="llama-3.1-8b", data="d.jsonl", rows=3000, overrides={"micro_batch": 4, "method": "qlora"})
    path = a.save(tmp_path / "p.yaml")
    assert Answers.load(path) == a
    with pytest.raises(ValueError, match="unknown preset keys"):
        Answers.from_yaml("model: x\nbogus: 1\n")
    with pytest.raises(ValueError, match="Method"):
        Answers.from_yaml("overrides: {method: sgd}\n")


@pytest.mark.parametrize(("key", "raw", "want"), [
    ("micro_batch", "4", 4), ("learning_rate", "2e-4", 2e-4), ("gradient_checkpointing", "yes", True),
    ("target_modules", "q_proj, v_proj", ["q_proj", "v_proj"]), ("target_modules", "all-linear", "all-linear"),
])
def test_parse_value(key, raw, want):
    assert parse_value(key, raw) == want


@pytest.mark.parametrize(("key", "raw", "msg"), [
    ("micro_batch", "0", "at least 1"), ("micro_batch", "two", "not a whole number"),
    ("learning_rate", "3", "between 0 and 1"), ("dropout", "1.5", "below 1"), ("method", "sgd", "choose one of"),
])
def test_parse_value_errors_are_plain(key, raw, msg):
    with pytest.raises(ValueError, match=msg):
        parse_value(key, raw)


def test_plan_fits_then_edit_breaks_it_and_fixes_repair_it():
    ans = Answers(task_kind="domain", model="llama-3.1-8b", rows=3000, seq_p99=900)
    view = make_plan(ans, LLAMA8, RTX4090)
    assert view.fits and view.gpu_gib == pytest.approx(24.0) and not view.fixes
    ans.overrides.update(micro_batch=16, gradient_checkpointing=False)
    view = make_plan(ans, LLAMA8, RTX4090)
    assert not view.fits and view.fixes and "does not fit" in view.warnings[0]
    assert view.edited == {"micro_batch", "gradient_checkpointing"}
    # editing the micro-batch keeps the recommended effective batch
    rec = view.recommendation
    eff = rec.value("micro_batch") * rec.value("gradient_accumulation")
    assert view.values["micro_batch"] * view.values["gradient_accumulation"] >= eff
    peaks = [f.peak_gib for f in view.fixes]
    assert all(p < view.estimate.peak_gib for p in peaks)
    apply_fix(ans, view.fixes[0])
    assert make_plan(ans, LLAMA8, RTX4090).estimate.peak_gib == pytest.approx(peaks[0], abs=0.01)
    view = auto_fit(ans, LLAMA8, RTX4090)
    assert view.fits


def test_full_finetune_of_8b_auto_fits_by_going_qlora():
    ans = Answers(task_kind="complex", model="llama-3.1-8b", rows=20000, overrides={"method": "full"})
    assert not make_plan(ans, LLAMA8, RTX4090).fits
    view = auto_fit(ans, LLAMA8, RTX4090)
    assert view.fits and view.values["method"] == "qlora" and view.values["learning_rate"] == 2e-4


def test_planning_probe_and_run_config():
    local = ProbeResult(gpus=[], reason="no driver")
    ans = Answers(gpu="A100-80", gpu_count=2, model="llama-3.1-8b", data="x.jsonl", data_format="openai")
    probe = planning_probe(ans, local)
    assert probe.count == 2 and probe.gpus[0].total_gib == pytest.approx(80)
    assert planning_probe(Answers(gpu="cpu"), local).count == 0
    view = make_plan(ans, LLAMA8, local)
    cfg = to_run_config(ans, view, LLAMA8)
    assert cfg.model == "meta-llama/Llama-3.1-8B-Instruct" and cfg.num_gpus == 2 and cfg.trainer == "sft"
    assert cfg.estimate_gib and cfg.method == view.values["method"]
    assert RunConfig.from_dict(json.loads(json.dumps(cfg.__dict__))) == cfg
    ans.data_format = "preference"  # preference pairs → DPO, with DPO's own starting learning rate
    dpo = to_run_config(ans, make_plan(ans, LLAMA8, local), LLAMA8)
    assert dpo.trainer == "dpo" and dpo.learning_rate == 5e-6


# ---- live warnings ------------------------------------------------------------------------------------
def test_watch_overfitting():
    w = TrainingWatch()
    found = []
    for step, (train, ev) in enumerate([(2.0, 1.9), (1.5, 1.7), (1.0, 1.8), (0.6, 2.0)], 1):
        found += w.on_log(train, 1.0)
        found += w.on_eval(ev, step * 10)
    assert [x.kind for x in found] == ["overfitting"] and "fewer epochs" in found[0].fix
    # the lowest point is named, and no "best checkpoint" is promised (checkpoints rotate by age, not by eval loss)
    assert "lowest, 1.7, was at step 20" in found[0].message and "about 20 steps" in found[0].fix
    assert "best checkpoint" not in found[0].fix and "ftwizard check <run>" in found[0].fix
    assert w.on_eval(2.5) == []  # said once


def test_watch_loss_spike_not_learning_grad_explosion():
    w = TrainingWatch()
    kinds = [x.kind for loss in [2.0, 1.9, 1.8, 9.0] for x in w.on_log(loss)]
    assert kinds == ["loss_spike"]
    w = TrainingWatch()
    kinds = [x.kind for loss in [2.0] * 10 for x in w.on_log(loss)]
    assert kinds == ["not_learning"]
    w = TrainingWatch()
    kinds = [x.kind for g in [1.0, 1.1, 0.9, 1.0, 1.2, 50.0] for x in w.on_log(None, g)]
    assert kinds == ["grad_explosion"]
    w = TrainingWatch()
    assert [x for loss in [2.0, 1.5, 1.2, 1.0, 0.8, 0.7, 0.6, 0.5, 0.45] for x in w.on_log(loss, 1.0)] == []


# ---- run state ------------------------------------------------------------------------------------------
def test_run_state_progress_eta_and_series():
    s = RunState()
    t0 = 1000.0
    s.add({"type": "train_begin", "step": 0, "max_steps": 100, "time": t0})
    for step in range(10, 60, 10):
        s.add({"type": "log", "step": step, "max_steps": 100, "epoch": step / 100, "loss": 3 - step / 50,
               "learning_rate": 1e-4, "grad_norm": 1.0, "tokens_per_s": 500.0, "time": t0 + step, "elapsed_s": step})
    s.add({"type": "eval", "step": 50, "eval_loss": 2.5, "time": t0 + 50})
    s.add({"type": "warning", "kind": "overfitting", "message": "m", "fix": "f"})
    assert s.step == 50 and s.progress() == 0.5 and s.steps_per_s == pytest.approx(1.0)
    assert s.eta_s() == pytest.approx(50.0) and s.best_eval == 2.5 and len(s.loss) == 5 and s.warnings
    s.add({"type": "done", "step": 100})
    assert s.eta_s() == 0.0


def test_downsample_keeps_spikes_and_bounds_points():
    ser = Series()
    for i in range(100_000):
        ser.add(i, 1.0 + (i % 7) * 0.01)
    ser.ys[54_321] = 99.0
    xs, ys = downsample(ser.xs, ser.ys, 500)
    assert len(xs) <= 500 and max(ys) == 99.0 and xs == sorted(xs)
    assert ema([1.0, 1.0, 1.0]) == pytest.approx([1.0, 1.0, 1.0])


def test_runs_list_and_checklist_state(tmp_path):
    for name, state in (("a", "done"), ("b", "failed")):
        rd = RunDir(tmp_path / name).create(RunConfig(model="m", method="lora"))
        rd.write_status(state=state, last_step=5, max_steps=10)
        rd.append_event({"type": "eval", "step": 5, "eval_loss": 1.25 if name == "a" else 2.0})
        time.sleep(0.01)
    runs = list_runs(tmp_path)
    assert [r.state for r in runs] == ["failed", "done"] and runs[1].best_eval == 1.25
    mark(tmp_path / "a", "safety", True)
    mark(tmp_path / "a", "compare", True, "exact match 0.0 → 1.0")
    st = load_state(tmp_path / "a")
    assert st["safety"]["done"] and st["compare"]["result"].startswith("exact")
    assert {i.id for i in ITEMS} >= {"compare", "merge", "template", "card", "gguf", "general"}
    # a run of a .gguf file is listed by the file's name, not by its converted folder's hashed name
    RunDir(tmp_path / "g").create(RunConfig(model="/cache/gguf/SmolLM2-135M-Instruct.Q4_1-b451056b67a5",
                                            model_gguf="/models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    assert {r.model for r in list_runs(tmp_path)} == {"m", "SmolLM2-135M-Instruct.Q4_1.gguf"}


def test_fix_changes_behind_relaunch():
    from ftwizard.core.run.diagnosis import fix_changes

    cfg = {"micro_batch": 8, "gradient_accumulation": 2, "gradient_checkpointing": False, "method": "lora",
           "learning_rate": 2e-4}
    assert fix_changes("oom", cfg) == {"micro_batch": 4, "gradient_accumulation": 4, "gradient_checkpointing": True}
    at_floor = {**cfg, "micro_batch": 1, "gradient_checkpointing": True}
    assert fix_changes("oom", at_floor) == {"method": "qlora", "optimizer": "paged_adamw_8bit"}
    assert fix_changes("oom", {**at_floor, "method": "qlora", "optimizer": "paged_adamw_8bit"}) is None
    assert fix_changes("nan", cfg) == {"learning_rate": 1e-4}
    assert fix_changes("bad_data", cfg) is None


def test_watch_barely_learning_matches_the_real_failed_run():
    """The losses of the run that did not teach SmolLM2 (2.47 → 2.24, -9%) warn once past half-way; a loss that
    falls well, or a run not yet half-way, does not."""
    failed = [2.47, 2.45, 2.44, 2.40, 2.41, 2.38, 2.36, 2.33, 2.32, 2.30, 2.27, 2.26, 2.24, 2.25]
    w = TrainingWatch()
    early = [x.kind for i, loss in enumerate(failed) for x in w.on_log(loss, 1.0, progress=(i + 1) / 60)]
    assert early == []  # 14 of 60 steps: too early to say
    w = TrainingWatch()
    found = [x for i, loss in enumerate(failed) for x in w.on_log(loss, 1.0, progress=(i + 1) / len(failed))]
    assert [x.kind for x in found] == ["barely_learning"]
    assert "fallen only 7%" in found[0].message and "1e-3" in found[0].fix
    good = [2.2 - 0.12 * i for i in range(14)]
    w = TrainingWatch()
    assert [x for loss in good for x in w.on_log(loss, 1.0, progress=1.0)] == []
    w = TrainingWatch(trainer="dpo")
    assert [x for loss in failed for x in w.on_log(loss, 1.0, progress=1.0)] == []


def test_barely_learning_names_only_what_would_change():
    """The fix compares with the run's own settings: a 135M LoRA run at 2e-4, rank 8, 14 steps is told 1e-3, rank
    16 and more steps; a run already at 1e-3, rank 16 on all linear layers, 60 steps is pointed at its data."""
    failed = [2.47, 2.45, 2.44, 2.40, 2.41, 2.38, 2.36, 2.33, 2.32, 2.30, 2.27, 2.26, 2.24, 2.25]

    def fix(setup: RunSetup) -> str:
        w = TrainingWatch(setup=setup)
        return next(x for loss in failed for x in w.on_log(loss, 1.0, progress=1.0)).fix

    low = fix(RunSetup(method="lora", learning_rate=2e-4, rank=8, all_linear=False, steps=14, params=135_000_000))
    assert "learning rate 0.001 (now 0.0002)" in low and "now rank 8" in low and "now 14" in low
    usual = fix(RunSetup(method="lora", learning_rate=1e-3, rank=16, all_linear=True, steps=60,
                         params=135_000_000, data="mine.jsonl"))
    assert "learning rate" not in usual and "rank" not in usual and "ftwizard data mine.jsonl" in usual
    big = fix(RunSetup(method="lora", learning_rate=2e-4, rank=16, all_linear=True, steps=200, params=7_000_000_000))
    assert "learning rate" not in big and "look at the data" in big
