"""Probe (fake + no-driver), model facts, estimator, recommender, decision tree, core purity."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ftwizard.core.plan import decision
from ftwizard.core.plan.catalog import find_preset, load_catalog
from ftwizard.core.plan.hardware import FakeProbe, NvmlProbe, gpu_from_name
from ftwizard.core.plan.memory import EstimateInput, estimate, fit_advice, max_micro_batch
from ftwizard.core.plan.model_facts import ModelFactsError, facts_from_config, load_model_facts
from ftwizard.core.plan.recommend import recommend


# ---- probe -------------------------------------------------------------------------------------------
class _NoLib(Exception):
    pass


_NoLib.__name__ = "NVMLError_LibraryNotFound"


class _FakeNvml:
    def nvmlInit(self):  # noqa: N802
        raise _NoLib("libnvidia-ml.so.1 not found")


def test_no_driver_is_a_normal_result():
    res = NvmlProbe(_FakeNvml()).probe()
    assert res.gpus == [] and "No NVIDIA driver" in res.reason


def test_real_default_probe_on_this_machine_never_raises():
    res = NvmlProbe().probe()
    assert isinstance(res.gpus, list)
    if not res.gpus:
        assert res.reason


@pytest.mark.parametrize(
    "spec,count,name,gib,bf16",
    [
        ({"gpus": [{"name": "RTX 3060"}]}, 1, "NVIDIA GeForce RTX 3060", 12.0, True),
        ({"gpus": [{"name": "4090"}]}, 1, "NVIDIA GeForce RTX 4090", 24.0, True),
        ({"gpus": [{"name": "A100-80", "count": 2}]}, 2, "NVIDIA A100-SXM4-80GB", 80.0, True),
        ({"gpus": [{"name": "H100", "count": 8}]}, 8, "NVIDIA H100 80GB HBM3", 79.6, True),
        ({"gpus": [{"name": "T4"}]}, 1, "Tesla T4", 15.0, False),
        ({"gpus": [{"name": "Custom", "total_gib": 10, "compute_capability": "7.5", "used_gib": 2}]}, 1, "Custom", 10.0, False),
    ],
)
def test_fake_backends(spec, count, name, gib, bf16):
    res = FakeProbe(spec).probe()
    assert res.count == count
    assert res.gpus[0].name == name
    assert res.gpus[0].total_gib == pytest.approx(gib)
    assert res.gpus[0].bf16 is bf16


def test_probe_cli_json_with_fake_and_without(tmp_path):
    spec = tmp_path / "gpus.json"
    spec.write_text(json.dumps({"gpus": [{"name": "A100-80", "count": 2}]}))
    out = subprocess.run([sys.executable, "-m", "ftwizard", "probe", "--json", "--fake", str(spec)],
                         capture_output=True, text=True, check=True)
    d = json.loads(out.stdout)
    assert d["count"] == 2 and d["gpus"][1]["bf16"] is True and d["gpus"][0]["compute_capability"] == "8.0"
    out = subprocess.run([sys.executable, "-m", "ftwizard", "probe", "--json"], capture_output=True, text=True)
    assert out.returncode == 0 and "Traceback" not in out.stderr
    d = json.loads(out.stdout)
    assert isinstance(d["gpus"], list)


# ---- model facts ----------------------------------------------------------------------------------------
def test_catalog_counts_match_published_within_half_percent():
    for key, preset in load_catalog().items():
        err = abs(preset.facts.params_b - preset.published_params_b) / preset.published_params_b
        assert err < 0.005, (key, preset.facts.params_b, preset.published_params_b)


_FAMILY_CONFIGS = {
    "llama": {"model_type": "llama", "hidden_size": 64, "intermediate_size": 176, "num_hidden_layers": 2,
              "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 300, "tie_word_embeddings": False},
    "mistral": {"model_type": "mistral", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                "num_attention_heads": 4, "num_key_value_heads": 1, "vocab_size": 300},
    "qwen2": {"model_type": "qwen2", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
              "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 300, "tie_word_embeddings": True},
    "gemma2": {"model_type": "gemma2", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
               "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 32, "vocab_size": 300},
    "phi3": {"model_type": "phi3", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
             "num_attention_heads": 4, "num_key_value_heads": 4, "vocab_size": 300, "pad_token_id": 0},
    "gpt_neox": {"model_type": "gpt_neox", "hidden_size": 64, "intermediate_size": 256, "num_hidden_layers": 2,
                 "num_attention_heads": 4, "vocab_size": 300},
    "gpt2": {"model_type": "gpt2", "n_embd": 64, "n_layer": 2, "n_head": 4, "vocab_size": 300, "n_positions": 128},
    "phi": {"model_type": "phi", "hidden_size": 64, "intermediate_size": 256, "num_hidden_layers": 2,
            "num_attention_heads": 4, "vocab_size": 300},
}


@pytest.mark.parametrize("family", sorted(_FAMILY_CONFIGS))
def test_param_count_matches_transformers(family):
    """The computed count equals the real model's (built from the config on the meta device)."""
    torch = pytest.importorskip("torch")
    from transformers import AutoConfig, AutoModelForCausalLM

    raw = dict(_FAMILY_CONFIGS[family])
    cfg = AutoConfig.for_model(**raw)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(cfg)
    true = sum(p.numel() for p in model.parameters())
    facts = facts_from_config(cfg.to_dict())
    assert abs(facts.param_count - true) / true < 0.02, (facts.param_count, true)
    # and every LoRA target name exists in the real model
    names = {n.split(".")[-1] for n, _ in model.named_modules()}
    assert set(facts.resolve_targets("all-linear")) <= names


