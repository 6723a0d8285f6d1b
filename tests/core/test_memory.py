"""The one OOM remedy ladder and the estimate's range: every user reads the same list; "fits" checks the top."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from ftwizard.core.plan import remedies
from ftwizard.core.plan.catalog import find_preset
from ftwizard.core.plan.hardware import FakeProbe
from ftwizard.core.plan.memory import (
    EstimateInput,
    estimate,
    fit_advice,
    input_from_values,
    max_micro_batch,
    values_from_input,
)
from ftwizard.core.plan.recommend import recommend
from ftwizard.core.run.diagnosis import fix_changes
from ftwizard.train.threads import pick_cpu_threads

LLAMA8 = find_preset("llama-3.1-8b")


def test_ladder_order_and_apply():
    assert [r.id for r in remedies.LADDER] == ["smaller_batch", "checkpointing", "optimizer_8bit", "fused_loss", "qlora",
                                               "shorter_seq", "more_gpus"]
    v = {"micro_batch": 8, "gradient_accumulation": 2, "gradient_checkpointing": False, "method": "full",
         "optimizer": "adamw_torch", "max_seq_length": 2048, "num_gpus": 1}
    after = _apply("smaller_batch", v)
    assert after["micro_batch"] == 4 and after["micro_batch"] * after["gradient_accumulation"] == 16
    assert _apply("checkpointing", v)["gradient_checkpointing"] is True
    assert _apply("optimizer_8bit", v)["optimizer"] == "adamw_bnb_8bit"
    assert remedies.get("optimizer_8bit").changes({**v, "method": "lora"}) is None  # adapters: states are tiny
    assert remedies.get("fused_loss").changes(v, vocab_size=32_000) is None
    assert _apply("fused_loss", v, vocab_size=128_256)["loss"] == "fused"
    q = _apply("qlora", v)
    assert q["method"] == "qlora" and q["optimizer"] == "paged_adamw_8bit" and q["learning_rate"] == 2e-4
    assert _apply("shorter_seq", v)["max_seq_length"] == 1024
    assert _apply("more_gpus", v)["num_gpus"] == 2
    assert [r.id for r, _ in remedies.applicable(v, runtime=True)] == ["smaller_batch", "checkpointing"]
    with pytest.raises(KeyError, match="known: smaller_batch"):
        remedies.get("nope")


def test_values_round_trip_and_ladder_users_agree():
    inp = EstimateInput(method="lora", batch=8, seq=2048, grad_ckpt=False)
    assert input_from_values(inp, values_from_input(inp)) == inp
    # the estimator's advice, the relaunch fix and the trainer's auto-fit start the same way
    adv = fit_advice(LLAMA8, inp, 24.0)
    assert not adv.fits and adv.steps[0][0].startswith("micro-batch 1")
    assert adv.steps[1][0].startswith("turn on gradient checkpointing")
    cfg = {"micro_batch": 8, "gradient_accumulation": 2, "gradient_checkpointing": False, "method": "lora"}
    assert fix_changes("oom", cfg) == {"micro_batch": 4, "gradient_accumulation": 4, "gradient_checkpointing": True}
    assert all(p2 <= p1 + 1e-9 for (_, p1), (_, p2) in zip(adv.steps, adv.steps[1:], strict=False))


def test_range_and_fits_use_the_top():
    e = estimate(LLAMA8, EstimateInput(method="qlora", batch=1, seq=512, optim="paged_adamw_8bit"))
    assert e.low_gib < e.peak_gib < e.high_gib
    assert e.high_gib == pytest.approx(e.peak_gib * (1 + e.margin))
    assert e.fits(e.high_gib + 0.01) and not e.fits(e.peak_gib * 1.01)
    d = e.to_dict()
    assert {"low_gib", "high_gib", "margin"} <= set(d)
    # short sequences (fixed costs dominate) and QLoRA get a wider margin than a long LoRA step
    long_lora = estimate(LLAMA8, EstimateInput(method="lora", batch=4, seq=2048))
    assert e.margin > long_lora.margin
    mb = max_micro_batch(LLAMA8, EstimateInput(method="lora", seq=1024), 80.0)
    assert estimate(LLAMA8, EstimateInput(method="lora", seq=1024, batch=mb)).high_gib <= 80.0
    assert estimate(LLAMA8, EstimateInput(method="lora", seq=1024, batch=mb + 1)).high_gib > 80.0


def test_recommender_walks_the_ladder():
    small = recommend(LLAMA8, FakeProbe.of("4080").probe(), "domain", 3000, 1024)
    assert small.value("method") == "qlora" and small.estimate.high_gib <= small.gpu_gib


def test_full_finetune_pays_the_optimizer_step_temporary():
    f = find_preset("llama-3.2-1b")
    fused = estimate(f, EstimateInput(method="full", batch=1, seq=256, optim="adamw_torch_fused"))
    foreach = estimate(f, EstimateInput(method="full", batch=1, seq=256, optim="adamw_torch"))
    assert foreach.part_gib("optimizer_step") > 1.0 and fused.part_gib("optimizer_step") == 0


def test_estimator_error_never_under_at_the_top_of_the_range(capsys):
    path = Path(__file__).resolve().parents[2] / "bench" / "estimator_error.py"
    spec = importlib.util.spec_from_file_location("estimator_error", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main([]) == 0
    out = capsys.readouterr().out
    plan_line = next(line for line in out.splitlines() if line.startswith("plan figure"))
    assert "under>10%: 0" in plan_line
    assert "by method" in out and "by engine" in out and "by tokens per micro-batch" in out


def test_cpu_threads(monkeypatch):
    monkeypatch.delenv("FTWIZARD_CPU_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert pick_cpu_threads(load=0.0, cores=2) == 2
    assert pick_cpu_threads(load=1.8, cores=2) == 1  # busy box: one thread, no spin-wait collapse
    assert pick_cpu_threads(load=9.0, cores=2) == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # what people already export for this
    assert pick_cpu_threads(load=0.0, cores=2) == 1
    monkeypatch.setenv("FTWIZARD_CPU_THREADS", "3")  # ftwizard's own setting wins
    assert pick_cpu_threads(load=9.0, cores=2) == 3


@pytest.mark.parametrize("method", ["prefix", "prompt", "ia3"])
def test_vector_methods_are_estimated(method):
    """Prefix, prompt and IA3: a frozen 16-bit base like LoRA, a few trainable vectors (fp32 weight + grad + Adam)."""
    f = LLAMA8
    kv = f.kv_heads * f.head_dim
    want = {"prefix": 2 * f.layers * 20 * kv, "prompt": 20 * f.hidden_size,
            "ia3": f.layers * (2 * kv + f.intermediate_size)}[method]
    inp = EstimateInput(method=method, batch=2, seq=1024, grad_ckpt=True)
    e = estimate(f, inp)
    lora = estimate(f, EstimateInput(method="lora", batch=2, seq=1024, grad_ckpt=True))
    assert e.trainable_params == want
    assert e.parts_bytes["gradients"] == 4 * want and e.parts_bytes["optimizer"] == 8 * want
    assert e.parts_bytes["weights"] == f.param_count * 2 + 4 * want
    assert 0.5 < e.parts_bytes["activations"] / lora.parts_bytes["activations"] <= 1.0
    assert e.peak_gib < lora.peak_gib
    assert values_from_input(inp)["virtual_tokens"] == 20


def test_prompt_tuning_makes_every_sequence_longer_and_prefix_scales_with_tokens():
    base = EstimateInput(method="prompt", batch=4, seq=512, virtual_tokens=100)
    short = estimate(LLAMA8, base)
    ratio = short.parts_bytes["logits"] / estimate(LLAMA8, EstimateInput(method="lora", batch=4, seq=512)).parts_bytes[
        "logits"]
    assert ratio == pytest.approx((512 + 100) / 512)
    p20 = estimate(LLAMA8, EstimateInput(method="prefix", virtual_tokens=20))
    p200 = estimate(LLAMA8, EstimateInput(method="prefix", virtual_tokens=200))
    assert p200.trainable_params == 10 * p20.trainable_params
    assert p200.parts_bytes["activations"] > p20.parts_bytes["activations"]
    with pytest.raises(ValueError):
        estimate(LLAMA8, EstimateInput(method="adalora"))


def test_estimate_cli_offers_every_method(capsys):
    from ftwizard.cli import main

    for method in ("prefix", "prompt", "ia3"):
        assert main(["estimate", "-m", "llama-3.1-8b", "--method", method, "--virtual-tokens", "30", "--json"]) == 0
        assert '"trainable_params"' in capsys.readouterr().out


@pytest.mark.parametrize("method", ["prefix", "prompt", "ia3"])
def test_recommender_plans_a_chosen_vector_method(method):
    plan = recommend(LLAMA8, FakeProbe.of("4090").probe(), "domain", 3000, 1024, method=method)
    assert plan.choices["method"].value == method and plan.fits
    assert ("virtual_tokens" in plan.choices) == (method != "ia3") and "rank" not in plan.choices


def test_trainer_terms_reference_copy_pairs_and_generation():
    """Issue 15: a reference copy for full-model DPO/KTO only (none with PEFT or ORPO), chosen+rejected double the
    activations of preference objectives, GRPO adds its generation KV cache."""
    from ftwizard.core.plan.catalog import find_preset
    from ftwizard.core.plan.memory import EstimateInput, estimate

    facts = find_preset("llama-3.1-8b")

    def est(trainer, method, **kw):
        return estimate(facts, EstimateInput(method=method, trainer=trainer, batch=4, seq=512, **kw))

    assert est("dpo", "full").parts_bytes["reference"] >= facts.param_count * 2
    assert "reference" not in est("dpo", "lora").parts_bytes
    assert "reference" not in est("orpo", "full").parts_bytes
    assert "reference" in est("kto", "full").parts_bytes
    assert est("dpo", "lora").parts_bytes["activations"] > 1.9 * est("sft", "lora").parts_bytes["activations"]
    g1 = est("grpo", "lora", completion_len=128).parts_bytes["generation"]
    g2 = est("grpo", "lora", completion_len=1024).parts_bytes["generation"]
    assert 0 < g1 < g2
    assert est("gkd", "lora").parts_bytes["reference"] >= facts.param_count * 2


def test_autocast_loss_is_fp32_even_when_the_model_code_keeps_logits_16bit():
    """Qwen (v1) remote code computes its loss in 16-bit, but the HF Trainer autocasts the forward (bf16/fp16
    without DeepSpeed), and autocast runs log-softmax/cross-entropy in fp32: the logits cost the upcast bytes.
    Under DeepSpeed (its own mixed precision, no autocast) the model's 16-bit loss stands."""
    qwen = find_preset("qwen-1.8b")
    assert not qwen.upcasts_logits
    inp = EstimateInput(method="lora", batch=1, seq=4096, precision="bf16")
    per_token_vocab = 4096 * qwen.vocab_size
    assert estimate(qwen, inp).parts_bytes["logits"] == pytest.approx(12.0 * per_token_vocab)
    ds = estimate(qwen, EstimateInput(method="lora", batch=1, seq=4096, precision="bf16", engine="zero2"))
    assert ds.parts_bytes["logits"] == pytest.approx(8.0 * per_token_vocab)
    assert estimate(qwen, EstimateInput(method="lora", seq=4096, loss="no-upcast")).parts_bytes["logits"] == (
        pytest.approx(8.0 * per_token_vocab))


