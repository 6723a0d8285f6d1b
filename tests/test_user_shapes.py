"""Shapes first-time users bring to `ftwizard info/estimate/plan`: stray config keys, adapter folders, GGUF
files, base-model Hub ids of an Instruct preset, empty target lists (fast: no model is built)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ftwizard.core.plan.model_facts import ModelFactsError, facts_from_config, load_model_facts

# GPT-2 as `AutoConfig.for_model("gpt2", intermediate_size=…, num_key_value_heads=…)` saves it: GPT-2's code
# reads n_inner (None → 4 × hidden) and has no grouped-query attention, so the stray keys must be ignored.
GPT2_STRAY = {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "n_embd": 64, "n_layer": 2, "n_head": 4,
              "n_positions": 256, "n_inner": None, "intermediate_size": 128, "num_key_value_heads": 2,
              "vocab_size": 104, "tie_word_embeddings": True}


def test_gpt2_reads_n_inner_not_a_stray_intermediate_size():
    f = facts_from_config(GPT2_STRAY)
    assert (f.intermediate_size, f.kv_heads) == (256, 4)
    assert f.param_count == 123_136  # sum(p.numel()) of GPT2LMHeadModel built from this config


def test_empty_target_list_is_refused_with_the_module_names():
    f = facts_from_config(GPT2_STRAY)
    with pytest.raises(ModelFactsError, match="no target modules given.*c_attn"):
        f.resolve_targets(",")


def test_adapter_folder_names_its_base_model(tmp_path: Path):
    (tmp_path / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "org/base-7b",
                                                              "peft_type": "LORA"}))
    for where in (tmp_path, tmp_path / "adapter_config.json"):
        with pytest.raises(ModelFactsError, match=r"PEFT adapter, not a model.*org/base-7b.*init_from"):
            load_model_facts(str(where))


def test_gguf_and_other_files_are_explained(tmp_path: Path):
    gguf = tmp_path / "model.Q4_K_M.gguf"
    gguf.write_bytes(b"GGUF")
    with pytest.raises(ModelFactsError, match="GGUF file"):
        load_model_facts(str(gguf))
    data = tmp_path / "train.jsonl"
    data.write_text("{}\n")
    with pytest.raises(ModelFactsError, match="a file, not a model folder"):
        load_model_facts(str(data))


@pytest.mark.parametrize("path", ["./models/llama-3", "/nowhere/model", "~/no-such-model-dir"])
def test_missing_local_path_is_not_sent_to_the_hub(path: str):
    with pytest.raises(ModelFactsError, match="no such folder") as err:
        load_model_facts(path)
    assert "hf download" not in str(err.value) and path in str(err.value)


def test_base_hub_id_of_an_instruct_preset_is_sized_with_a_note(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # an empty cache
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    f = load_model_facts("meta-llama/Llama-3.1-8B")
    assert abs(f.params_b - 8.03) < 0.01
    assert f.has_chat_template is None and "llama-3.1-8b" in f.notes[0]
    exact = load_model_facts("meta-llama/Llama-3.1-8B-Instruct")
    assert exact.has_chat_template is True and not any("sized from the preset" in n for n in exact.notes)
    with pytest.raises(ModelFactsError):
        load_model_facts("someone-else/Llama-3.1-8B")  # another organisation's model is not assumed the same


def test_mistral_presets_match_their_hub_ids():
    v2, v3 = load_model_facts("mistralai/Mistral-7B-Instruct-v0.2"), load_model_facts("Mistral-7B-v0.3")
    assert (v2.vocab_size, v3.vocab_size) == (32000, 32768)
    assert v3.param_count == 7_248_023_552


LLAMA_8B = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 4096,
            "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
            "vocab_size": 128256}


def test_reward_model_of_a_decoder_is_not_called_an_encoder():
    with pytest.raises(ModelFactsError, match="classification head") as err:
        facts_from_config({**LLAMA_8B, "architectures": ["LlamaForSequenceClassification"]})
    assert "encoder" not in str(err.value)


@pytest.mark.parametrize(("quant", "says"), [
    ({"quant_method": "bitsandbytes", "load_in_4bit": True}, "bitsandbytes, 4-bit): train it with qlora"),
    ({"quant_method": "gptq", "bits": 4}, "gptq, 4-bit): LoRA can train adapters"),
    ({"quant_method": "awq", "bits": 4}, "full fine-tuning is not possible"),
])
def test_prequantized_weights_get_a_note(quant: dict, says: str):
    f = facts_from_config({**LLAMA_8B, "quantization_config": quant})
    assert any(says in n for n in f.notes), f.notes
    assert abs(f.params_b - 8.03) < 0.01


@pytest.mark.parametrize(("key", "value"), [("num_attention_heads", 0), ("num_hidden_layers", -1),
                                            ("vocab_size", [1]), ("hidden_size", "big")])
def test_nonsense_sizes_are_one_line_errors(key: str, value: object):
    with pytest.raises(ModelFactsError, match=f"{key} is .*whole number"):
        facts_from_config({**LLAMA_8B, key: value})


def test_integral_floats_and_digit_strings_are_read():
    f = facts_from_config({**LLAMA_8B, "hidden_size": 4096.0, "vocab_size": "128256"})
    assert abs(f.params_b - 8.03) < 0.01


def test_state_space_model_is_named_as_such():
    with pytest.raises(ModelFactsError, match="mamba is a state-space model"):
        facts_from_config({"model_type": "mamba", "architectures": ["MambaForCausalLM"], "hidden_size": 64,
                           "num_hidden_layers": 2, "vocab_size": 100, "state_size": 16})


def test_multimodal_wrapper_says_the_numbers_are_the_language_models():
    cfg = {"model_type": "gemma3", "architectures": ["Gemma3ForConditionalGeneration"],
           "text_config": {"model_type": "gemma3_text", "hidden_size": 64, "intermediate_size": 128,
                           "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
                           "vocab_size": 108},
           "vision_config": {"model_type": "siglip_vision_model", "hidden_size": 32}}
    f = facts_from_config(cfg)
    assert f.param_count == 81_280  # Gemma3ForConditionalGeneration's language model (the whole model: 119,456)
    assert any("multimodal" in n and "vision tower" in n for n in f.notes), f.notes


@pytest.mark.slow
def test_model_transformers_cannot_load_as_causal_lm_says_so(tmp_path: Path, monkeypatch):
    """Qwen2.5-VL's config.json (flat, as on the Hub): AutoModelForCausalLM refuses it, so training would crash."""
    pytest.importorskip("transformers")
    monkeypatch.setenv("FTWIZARD_CACHE", str(tmp_path / "cache"))
    model = tmp_path / "qwen-vl"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({
        "architectures": ["Qwen2_5_VLForConditionalGeneration"], "model_type": "qwen2_5_vl", "hidden_size": 64,
        "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "vocab_size": 200, "vision_config": {"depth": 1, "hidden_size": 32, "out_hidden_size": 64}}))
    f = load_model_facts(str(model))
    assert "cannot load 'qwen2_5_vl' as a causal LM" in f.notes[0]
    assert any("is multimodal" in n for n in f.notes)  # a flat config with vision_config
    assert load_model_facts(str(model)).notes == f.notes  # the cached answer gives the same note