def test_targets_per_architecture():
    assert load_model_facts("llama-3.1-8b").resolve_targets("all-linear") == [
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    assert load_model_facts("pythia-1b").resolve_targets("all-linear") == [
        "query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"]
    assert load_model_facts("phi-3-mini").resolve_targets("minimal") == ["qkv_proj"]
    assert load_model_facts("mistral-7b").resolve_targets("q_proj,v_proj") == ["q_proj", "v_proj"]
    with pytest.raises(ModelFactsError, match="unknown target"):
        load_model_facts("mistral-7b").resolve_targets("query_key_value")


def test_local_dir_and_hf_cache(tmp_path, monkeypatch):
    d = tmp_path / "m"
    d.mkdir()
    (d / "config.json").write_text(json.dumps(_FAMILY_CONFIGS["llama"]))
    (d / "tokenizer_config.json").write_text(json.dumps({"chat_template": "{{ x }}"}))
    f = load_model_facts(str(d))
    assert f.layers == 2 and f.has_chat_template is True
    snap = tmp_path / "hub" / "models--acme--tiny" / "snapshots" / "abc"
    snap.mkdir(parents=True)
    (snap / "config.json").write_text(json.dumps(_FAMILY_CONFIGS["qwen2"]))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    assert load_model_facts("acme/tiny").model_type == "qwen2"
    with pytest.raises(ModelFactsError, match="not a local folder"):
        load_model_facts("acme/missing")


# ---- estimator --------------------------------------------------------------------------------------------
def test_estimate_parts_and_orderings():
    f = find_preset("llama-3.1-8b")
    base = EstimateInput(method="lora", batch=1, seq=1024, grad_ckpt=True)
    lora = estimate(f, base)
    qlora = estimate(f, EstimateInput(method="qlora", batch=1, seq=1024, grad_ckpt=True, optim="paged_adamw_8bit"))
    full = estimate(f, EstimateInput(method="full", batch=1, seq=1024, grad_ckpt=True))
    assert set(lora.parts_bytes) == {"weights", "gradients", "optimizer", "activations", "logits", "optimizer_step",
                                     "overhead"}
    assert qlora.peak_gib < lora.peak_gib < full.peak_gib
    assert 14.5 < lora.part_gib("weights") < 15.5  # 8.03B × 2 bytes + fp32 adapters
    assert 4.0 < qlora.part_gib("weights") < 6.5
    assert full.part_gib("optimizer") == pytest.approx(8.03e9 * 4 / 2**30, rel=0.01)
    no_ckpt = estimate(f, EstimateInput(method="lora", batch=1, seq=1024, grad_ckpt=False))
    assert no_ckpt.part_gib("activations") > 3 * lora.part_gib("activations")
    b4 = estimate(f, EstimateInput(method="lora", batch=4, seq=1024, grad_ckpt=True))
    assert b4.part_gib("logits") == pytest.approx(4 * lora.part_gib("logits"))
    eight = estimate(f, EstimateInput(method="lora", batch=1, seq=1024, optim="adamw_bnb_8bit"))
    assert eight.part_gib("optimizer") < lora.part_gib("optimizer")


def test_fsdp_shards_full_finetune():
    f = find_preset("llama-3.1-8b")
    one = estimate(f, EstimateInput(method="full", seq=1024))
    eight = estimate(f, EstimateInput(method="full", seq=1024, gpus=8, engine="fsdp"))
    assert eight.part_gib("optimizer") == pytest.approx(one.part_gib("optimizer") / 8)
    assert eight.peak_gib < one.peak_gib / 3


def test_max_micro_batch_and_fit_advice():
    f = find_preset("llama-3.1-8b")
    inp = EstimateInput(method="qlora", seq=1024, optim="paged_adamw_8bit")
    b = max_micro_batch(f, inp, 24.0)
    assert b >= 1
    from dataclasses import replace

    assert estimate(f, replace(inp, batch=b)).peak_gib <= 24 * 0.9
    assert estimate(f, replace(inp, batch=b + 1)).peak_gib > 24 * 0.9
    adv = fit_advice(f, EstimateInput(method="full", seq=2048, batch=4, grad_ckpt=False), 24.0)
    assert not adv.fits
    changes = [c for c, _ in adv.steps]
    assert changes[0].startswith("micro-batch 1")
    assert any("checkpointing" in c for c in changes) and any("QLoRA" in c for c in changes)
    assert adv.steps[-1][1] < adv.peak_gib


def test_calibration_error_within_goal():
    """The estimator's median error over the published measurements stays ≤ 10%."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent.parent / "bench" / "estimator_error.py"
    spec = importlib.util.spec_from_file_location("estimator_error", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    import csv
    import statistics

    errs = []
    with open(mod.DEFAULT_CSVS[0], encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if mod.skip_reason(row):
                continue
            pred, _ = mod.predicted_gb(row)
            errs.append(abs(pred - float(row["peak_gb"])) / float(row["peak_gb"]))
    assert len(errs) > 60
    assert statistics.median(errs) <= 0.10


# ---- recommender -------------------------------------------------------------------------------------------
def test_recommender_follows_gpu():
    f = find_preset("llama-3.1-8b")
    small = recommend(f, FakeProbe.of("4080").probe(), "domain", 3000, 1024)  # 16 GB: 8B needs 4-bit
    big = recommend(f, FakeProbe.of("A100-80").probe(), "domain", 3000, 1024)
    assert small.value("method") == "qlora" and small.fits
    assert big.value("method") == "lora" and big.fits
    assert big.value("micro_batch") >= small.value("micro_batch")
    for plan in (small, big):
        assert plan.estimate.high_gib <= plan.gpu_gib  # the top of the estimate's range fits
        eff = plan.value("micro_batch") * plan.value("gradient_accumulation")
        assert 32 <= eff < 64
        assert all(c.reason for c in plan.choices.values())
        assert plan.value("alpha") == 2 * plan.value("rank")


def test_recommender_precision_and_multi_gpu_and_no_gpu():
    f = find_preset("qwen2.5-1.5b")
    t4 = recommend(f, FakeProbe.of("T4").probe(), "format", 300)
    assert t4.value("precision") == "fp16"
    # every linear layer of the architecture: attention-only r8 did not teach SmolLM2 (bench/real_sweep.py)
    assert t4.value("target_modules") == ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    assert any("below" in w for w in t4.warnings) is False  # 300 ≥ 50 for format
    multi = recommend(find_preset("llama-3.1-8b"), FakeProbe.of("H100", 8).probe(), "complex", 20000)
    assert multi.value("engine") in ("fsdp", "ddp") and multi.gpus == 8
    none = recommend(f, FakeProbe({"gpus": []}).probe(), "domain", 100)
    assert none.value("precision") == "fp32" and any("No GPU" in w for w in none.warnings)
    assert any("below" in w for w in none.warnings)


def test_cpu_plan_keeps_its_memory_within_the_ram():
    """A CPU plan's micro-batch is bounded by the machine's RAM: in fp32 SmolLM2-135M at 2048 tokens × 4 rows
    needs ~24 GiB, which a 24 GiB machine cannot give; a plan that cannot fit at all says so."""
    f, cpu = find_preset("smollm2-135m"), FakeProbe({"gpus": []}).probe()
    free = recommend(f, cpu, "domain", 100)
    assert free.value("micro_batch") == 4  # no RAM figure: not bounded
    plan = recommend(f, cpu, "domain", 100, ram_gib=24)
    assert plan.value("micro_batch") < 4 and plan.estimate.peak_gib <= 12
    assert "half of the 24 GiB of RAM" in plan.choices["micro_batch"].reason
    assert plan.value("gradient_accumulation") * plan.value("micro_batch") >= 4  # same effective batch
    tight = recommend(find_preset("qwen2.5-0.5b"), cpu, "domain", 100, ram_gib=8)
    assert tight.value("micro_batch") == 1 and any("GiB of RAM and the machine has 8.0 GiB" in w for w in tight.warnings)


# ---- decision tree ------------------------------------------------------------------------------------------
def test_decision_tree_outcomes():
    assert decision.walk([True]).id == "prompting"
    assert decision.walk([False, True]).id == "rag"
    assert decision.walk([False, False, False, True]).id == "distillation"
    assert decision.walk([False, False, False, False]).id == "revisit"
    assert decision.walk([False, False, True, True, False]).task_kind == "format"
    assert decision.walk([False, False, True, True, True]).task_kind == "identity"
    assert decision.walk([False, False, True, False, True, False]).task_kind == "domain"
    assert decision.walk([False, False, True, False, True, True]).task_kind == "knowledge"
    assert decision.walk([False, False, True, False, False]).task_kind == "complex"
    w = decision.Walk()
    w.answer(False)
    w.answer(False)
    w.back()
    assert w.node_id == "knowledge" and w.answers == {"start": False}


def test_every_node_reachable_and_links_valid():
    seen, todo = set(), ["start"]
    while todo:
        n = todo.pop()
        if n in seen:
            continue
        seen.add(n)
        node = decision.NODES[n]
        if isinstance(node, decision.Question):
            todo += [node.yes, node.no]
    assert seen == set(decision.NODES)


# ---- purity ------------------------------------------------------------------------------------------------
def test_core_imports_no_torch_or_textual():
    code = ("import sys, ftwizard.core.plan.memory, ftwizard.core.plan.recommend, ftwizard.core.plan.hardware, "
            "ftwizard.core.plan.decision, ftwizard.core.plan.catalog, ftwizard.cli;"
            "bad=[m for m in ('torch','textual','transformers','peft','trl') if m in sys.modules];"
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_estimate_cli_json():
    out = subprocess.run([sys.executable, "-m", "ftwizard", "estimate", "--model", "llama-3.1-8b", "--method",
                          "qlora", "--rank", "16", "--targets", "q_proj,v_proj", "--batch", "2", "--seq", "1024",
                          "--no-grad-ckpt", "--optim", "paged_adamw_8bit", "--precision", "bf16", "--gpu", "4090",
                          "--json"], capture_output=True, text=True, check=True)
    d = json.loads(out.stdout)
    for k in ("weights", "gradients", "optimizer", "activations", "logits", "overhead"):
        assert k in d["parts_gib"]
    assert d["peak_gib"] > d["peak_allocated_gib"] > 0
    assert d["inputs"]["targets"] == ["q_proj", "v_proj"] and d["inputs"]["grad_ckpt"] is False
    assert isinstance(d["fits"], bool) and d["max_micro_batch"] >= 1
    bad = subprocess.run([sys.executable, "-m", "ftwizard", "estimate", "--model", "nope/nope"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_gpu_from_name_unknown():
    with pytest.raises(ValueError):
        gpu_from_name("voodoo 5")


@pytest.mark.parametrize("asked, card, gib", [
    ("4090", "NVIDIA GeForce RTX 4090", 24.0),
    ("4070", "NVIDIA GeForce RTX 4070", 12.0),  # not the 4070 Ti: the fewest extra words win
    ("rtx 4070 ti super", "NVIDIA GeForce RTX 4070 Ti SUPER", 16.0),
    ("RTX 4060 Ti 8GB", "NVIDIA GeForce RTX 4060 Ti", 8.0),  # a size in the name sets the memory
    ("RTX 4060 Ti 16 GB", "NVIDIA GeForce RTX 4060 Ti", 16.0),
    ("A100 80GB", "NVIDIA A100-SXM4-80GB", 80.0),
    ("A100-80", "NVIDIA A100-SXM4-80GB", 80.0),
    ("a100", "NVIDIA A100-SXM4-40GB", 40.0),
    ("H100", "NVIDIA H100 80GB HBM3", 79.6),
    ("h100 pcie", "NVIDIA H100 PCIe", 79.6),
    ("T4", "Tesla T4", 15.0),
    ("L40S", "NVIDIA L40S", 45.0),
])
def test_gpu_from_name_matches_the_card_people_mean(asked: str, card: str, gib: float) -> None:
    gpu = gpu_from_name(asked)
    assert gpu.name == card and abs(gpu.total_bytes / 2**30 - gib) < 0.01


def test_an_unknown_card_with_its_memory_is_planned_for_and_one_without_is_refused_with_the_way_out() -> None:
    gpu = gpu_from_name("MI300X 192GB")
    assert gpu.total_bytes == 192 * 2**30 and "MI300X" in gpu.name
    with pytest.raises(ValueError, match="give its memory"):
        gpu_from_name("voodoo 5")


def test_short_gpu_keeps_the_words_that_tell_cards_apart() -> None:
    from ftwizard.core.plan.rent import short_gpu

    assert short_gpu("NVIDIA GeForce RTX 4070 Ti SUPER") == "RTX 4070 Ti SUPER"
    assert short_gpu("NVIDIA GeForce RTX 4060 Ti") == "RTX 4060 Ti"
    assert short_gpu("NVIDIA H100 80GB HBM3") == "H100 80GB"
    assert short_gpu("NVIDIA RTX 6000 Ada Generation") == "RTX 6000 Ada"