def test_multi_query_attention_saves_one_kv_head():
    """gpt_bigcode (StarCoder, SantaCoder) uses multi-query attention: its k/v projections are one head wide, so
    the saved k/v activations scale with num_key_value_heads (1), not num_attention_heads."""
    from ftwizard.core.plan.model_facts import facts_from_config

    cfg = {"model_type": "gpt_bigcode", "architectures": ["GPTBigCodeForCausalLM"], "n_embd": 2048, "n_head": 16,
           "n_inner": 8192, "n_layer": 24, "n_positions": 2048, "vocab_size": 49152}
    mqa = facts_from_config({**cfg, "multi_query": True}, "mqa")
    mha = facts_from_config({**cfg, "multi_query": False}, "mha")
    assert (mqa.kv_heads, mha.kv_heads) == (1, 16)
    inp = EstimateInput(method="full", batch=1, seq=1024, grad_ckpt=False, precision="bf16", lora_dropout=0.0)
    gap = estimate(mha, inp).parts_bytes["activations"] - estimate(mqa, inp).parts_bytes["activations"]
    # 3 saved k/v-sized tensors per layer per token (k, v, rotated/copied k), 2 bytes each, 15 heads of 128 fewer
    assert gap == pytest.approx(1024 * mqa.layers * 3 * 15 * mqa.head_dim * 2)


