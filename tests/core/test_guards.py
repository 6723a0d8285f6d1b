"""What cannot run is refused before launch (or named plainly if it slips through): LoRA target names the model
lacks, TRL configs that would silently train something else; and the fixes that make a setting run instead of
refusing it (QLoRA on the CPU after an evaluation, LoRA on a multimodal model)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ftwizard.core.run.config import RunConfig
from ftwizard.core.run.diagnosis import diagnose
from ftwizard.core.run.source_checks import check_before_launch, explicit_targets, target_problems
from ftwizard.core.run.trl_import import from_trl

QWEN2 = {"model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"], "hidden_size": 64, "num_hidden_layers": 2,
         "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 128, "vocab_size": 100}


@pytest.fixture
def qwen_folder(tmp_path: Path) -> Path:
    """A Qwen2 model folder as the pure checks see it (config.json, a weights file, a tokenizer file)."""
    d = tmp_path / "qwen2"
    d.mkdir()
    (d / "config.json").write_text(json.dumps(QWEN2))
    (d / "model.safetensors").write_bytes(b"")
    (d / "tokenizer.json").write_text("{}")
    return d


# ---- target_modules the model does not have --------------------------------------------------------------------
@pytest.mark.parametrize(("targets", "bad"), [
    ("c_attn", ["c_attn"]), (["q_proj", "c_proj"], ["c_proj"]), ("q_proj", []), ("self_attn.q_proj", []),
    (["q_proj", "lm_head"], []), ("all-linear", []), ("attention", []), (r".*\.q_proj", []),
])
def test_explicit_targets_are_checked_against_the_model(qwen_folder, targets, bad):
    probs = target_problems(RunConfig(model=str(qwen_folder), method="lora", target_modules=targets))
    assert [p.field for p in probs] == (["target_modules"] if bad else [])
    if bad:
        line = str(probs[0])
        assert all(b in line for b in bad) and "q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj" in line
        assert "\n" not in line


def test_target_check_skips_what_it_cannot_know(qwen_folder, tmp_path):
    assert target_problems(RunConfig(model=str(qwen_folder), method="full", target_modules="c_attn")) == []
    assert target_problems(RunConfig(model=str(qwen_folder), method="prefix", target_modules="c_attn")) == []
    assert target_problems(RunConfig(model=str(tmp_path / "nope"), method="lora", target_modules="c_attn")) == []
    # a family ftwizard only guesses (Llama-style names) and transformers cannot build here: left to the trainer
    odd = tmp_path / "odd"
    odd.mkdir()
    (odd / "config.json").write_text(json.dumps({**QWEN2, "model_type": "notarealmodel",
                                                  "architectures": ["NotARealModelForCausalLM"]}))
    assert target_problems(RunConfig(model=str(odd), method="lora", target_modules="c_attn")) == []
    assert explicit_targets("q_proj, v_proj") == ["q_proj", "v_proj"] and explicit_targets("minimal") is None


def test_check_before_launch_names_targets_after_the_model(qwen_folder, date_data):
    cfg = RunConfig(model=str(qwen_folder), data=str(date_data), method="qlora", target_modules="c_attn")
    assert [p.kind for p in check_before_launch(cfg, offline=True)] == ["targets"]
    broken = RunConfig(model=str(qwen_folder.parent / "missing"), data=str(date_data), target_modules="c_attn")
    assert [p.kind for p in check_before_launch(broken, offline=True)] == ["missing"]  # one cause at a time


@pytest.mark.faults
def test_train_check_refuses_unknown_targets_in_one_line(qwen_folder, date_data, tmp_path):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(RunConfig(model=str(qwen_folder), data=str(date_data), method="lora", target_modules="c_attn")
                   .to_yaml())
    res = subprocess.run([sys.executable, "-m", "ftwizard", "train", "--check", str(cfg)], capture_output=True,
                         text=True, timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1"}, stdin=subprocess.DEVNULL)
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert lines[0].startswith("error:") and "c_attn" in lines[0] and "q_proj" in lines[0], res.stderr


def test_peft_no_matching_module_is_diagnosed(tiny_model):
    """The real PEFT error (raised here on the tiny model), should one slip past the check."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(tiny_model))
    with pytest.raises(ValueError) as err:
        get_peft_model(model, LoraConfig(target_modules=["c_attn"], task_type="CAUSAL_LM"))
    d = diagnose(f"{type(err.value).__name__}: {err.value}")
    assert d.kind == "bad_targets" and "target_modules" in d.summary and "all-linear" in d.fix


