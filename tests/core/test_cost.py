"""Time and cost before launch: a 7B LoRA on a 4090 and on rented A100s, every figure traced to the data files."""

from __future__ import annotations

import pytest
import yaml

from ftwizard.core.plan.catalog import find_preset
from ftwizard.core.plan.cost import estimate_cost, find_gpu, flops_per_token, plan_cost, price_tables, training_tokens
from ftwizard.core.plan.memory import EstimateInput, estimate
from ftwizard.core.resources import data_dir

GPU_FILE = data_dir("presets") / "gpu_prices.yaml"
API_FILE = data_dir("presets") / "api_prices.yaml"


def _raw() -> tuple[dict, dict]:
    return yaml.safe_load(GPU_FILE.read_text()), yaml.safe_load(API_FILE.read_text())


def test_data_files_have_a_date_and_sources():
    gpu, api = _raw()
    assert gpu["date"] and api["date"] and gpu["currency"] == api["currency"] == "USD"
    assert all(r["source"] for r in gpu["rent"].values()) and all(a["source"] for a in api["api"].values())
    assert all(find_gpu(name, gpu["specs"]) for name in gpu["rent"])  # every rented card has a spec


def test_flops_rules():
    assert flops_per_token(7e9, 7e9, "full") == 6 * 7e9
    assert flops_per_token(7e9, 4e7, "lora") == 4 * 7e9 + 6 * 4e7
    assert flops_per_token(7e9, 4e7, "lora", grad_ckpt=True) == 6 * 7e9 + 6 * 4e7
    assert training_tokens(10_000, 400, 3) == 12_000_000


def test_7b_lora_on_a_4090_and_on_rented_a100s(tmp_path):
    gpu, api = _raw()
    f = find_preset("qwen2.5-7b")
    est = estimate(f, EstimateInput(method="lora", batch=2, seq=1024, grad_ckpt=True))
    rows, per_row, epochs = 10_000, 400, 3
    tables = price_tables(tmp_path / "none.yaml")
    tokens = rows * per_row * epochs
    flops = (6 * est.params + 6 * est.trainable_params) * tokens  # LoRA 4P + checkpointing 2P + 6 × trainable
    lo_u, hi_u = gpu["utilisation"]["low"], gpu["utilisation"]["high"]

    own = plan_cost(est, rows=rows, tokens_per_row=per_row, epochs=epochs, gpu="4090", tables=tables)
    spec = gpu["specs"]["NVIDIA GeForce RTX 4090"]
    assert own.tokens == tokens and own.flops == pytest.approx(flops)
    fast, slow = flops / (spec["tflops"] * 1e12 * hi_u) / 3600, flops / (spec["tflops"] * 1e12 * lo_u) / 3600
    assert own.hours == pytest.approx((fast, slow))
    kwh_price = gpu["electricity"]["price_per_kwh"]
    assert own.own_cost == pytest.approx((spec["watts"] / 1000 * fast * kwh_price, spec["watts"] / 1000 * slow * kwh_price))
    assert 1 < own.hours[0] < own.hours[1] < 10  # a 7B LoRA over 12M tokens: hours, not minutes or days

    a100 = next(r for r in own.rent if "A100" in r.gpu)
    a100_spec = gpu["specs"]["NVIDIA A100-SXM4-80GB"]
    mid = (flops / (a100_spec["tflops"] * 1e12 * hi_u) + flops / (a100_spec["tflops"] * 1e12 * lo_u)) / 2 / 3600
    assert a100.hours == pytest.approx(mid)
    assert a100.cost == pytest.approx(mid * gpu["rent"]["NVIDIA A100-SXM4-80GB"]["price"])
    assert a100.fits is True

    two = estimate_cost(params=est.params, trainable=est.trainable_params, method="lora", tokens=tokens,
                        gpu="A100-80", gpus=2, grad_ckpt=True, tables=tables)
    assert two.hours == pytest.approx((fast * spec["tflops"] / a100_spec["tflops"] / 2,
                                       slow * spec["tflops"] / a100_spec["tflops"] / 2))
    mini = next(a for a in own.api if "mini" in a.name)
    assert mini.cost == pytest.approx(tokens / 1e6 * api["api"]["OpenAI gpt-4o-mini"]["per_million_training_tokens"])
    assert any("A100" in line and "rent" in line for line in own.lines())


def test_user_file_overrides_prices(tmp_path):
    user = tmp_path / "prices.yaml"
    user.write_text("electricity: {price_per_kwh: 0.10}\nrent:\n  'NVIDIA A100-SXM4-80GB': {price: 1.00}\n")
    t = price_tables(user)
    assert t["electricity"]["price_per_kwh"] == 0.10 and t["user_file"] == str(user)
    assert t["rent"]["NVIDIA A100-SXM4-80GB"]["price"] == 1.00
    assert t["rent"]["NVIDIA A100-SXM4-80GB"]["memory_gib"] == 80.0  # the rest of the entry is kept
    c = estimate_cost(params=7e9, trainable=4e7, method="qlora", tokens=1e6, gpu="A100-80", tables=t)
    assert c.kwh_price == 0.10 and c.notes  # QLoRA's slowdown is stated