def _apply(remedy_id: str, values: dict, vocab_size: int = 0) -> dict:
    """`values` with one remedy of the ladder applied (unchanged when it does not apply)."""
    return {**values, **(remedies.get(remedy_id).changes(values, vocab_size) or {})}


def test_a_dataset_error_in_the_trainers_own_words_reaches_the_person(tmp_path):
    """The trainer's 'dataset error: X — Y' is the diagnosis (was "The dataset has problems. Run ftwizard data <path>"
    for data that had none), and the CLI fills in <run> and <path>."""
    from ftwizard.cli._common import fill_in
    from ftwizard.core.run.config import RunConfig
    from ftwizard.core.run.diagnosis import diagnose
    from ftwizard.core.run.layout import RunDir

    d = diagnose("ValueError: dataset error: DPO needs preference pairs (chosen and rejected answers); this data has "
                 "columns messages — use trainer: sft for chat data")
    assert d.kind == "bad_data" and "DPO needs preference pairs" in d.summary and d.fix == "Use trainer: sft for chat data"
    rd = RunDir(tmp_path / "run").create(RunConfig(model="m", data="/data/x.jsonl"))
    assert fill_in("ftwizard data <path>; ftwizard train --resume <run>", rd.path) == \
        f"ftwizard data /data/x.jsonl; ftwizard train --resume {rd.path}"


