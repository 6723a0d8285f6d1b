"""Load the tokenizer and the model for a run (precision, 4-bit for QLoRA, a finished run to start from) and build
its PEFT config (LoRA, QLoRA, DoRA, prefix tuning, prompt tuning, IA3)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftwizard.core.run.config import RunConfig


def precision(cfg: RunConfig, torch: Any) -> str:
    """The precision the run uses: the config's, or for `auto` bf16 where the GPU has it, else fp16; fp32 on the CPU."""
    if cfg.precision != "auto":
        return cfg.precision
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "fp32"


# ---- init_from: a finished run, an adapter folder or a model folder ---------------------------------------------
@dataclass(frozen=True)
class InitSource:
    """What `init_from` points at: an adapter (trained on, or merged for a full fine-tune) or a full model."""

    kind: str  # "adapter" | "model"
    path: Path
    base: str  # the base model an adapter was trained on (its adapter_config.json), else the model folder
    continue_adapter: bool = False  # an adapter method keeps training the adapter (its base stays the run's model)


def init_source(cfg: RunConfig) -> InitSource | None:
    """Where `init_from` leads: a run directory → its adapter/ or model/; a folder with adapter_config.json → that
    adapter; a folder with config.json → that model. ValueError in one line otherwise."""
    if not cfg.init_from:
        return None
    from ftwizard.core.run.layout import RunDir

    path = Path(cfg.init_from)
    rd = RunDir(path)
    if rd.config_path.exists():
        if not rd.has_result():
            raise ValueError(f"init_from: {path} has no trained result yet (no adapter/ or model/); let it finish first")
        path = rd.result
    if (path / "adapter_config.json").exists():
        base = json.loads((path / "adapter_config.json").read_text(encoding="utf-8")).get("base_model_name_or_path")
        return InitSource("adapter", path, cfg.model or base or "", continue_adapter=cfg.is_adapter)
    if (path / "config.json").exists():
        return InitSource("model", path, str(path))
    raise ValueError(f"init_from: {path} is neither a run directory, an adapter (adapter_config.json) nor a model "
                     "folder (config.json)")


def model_path(cfg: RunConfig) -> str:
    """Where the weights (and tokenizer) to start from are: the init_from model, else `model`."""
    src = init_source(cfg)
    return str(src.path) if src is not None and src.kind == "model" else (src.base if src else cfg.model)