# ---- TRL configs that would train something else ------------------------------------------------------------------
def test_trl_lora_keys_without_use_peft_warn():
    fields, lines = from_trl({"model_name_or_path": "m", "dataset_name": "d", "lora_r": 8, "lora_alpha": 16})
    assert fields["method"] == "full"
    warn = [ln for ln in lines if ln.startswith("warning:")]
    assert len(warn) == 1 and "lora_r, lora_alpha" in warn[0] and "use_peft: true" in warn[0]
    fields, lines = from_trl({"model_name_or_path": "m", "dataset_name": "d", "lora_r": 8, "use_peft": True})
    assert fields["method"] == "lora" and not any(ln.startswith("warning:") for ln in lines)


def test_trl_renamed_key_is_named():
    with pytest.raises(ValueError, match="max_seq_length was renamed to max_length in TRL"):
        from_trl({"model_name_or_path": "m", "dataset_name": "d", "max_seq_length": 512})


# ---- PEFT targets as the trainer builds them ----------------------------------------------------------------------
def test_single_target_name_becomes_a_list_and_a_regex_stays():
    from ftwizard.train.model import _targets, language_only

    assert _targets(RunConfig(target_modules="q_proj"), None) == ["q_proj"]  # PEFT reads a string as a regex
    assert _targets(RunConfig(target_modules="all-linear"), None) == "all-linear"
    assert _targets(RunConfig(target_modules=r".*\.q_proj"), None) == r".*\.q_proj"
    rx = language_only(["q_proj", "self_attn.o_proj"], "model.language_model")
    assert re.fullmatch(rx, "model.language_model.layers.0.self_attn.q_proj")
    assert re.fullmatch(rx, "model.language_model.layers.1.self_attn.o_proj")
    assert not re.fullmatch(rx, "model.vision_tower.encoder.layers.0.self_attn.q_proj")
    assert not re.fullmatch(rx, "model.language_model.layers.0.mlp.q_proj_x")


@pytest.mark.slow
@pytest.mark.parametrize("targets", ["all-linear", "attention", ["q_proj", "v_proj"]])
def test_multimodal_lora_leaves_the_vision_tower_alone(targets):
    """A tiny Gemma3 image-text model (built here): LoRA reaches the language model's layers only."""
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM, Gemma3Config

    from ftwizard.train.model import language_model_prefix, peft_config

    cfg = Gemma3Config(text_config={"vocab_size": 300, "hidden_size": 64, "intermediate_size": 128,
                                    "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
                                    "head_dim": 16},
                       vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
                                      "num_attention_heads": 2, "image_size": 28, "patch_size": 14},
                       mm_tokens_per_image=4)
    model = AutoModelForCausalLM.from_config(cfg)
    assert language_model_prefix(model) == "model.language_model"
    peft = get_peft_model(model, peft_config(RunConfig(method="lora", rank=4, target_modules=targets), model))
    wrapped = [n for n, m in peft.named_modules() if hasattr(m, "lora_A") and n.endswith(("_proj", "fc1", "fc2"))]
    assert wrapped and all(".language_model." in n for n in wrapped), wrapped
    assert any(n.endswith("q_proj") for n in wrapped)


@pytest.mark.slow
def test_qlora_on_cpu_trains_after_an_evaluation(tmp_path, date_data):
    """bitsandbytes repacks 4-bit weights for inference the first time a layer runs in eval mode on a CPU with
    AVX512-BF16; the next training step then crashed on a layer with a bias ("a view of a leaf Variable …")."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("the CPU path only")
    from transformers import LlamaConfig, LlamaForCausalLM

    from ftwizard.core.run.launcher import launch, wait
    from ftwizard.core.run.layout import RunDir
    from ftwizard.train.tiny import build_tokenizer

    model = tmp_path / "biased"
    model.mkdir()
    tok = build_tokenizer(model)
    torch.manual_seed(0)
    LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                 num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=128,
                                 attention_bias=True, pad_token_id=0, eos_token_id=tok.eos_token_id,
                                 tie_word_embeddings=True)).save_pretrained(str(model))
    cfg = RunConfig(model=str(model), data=str(date_data), method="qlora", rank=4, alpha=8, max_seq_length=48,
                    micro_batch=4, gradient_accumulation=1, max_steps=4, eval_steps=2, logging_steps=1, save_steps=4,
                    learning_rate=1e-3)
    run = tmp_path / "run"
    RunDir(run).create(cfg)
    st = wait(launch(run), run)
    assert st["state"] == "done", (run / "stdout.log").read_text()[-3000:]
    evs = RunDir(run).read_events()
    assert any(e["type"] == "eval" and e.get("step", 0) < 4 for e in evs)