def test_a_cpu_estimate_is_the_processes_ram():
    """On a CPU the overhead is the runtime (Python, PyTorch, the libraries) and the CPU allocator's slack on what
    training allocates besides the weights — not a CUDA context (bench/cpu_memory.py: SmolLM2-135M, 4 shapes,
    predicted RAM within -5%..+0% of the measured peak RSS)."""
    from dataclasses import replace

    from ftwizard.core.plan.catalog import find_preset
    from ftwizard.core.plan.memory import CPU_DYNAMIC_SLACK, CPU_RUNTIME_GIB, GIB, EstimateInput, estimate

    f = find_preset("smollm2-135m")
    inp = EstimateInput(method="lora", rank=16, targets=tuple(f.resolve_targets("all-linear")), batch=4, seq=64,
                        grad_ckpt=False, optim="adamw_torch", precision="fp32", device="cpu")
    cpu, gpu = estimate(f, inp), estimate(f, replace(inp, device="cuda"))
    assert cpu.peak_allocated_bytes == gpu.peak_allocated_bytes  # the same tensors
    dynamic = cpu.peak_allocated_bytes - cpu.parts_bytes["weights"]
    assert cpu.parts_bytes["overhead"] == pytest.approx(CPU_RUNTIME_GIB * GIB + CPU_DYNAMIC_SLACK * dynamic)
    assert 1.9 < cpu.peak_gib < 2.5  # measured 2.20 GiB peak RSS for this shape (the short rows, micro-batch 4)
