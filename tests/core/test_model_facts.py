"""Model facts against real configs: counts vs the model built on the meta device, LoRA targets vs the real
module names, MoE totals and active counts, refusals, errors, the HF cache and the `models` table."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ftwizard.core.plan import meta
from ftwizard.core.plan.families import FAMILIES
from ftwizard.core.plan.model_facts import (
    ModelFactsError,
    facts_from_config,
    load_model_facts,
    refusal,
    with_exact_count,
)

CONFIGS = Path(__file__).parent / "configs"
ALL = sorted(CONFIGS.glob("*.json"))
DECODERS = [p for p in ALL if refusal(json.loads(p.read_text())) is None]
ENCODERS = [p for p in ALL if p not in DECODERS]


def _cfg(name: str) -> dict:
    return json.loads((CONFIGS / f"{name}.json").read_text())


@pytest.fixture(scope="session")
def meta_counts(tmp_path_factory):
    """Every config built on the meta device in ONE subprocess; the answers also fill a private cache so
    load_model_facts never starts another one in this session."""
    pytest.importorskip("transformers")
    cache = tmp_path_factory.mktemp("ftw-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FTWIZARD_CACHE", str(cache))
        results = meta.run_meta_count([str(p) for p in ALL], timeout=300)
        out = {}
        meta.cache_dir().mkdir(parents=True, exist_ok=True)
        for p, res in zip(ALL, results, strict=True):
            out[p.stem] = res
            key = meta.config_key(json.loads(p.read_text()))
            (meta.cache_dir() / f"{key}.json").write_text(json.dumps({k: v for k, v in res.items() if k != "config"}))
        yield out


def test_configs_cover_30_architectures():
    types = set()
    for p in DECODERS:
        cfg = json.loads(p.read_text())
        types.add((cfg.get("text_config") or cfg)["model_type"])
    assert len(types) >= 30, sorted(types)
    assert {"qwen3_moe", "qwen2_moe", "mixtral", "deepseek_v3", "gpt_oss", "llama4_text", "olmoe",
            "granitemoe"} <= types
    for p in ALL:
        assert "_source" in json.loads(p.read_text()), p.name


@pytest.mark.parametrize("path", DECODERS, ids=lambda p: p.stem)
def test_count_within_1pct_of_meta_device(path, meta_counts):
    res = meta_counts[path.stem]
    if "error" in res:
        pytest.skip(f"transformers cannot build {path.stem}: {res['error'][:80]}")
    cfg = json.loads(path.read_text())
    facts = facts_from_config(cfg, source=f"local: {path}")
    if facts.family == "generic":  # not in the table: ftwizard uses the meta-device layout
        facts = with_exact_count(facts, res)
        assert facts.count_source == "meta-device"
    true = res["total_params"]  # the counter builds the language model of a multimodal one
    assert abs(facts.language_param_count - true) / true < 0.01, (facts.language_param_count, true)
    real = set(res["linear_names"])
    assert set(facts.resolve_targets("all-linear")) <= real, (facts.resolve_targets("all-linear"), real)
    assert set(facts.resolve_targets("minimal")) <= real
    assert facts.layer_class == res["layer_class"]
    assert facts.tied_embeddings == res["tied"]
    for name in (e for lin in facts.linears if lin.part == "expert" for e in [lin.name]):
        assert name in res["expert_params"]


def test_table_families_are_exact(meta_counts):
    """Every family in the table that has a real config here counts within 0.01% (not just 1%)."""
    seen = set()
    for path in DECODERS:
        res = meta_counts[path.stem]
        facts = facts_from_config(json.loads(path.read_text()))
        if "error" in res or facts.family == "generic":
            continue
        seen.add(facts.model_type)
        assert abs(facts.language_param_count - res["total_params"]) / res["total_params"] < 1e-4, path.stem
    assert len(seen) >= 35 and seen <= set(FAMILIES)


@pytest.mark.parametrize("path", DECODERS, ids=lambda p: p.stem)
def test_estimate_cli_gives_a_figure(path, meta_counts, capsys):
    from ftwizard.cli import main

    assert main(["estimate", "--model", str(path), "--json", "--gpu-gib", "80"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["peak_gib"] > 0 and out["params"] > 0


def test_estimate_cli_subprocess_on_a_model_folder(tmp_path):
    d = tmp_path / "mixtral"
    d.mkdir()
    (d / "config.json").write_text((CONFIGS / "mixtral-8x7b.json").read_text())
    out = subprocess.run([sys.executable, "-m", "ftwizard", "estimate", "--model", str(d), "--json",
                          "--gpu-gib", "80"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    assert abs(d["params"] / 46.70e9 - 1) < 0.01
    assert any("target_parameters" in n for n in d["notes"])


@pytest.mark.parametrize("path", ENCODERS, ids=lambda p: p.stem)
def test_encoders_refused_in_one_line(path):
    with pytest.raises(ModelFactsError) as err:
        load_model_facts(str(path))
    msg = str(err.value)
    assert msg.startswith("not supported: ftwizard trains causal LMs (decoder-only); ") and "\n" not in msg
    assert ("encoder-decoder model" in msg) == (path.stem in ("t5-small", "bart-base", "whisper-small"))


def test_encoder_refusal_from_the_cli():
    out = subprocess.run([sys.executable, "-m", "ftwizard", "estimate", "--model", str(CONFIGS / "t5-small.json")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "not supported: ftwizard trains causal LMs (decoder-only); t5 is an encoder-decoder model" in out.stderr
    assert "Traceback" not in out.stderr


def test_broken_json_and_missing_fields(tmp_path):
    bad = tmp_path / "config.json"
    bad.write_text('{"model_type": "llama", ')
    with pytest.raises(ModelFactsError, match=r"config.json is not valid JSON \(.* line 1"):
        load_model_facts(str(tmp_path))
    bad.write_text(json.dumps({"model_type": "llama", "num_hidden_layers": 2}))
    with pytest.raises(ModelFactsError, match=r"config.json: no hidden size \(hidden_size, n_embd or d_model\)"):
        load_model_facts(str(tmp_path))
    bad.write_text(json.dumps({"model_type": "llama", "hidden_size": 64, "num_attention_heads": 4,
                               "vocab_size": 10}))
    with pytest.raises(ModelFactsError, match="no number of layers"):
        load_model_facts(str(tmp_path))


def test_generic_fallback_for_an_architecture_nobody_knows(meta_counts):
    f = load_model_facts(str(CONFIGS / "mystery-llm.json"))
    assert f.family == "generic" and f.count_source == "formula"
    assert any("not in ftwizard's family table" in n for n in f.notes)
    assert f.resolve_targets("all-linear") == ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                                               "down_proj"]
    assert 1.0e9 < f.param_count < 1.2e9  # TinyLlama-sized


def test_generic_fallback_refined_by_the_meta_device(meta_counts):
    """nemotron is not in the table and has a plain (up/down) MLP: the meta-device layout replaces the guess."""
    cfg = _cfg("nemotron-mini-4b")
    guess = facts_from_config(cfg)
    assert guess.family == "generic" and "gate_proj" in guess.module_names()
    f = load_model_facts(str(CONFIGS / "nemotron-mini-4b.json"))
    assert f.count_source == "meta-device" and f.layer_class == "NemotronDecoderLayer"
    assert f.resolve_targets("all-linear") == ["q_proj", "k_proj", "v_proj", "o_proj", "up_proj", "down_proj"]
    assert f.param_count == meta_counts["nemotron-mini-4b"]["total_params"]
    assert any("meta device" in n for n in f.notes)


def test_moe_totals_active_and_targets():
    published_active = {"mixtral-8x7b": 12.9e9, "qwen3-30b-a3b": 3.3e9, "deepseek-v3": 37e9,
                        "llama-4-scout": 17e9, "olmoe-1b-7b": 1.3e9, "qwen1.5-moe-a2.7b": 2.7e9}
    for name, active in published_active.items():
        f = facts_from_config(_cfg(name))
        assert f.num_experts > 1
        assert abs(f.active_param_count - active) / active < 0.03, (name, f.active_param_count)
        targets = f.resolve_targets("all-linear")
        assert not any("experts" in t for t in targets) and "router" not in targets
        assert any("target_parameters" in n for n in f.notes)
    assert abs(facts_from_config(_cfg("deepseek-v3")).param_count / 671.0e9 - 1) < 0.001
    ds = facts_from_config(_cfg("deepseek-v3"))
    assert ds.resolve_targets("attention") == ["q_a_proj", "q_b_proj", "kv_a_proj_with_mqa", "kv_b_proj", "o_proj"]
    assert facts_from_config(_cfg("mixtral-8x7b")).resolve_targets("all-linear") == ["q_proj", "k_proj", "v_proj",
                                                                                       "o_proj"]


def test_starcoder2_plain_mlp_with_biases():
    f = facts_from_config(_cfg("starcoder2-3b"))
    assert f.resolve_targets("all-linear") == ["q_proj", "k_proj", "v_proj", "o_proj", "c_fc", "c_proj"]
    assert not f.gated_mlp and all(lin.bias for lin in f.linears)
    assert abs(f.params_b - 3.03) < 0.01  # tied embeddings (transformers' default for starcoder2)


def test_multimodal_wrapper_uses_the_text_config():
    f = facts_from_config(_cfg("gemma-3-4b"))
    assert f.model_type == "gemma3_text" and f.layers == 34 and f.tied_embeddings


def test_meta_count_is_cached(tmp_path, monkeypatch):
    pytest.importorskip("transformers")
    monkeypatch.setenv("FTWIZARD_CACHE", str(tmp_path))
    cfg = {"model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
           "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 300}
    unknown = {**cfg, "model_type": "mystery_llm"}
    first, none = meta.exact_count(cfg), meta.exact_count(unknown)
    assert first["total_params"] == facts_from_config(cfg).param_count and none == {}
    assert len(list((tmp_path / "meta").glob("*.json"))) == 2
    monkeypatch.setattr(meta, "run_meta_count", lambda *a, **k: pytest.fail("cache not used"))
    assert meta.exact_count(cfg) == first and meta.exact_count(unknown) == {}


def test_hf_cache_follows_refs_main_not_mtime(tmp_path, monkeypatch):
    repo = tmp_path / "hub" / "models--acme--tiny"
    for sha, cfg in (("aaa", _cfg("qwen2.5-0.5b")), ("bbb", _cfg("llama-3.2-1b"))):
        (repo / "snapshots" / sha).mkdir(parents=True)
        (repo / "snapshots" / sha / "config.json").write_text(json.dumps(cfg))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("aaa")
    os.utime(repo / "snapshots" / "bbb" / "config.json", (2e9, 2e9))  # newest by mtime, but not main
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    f = load_model_facts("acme/tiny")
    assert f.model_type == "qwen2" and "snapshots/aaa" in f.source


def test_not_cached_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(ModelFactsError) as err:
        load_model_facts("acme/missing")
    msg = str(err.value)
    assert "not a local folder, a preset, or a model in the local Hugging Face cache" in msg
    assert "hf download acme/missing" in msg and "--allow-download" in msg


def test_allow_download_offline_message(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelFactsError, match="could not reach the Hugging Face Hub for 'acme/missing'.*offline"):
        load_model_facts("acme/missing", allow_download=True)


def test_accel_layer_classes_come_from_the_families_table():
    from ftwizard.core.run.accel import LAYER_CLASSES, accelerate_config

    assert LAYER_CLASSES["qwen3_moe"] == "Qwen3MoeDecoderLayer" and LAYER_CLASSES["gpt2"] == "GPT2Block"
    cfg, _ = accelerate_config("fsdp", "full", 2, "bf16", "starcoder2")
    assert cfg["fsdp_config"]["fsdp_transformer_layer_cls_to_wrap"] == "Starcoder2DecoderLayer"


def test_model_facts_does_not_import_catalog():
    src = Path(sys.modules[load_model_facts.__module__].__file__).read_text()
    mods = {n.module for n in ast.walk(ast.parse(src)) if isinstance(n, ast.ImportFrom)}
    assert "ftwizard.core.plan.catalog" not in mods


def test_models_table_fits_80_columns():
    env = {**os.environ, "COLUMNS": "80"}
    out = subprocess.run([sys.executable, "-m", "ftwizard", "models"], capture_output=True, text=True, env=env,
                         timeout=60)
    assert out.returncode == 0
    lines = out.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in out.stdout and "stablelm-base-alpha-3b" in out.stdout


def test_remote_code_families_match_published_counts():
    """chatglm and baichuan need trust_remote_code (off here): checked against their published counts."""
    for name, published in (("chatglm3-6b", 6.2436e9), ("baichuan2-7b", 7.506e9)):
        f = facts_from_config(_cfg(name))
        assert abs(f.param_count / published - 1) < 0.001, (name, f.param_count)
    assert facts_from_config(_cfg("chatglm3-6b")).resolve_targets("minimal") == ["query_key_value"]


def test_presets_within_0_03_percent_of_published():
    from ftwizard.core.plan.catalog import find_preset, load_catalog

    cat = load_catalog()
    assert len(cat) >= 37
    for key, preset in cat.items():
        assert abs(preset.facts.params_b / preset.published_params_b - 1) < 3e-4, key
    assert find_preset("Meta-Llama-3-8B") is cat["llama-3.1-8b"].facts


def test_hub_summary_shows_size_gate_and_token_state():
    from ftwizard.core.plan.hub import HubModel

    s = HubModel("meta-llama/Llama-3.1-8B", 16_060_000_000, gated=True, has_token=False).summary()
    assert s == ("meta-llama/Llama-3.1-8B on the Hub: 16.1 GB of weights, gated (licence must be accepted on "
                 "the Hub), no Hugging Face token set")


def test_new_architectures_as_published():
    """Configs as the Hub publishes them: Gemma 3's text_config without heads/head_dim/vocab (transformers' defaults
    fill them), its vision tower counted, ERNIE 4.5's moe_* keys, DeepSeek's MLA head size."""
    g = facts_from_config(_cfg("gemma-3-4b-it-hub"))
    assert (g.heads, g.kv_heads, g.head_dim, g.vocab_size) == (8, 4, 256, 262208)
    assert abs(g.params_b - 4.3) < 0.02 and abs(g.language_param_count / 3.88e9 - 1) < 0.01  # 4.3B with SigLIP
    assert g.active_param_count == g.language_param_count and any("vision tower (~0.41B" in n for n in g.notes)
    e = facts_from_config(_cfg("ernie-4.5-21b-a3b"))
    assert (e.num_experts, e.experts_per_token) == (64, 6) and abs(e.active_param_count / 3.0e9 - 1) < 0.15
    assert facts_from_config(_cfg("deepseek-v3")).head_dim == 192  # q·k: 128 nope + 64 rope


def test_a_hybrid_mamba_models_real_layers(meta_counts):
    """Granite 4.0-H: 36 Mamba blocks and 4 attention blocks. Its targets and LoRA count come from every block built
    on the meta device (q/k/v/o are in 4 blocks, not 40)."""
    res = meta_counts["granite-4.0-h-tiny"]
    if "error" in res:
        pytest.skip(res["error"][:80])
    f = with_exact_count(facts_from_config(_cfg("granite-4.0-h-tiny")), res)
    assert {"in_proj", "out_proj", "q_proj", "input_linear"} <= set(f.resolve_targets("all-linear"))
    assert f.lora_params(16, ["q_proj", "k_proj", "v_proj", "o_proj"]) == 655_360  # 16 × (in+out) × 4 blocks
    assert f.lora_params(16, f.resolve_targets("all-linear")) == 11_840_512


def test_a_multimodal_model_transformers_cannot_load_as_causal_lm_is_refused_before_launch(tmp_path):
    """Mistral Small 3.1 (mistral3): AutoModelForCausalLM refuses it, so `train` refuses it before loading."""
    pytest.importorskip("transformers")
    from ftwizard.core.run.source_checks import folder_problems

    (tmp_path / "config.json").write_text(json.dumps(_cfg("mistral-small-3.1-24b")))
    probs = folder_problems(tmp_path)
    assert len(probs) == 1 and "'mistral3', a multimodal model" in probs[0].message
    f = load_model_facts(str(tmp_path))
    assert "cannot load 'mistral3' as a causal LM" in f.notes[0] and abs(f.params_b - 24.0) < 0.2
    (tmp_path / "config.json").write_text(json.dumps(_cfg("gemma-3-4b-it-hub")))  # gemma3 loads: no refusal
    assert not any("causal LM" in p.message for p in folder_problems(tmp_path))


def test_a_checkpoint_quantized_another_way_is_not_planned_as_qlora(tmp_path):
    """gpt-oss ships mxfp4 weights: transformers keeps that quantization (dequantized to 16-bit for training) and
    ignores bitsandbytes', so a QLoRA plan would not be the run that happens. The planner and its fixes never pick
    QLoRA for it, and `method: qlora` is refused before launch."""
    from ftwizard.core.plan.hardware import FakeProbe
    from ftwizard.core.plan.recommend import recommend
    from ftwizard.core.run.config import RunConfig
    from ftwizard.core.run.source_checks import quant_problems
    from ftwizard.core.wizard import Answers, make_plan

    cfg = {**_cfg("gpt-oss-20b"), "quantization_config": {"quant_method": "mxfp4"}}
    f = facts_from_config(cfg)
    assert f.prequantized == "mxfp4" and not f.requantizable and any("dequantized to 16-bit" in n for n in f.notes)
    probe = FakeProbe.of("4090").probe()
    assert recommend(f, probe, rows=1000).choices["method"].value != "qlora"
    view = make_plan(Answers(model="x", rows=1000), f, probe)
    assert not view.fits and not any("QLoRA" in fx.label for fx in view.fixes), [fx.label for fx in view.fixes]
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    probs = quant_problems(RunConfig(model=str(tmp_path), method="qlora"))
    assert len(probs) == 1 and "already quantized (mxfp4)" in probs[0].message and "method: lora" in probs[0].fix
    assert quant_problems(RunConfig(model=str(tmp_path), method="lora")) == []
    assert facts_from_config(_cfg("gpt-oss-20b")).requantizable  # the same model in 16-bit