def test_measured_speed_refines_the_estimate(tmp_path):
    from ftwizard.core.plan.cost import measured_utilisation, remaining_hours

    t = price_tables(tmp_path / "none.yaml")
    tflops = t["specs"]["NVIDIA GeForce RTX 4090"]["tflops"]
    # a 7B LoRA at 2,000 tokens/s on a 4090: 2000 × (4 × 7e9 + 6 × 4e7) / 165.2e12
    u = measured_utilisation(2000, params=7e9, trainable=4e7, method="lora", gpu="4090", tables=t)
    assert u == pytest.approx(2000 * (4 * 7e9 + 6 * 4e7) / (tflops * 1e12))
    assert measured_utilisation(2000, params=7e9, trainable=4e7, method="lora", gpu="unknown card", tables=t) is None
    assert remaining_hours(7.2e6, 2000) == pytest.approx(1.0)


def test_plan_shows_time_and_cost_from_the_data_report():
    """Issue 17: the Plan/Launch steps show time and cost for the plan, from the data's rows and tokens per row."""
    from ftwizard.core.plan.catalog import find_preset
    from ftwizard.core.plan.hardware import FakeProbe
    from ftwizard.core.wizard import Answers, cost_line, make_plan, plan_cost

    facts = find_preset("qwen2.5-7b")
    ans = Answers(model="qwen2.5-7b", gpu="4090", rows=10000, tokens_per_row=400, task_kind="domain")
    view = make_plan(ans, facts, FakeProbe.of("4090").probe())
    c = plan_cost(ans, view)
    assert c.tokens == 10000 * 400 * view.values["epochs"]
    assert c.hours and 0 < c.hours[0] <= c.hours[1]
    line = cost_line(c)
    assert "RTX 4090" in line and "rent" in line and "API" in line
    assert any("A100" in r.gpu for r in c.rent)


def test_planned_time_goes_into_the_run_config_and_the_card_line():
    """The plan's time estimate travels with the run (config.yaml) and the run card shows it next to the real time."""
    from ftwizard.core.plan.catalog import find_preset
    from ftwizard.core.plan.hardware import FakeProbe
    from ftwizard.core.wizard import Answers, make_plan, to_run_config
    from ftwizard.train.checks.card import time_line

    facts = find_preset("qwen2.5-7b")
    ans = Answers(model="qwen2.5-7b", gpu="4090", rows=10000, tokens_per_row=400, task_kind="domain", data="d.jsonl")
    view = make_plan(ans, facts, FakeProbe.of("4090").probe())
    cfg = to_run_config(ans, view, facts)
    assert cfg.estimate_hours and cfg.estimate_hours > 0
    line = time_line({"started": 0.0, "ended": 7200.0}, [], {}, cfg.estimate_hours)
    assert "planned" in line and "before launch" in line


def test_a_mixture_of_experts_trains_at_the_speed_of_its_active_parameters():
    """Qwen3-30B-A3B multiplies each token through ~3.3B parameters, not 30.5B: its time is below a dense 8B's, and
    its memory still holds all 30.5B."""
    import json
    from pathlib import Path

    from ftwizard.core.plan.model_facts import facts_from_config

    configs = Path(__file__).parent / "configs"
    moe, dense = (facts_from_config(json.loads((configs / f"{n}.json").read_text())) for n in ("qwen3-30b-a3b",
                                                                                               "qwen3-8b"))
    inp = EstimateInput(method="qlora", rank=16, batch=1, seq=1024)
    e_moe, e_dense = estimate(moe, inp), estimate(dense, inp)
    assert e_moe.params > 3 * e_dense.params and abs(e_moe.compute_params / 3.35e9 - 1) < 0.05
    assert e_dense.compute_params == e_dense.params and e_moe.to_dict()["active_params"] == e_moe.active_params
    t_moe = plan_cost(e_moe, rows=1000, tokens_per_row=600, epochs=1, gpu="RTX 4090").hours
    t_dense = plan_cost(e_dense, rows=1000, tokens_per_row=600, epochs=1, gpu="RTX 4090").hours
    assert t_moe < t_dense, (t_moe, t_dense)


def test_a_time_range_reads_as_one_range() -> None:
    """'< 1 s–< 1 s of training' and '27.3 min–47.6 min' were printed for tiny and CPU runs."""
    from ftwizard.core.plan.cost import fmt_hours, span
    from ftwizard.core.plan.timing import fmt_seconds

    assert span(fmt_hours(1e-5), fmt_hours(2e-5)) == "< 1 s"
    assert span(fmt_seconds(0.2), fmt_seconds(0.4)) == "< 1 s"
    assert span("27.3 min", "47.6 min") == "27.3–47.6 min"
    assert span("< 1 s", "3 s") == "< 1 s–3 s" and span("50 min", "1.2 h") == "50 min–1.2 h"