def load_tokenizer(cfg: RunConfig) -> Any:
    from transformers import AutoTokenizer

    src = init_source(cfg)
    where = str(src.path) if src is not None and (src.path / "tokenizer_config.json").exists() else model_path(cfg)
    tok = AutoTokenizer.from_pretrained(where, trust_remote_code=cfg.trust_remote_code)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_model(cfg: RunConfig, prec: str, torch: Any, note: Callable[[str], None] = lambda _m: None) -> Any:
    """The model to train: the base (4-bit for QLoRA), or what `init_from` names — a full model; an adapter that
    keeps training (an adapter method: the result still loads on `model`, like any adapter), or merged into its base
    for a full fine-tune. (A DPO run on an SFT adapter: its reference is the base with the adapter switched off.)"""
    from transformers import AutoModelForCausalLM

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(prec, torch.float32)
    load_kw: dict[str, Any] = {"trust_remote_code": cfg.trust_remote_code, "dtype": dtype}
    if cfg.method == "qlora":
        from transformers import BitsAndBytesConfig

        compute = dtype if dtype != torch.float32 else torch.bfloat16
        load_kw["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=compute)
        load_kw["dtype"] = compute
    model = AutoModelForCausalLM.from_pretrained(model_path(cfg), **load_kw)
    if cfg.method == "qlora" and not torch.cuda.is_available():
        keep_4bit_trainable_on_cpu(model)
    src = init_source(cfg)
    if src is not None and src.kind == "adapter":
        from peft import PeftModel

        if src.continue_adapter:
            note(f"starting from {src.path}: its adapter keeps training (its rank and targets; the base stays "
                 f"{src.base})")
            return PeftModel.from_pretrained(model, str(src.path), is_trainable=True)
        model = PeftModel.from_pretrained(model, str(src.path)).merge_and_unload()
        model.requires_grad_(True)  # PEFT froze the base weights; a full fine-tune trains them all
        note(f"starting from {src.path}: its adapter is merged into {src.base} for a full fine-tune")
    elif src is not None:
        note(f"starting from the model in {src.path}")
    return model


def keep_4bit_trainable_on_cpu(model: Any) -> int:
    """QLoRA on the CPU: stop bitsandbytes repacking 4-bit weights for inference. On a CPU with AVX512-BF16 its
    Linear4bit repacks the weights the first time it runs in eval mode without grad (the evaluation during training)
    and keeps them so; the next training step then goes through an inference-only kernel (a layer with a bias
    stops with "a view of a leaf Variable … in-place operation"). Returns how many layers were switched."""
    n = 0
    for module in model.modules():
        if getattr(module, "support_avx512bf16_for_cpu", False):
            module.support_avx512bf16_for_cpu = False
            n += 1
    return n


# ---- PEFT configs ---------------------------------------------------------------------------------------------
_REGEX_CHARS = re.compile(r"[*+?^$()\[\]{}|\\]")


def language_model_prefix(model: Any) -> str | None:
    """The dotted path of the language model inside a multimodal wrapper (Gemma3ForConditionalGeneration:
    `model.language_model`), or None for a text-only model."""
    cfg = getattr(model, "config", None)
    if cfg is None or not any(getattr(cfg, k, None) is not None for k in ("vision_config", "audio_config")):
        return None
    get = getattr(model, "get_decoder", None)
    dec = get() if callable(get) else None
    if dec is None or dec is model:
        return None
    return next((name for name, mod in model.named_modules() if mod is dec and name), None)


def language_only(names: list[str], prefix: str) -> str:
    """A PEFT `target_modules` regex (PEFT full-matches a string against each module path) that reaches the named
    layers inside `prefix` only: on a multimodal model, `q_proj` alone would also adapt the vision tower."""
    alts = "|".join(re.escape(n) for n in names)
    return rf"{re.escape(prefix)}\.(?:.*\.)?(?:{alts})"


def _linear_names_under(model: Any, prefix: str) -> list[str]:
    import torch

    return list(dict.fromkeys(name.rsplit(".", 1)[-1] for name, mod in model.named_modules()
                              if name.startswith(prefix + ".") and isinstance(mod, torch.nn.Linear)))


def _targets(cfg: RunConfig, model: Any) -> str | list[str]:
    """LoRA/DoRA/IA3 targets: `all-linear` as PEFT reads it; `minimal`/`attention` resolved for this model; module
    names as a list (a single name too: PEFT reads a string as a regex); a regex as given. On a multimodal model:
    a regex over the language model's layers only (the vision/audio tower stays as it is)."""
    t = cfg.target_modules
    if isinstance(t, str) and _REGEX_CHARS.search(t):
        return t  # the user's own regex
    if isinstance(t, str) and t in ("minimal", "attention") and model is not None:
        from ftwizard.core.plan.model_facts import facts_from_config

        t = facts_from_config(model.config.to_dict()).resolve_targets(t)
    elif isinstance(t, str) and t != "all-linear":
        t = [n.strip() for n in t.split(",") if n.strip()]
    prefix = language_model_prefix(model) if model is not None else None
    if prefix is None:
        return t
    names = _linear_names_under(model, prefix) if t == "all-linear" else list(t)
    return language_only(names, prefix) if names else t


def _lora(cfg: RunConfig, model: Any) -> Any:
    from peft import LoraConfig

    return LoraConfig(r=cfg.rank, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout, target_modules=_targets(cfg, model),
                      use_dora=cfg.method == "dora", task_type="CAUSAL_LM", bias="none")


def _prefix(cfg: RunConfig, model: Any) -> Any:
    from peft import PrefixTuningConfig

    return PrefixTuningConfig(num_virtual_tokens=cfg.virtual_tokens, task_type="CAUSAL_LM")


def _prompt(cfg: RunConfig, model: Any) -> Any:
    from peft import PromptTuningConfig

    return PromptTuningConfig(num_virtual_tokens=cfg.virtual_tokens, task_type="CAUSAL_LM")


FEEDFORWARD = ("down_proj", "w2", "fc2", "dense_4h_to_h", "c_proj", "mlp.down_proj")


def _ia3(cfg: RunConfig, model: Any) -> Any:
    from peft import IA3Config

    t = _targets(cfg, model)
    if isinstance(t, list):  # explicit names: the MLP output ones scale the input (IA3's feed-forward rule)
        return IA3Config(target_modules=t, feedforward_modules=[m for m in t if m in FEEDFORWARD],
                         task_type="CAUSAL_LM")
    return IA3Config(task_type="CAUSAL_LM")  # PEFT's per-architecture default (k, v and the MLP output)


PEFT_BUILDERS: dict[str, Callable[[RunConfig, Any], Any]] = {
    "lora": _lora, "qlora": _lora, "dora": _lora, "prefix": _prefix, "prompt": _prompt, "ia3": _ia3,
}


def peft_config(cfg: RunConfig, model: Any = None) -> Any:
    """The PEFT config for an adapter method (None for a full fine-tune, or when a QLoRA run continues the adapter
    it started from)."""
    if not cfg.is_adapter:
        return None
    if model is not None and hasattr(model, "peft_config"):
        return None  # init_from: the adapter it was loaded with keeps training
    return PEFT_BUILDERS[cfg.method](cfg, model)
