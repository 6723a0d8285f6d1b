"""Model facts from a `config.json` (no weights loaded): sizes, parameter count, LoRA target modules.

The block layout of each `model_type` comes from the families table (`families.py`); a decoder that is not
in it gets a Llama-style estimate from the standard config fields, with a note, refined by an exact count
built on the meta device in a subprocess (`meta.py`) when transformers knows the architecture. The same
description gives LoRA's trainable-parameter count and the per-module shapes the memory estimator needs.
Encoder-only and encoder-decoder configs are refused: ftwizard trains causal LMs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

from ftwizard.core.plan import families as fam_table
from ftwizard.core.plan.families import ENCODER_DECODER, ENCODER_ONLY, LLAMA, ArchFamily, Layout, MoE
from ftwizard.core.plan.presets import find_entry, matched_by_alias, preset_entries


class ModelFactsError(ValueError):
    """The model could not be found or its config is not understood."""


@dataclass(frozen=True)
class Linear:
    """A linear layer inside a transformer block: `count` copies (experts) in `layers` blocks (None = all)."""

    name: str
    in_features: int
    out_features: int
    bias: bool = False
    part: str = "attn"  # attn | mlp | expert | router
    count: int = 1
    layers: int | None = None

    @property
    def params(self) -> int:
        """Parameters of one copy."""
        return self.in_features * self.out_features + (self.out_features if self.bias else 0)


@dataclass(frozen=True)
class ModelFacts:
    name: str
    model_type: str
    family: str
    architecture: str
    layers: int
    hidden_size: int
    intermediate_size: int  # the MLP's (for MoE: one expert's) intermediate size
    heads: int
    kv_heads: int
    head_dim: int
    vocab_size: int
    tied_embeddings: bool
    max_positions: int | None
    gated_mlp: bool
    norm_params_per_layer: int
    parallel_block: bool = False  # attention and MLP read the same normed input (phi, falcon, cohere)
    upcasts_logits: bool = True  # transformers' loss upcasts logits to fp32; some remote code does not
    extra_params: int = 0  # final norm, position embeddings, routers, lm_head bias …
    tower_params: int = 0  # a multimodal model's vision/audio encoder: loaded (frozen) with the language model
    prequantized: str | None = None  # the checkpoint's own quant_method (mxfp4, fp8, gptq, bitsandbytes …), if any
    has_chat_template: bool | None = None
    source: str = ""
    num_experts: int = 1
    experts_per_token: int = 1
    linears: tuple[Linear, ...] = field(default=(), repr=False)
    layer_class: str | None = None  # decoder-layer class (FSDP auto-wrap)
    count_source: str = "formula"  # formula | meta-device
    notes: tuple[str, ...] = ()
    target_sets: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False, hash=False, compare=False)

    # ---- derived -------------------------------------------------------------------------------
    @property
    def embedding_params(self) -> int:
        return self.vocab_size * self.hidden_size

    @property
    def lm_head_params(self) -> int:
        return 0 if self.tied_embeddings else self.vocab_size * self.hidden_size

    def _n(self, lin: Linear) -> int:
        return lin.count * (self.layers if lin.layers is None else lin.layers)

    @property
    def block_linear_params(self) -> int:
        """Parameters in the blocks' nn.Linear layers: what 4-bit quantization (bitsandbytes) compresses.
        MoE experts are 3-D parameters in transformers 5 and stay 16-bit under QLoRA."""
        return sum(lin.params * self._n(lin) for lin in self.linears if lin.part != "expert")

    @property
    def expert_params(self) -> int:
        return sum(lin.params * self._n(lin) for lin in self.linears if lin.part == "expert")

    @property
    def param_count(self) -> int:
        return (self.embedding_params + self.lm_head_params + self.block_linear_params + self.expert_params
                + self.layers * self.norm_params_per_layer + self.extra_params + self.tower_params)

    @property
    def requantizable(self) -> bool:
        """Whether QLoRA's bitsandbytes 4-bit can load it: a 16-bit checkpoint (or a bitsandbytes one). A checkpoint
        already quantized another way (gpt-oss's mxfp4, fp8, GPTQ, AWQ) keeps its own quantization_config."""
        return self.prequantized in (None, "bitsandbytes")

    @property
    def language_param_count(self) -> int:
        """The language model's parameters (a multimodal model's encoder left out): what `text_config` describes."""
        return self.param_count - self.tower_params

    @property
    def params_b(self) -> float:
        return self.param_count / 1e9

    @property
    def active_param_count(self) -> int:
        """Parameters one text token goes through: all of the language model's but the experts it is not routed to
        (a multimodal model's vision/audio encoder sees images and sound, not text)."""
        idle = 0
        if self.num_experts > 1:
            idle_share = 1 - self.experts_per_token / self.num_experts
            idle = sum(int(lin.params * self._n(lin) * idle_share) for lin in self.linears if lin.part == "expert")
        return self.language_param_count - idle

    def module_names(self) -> list[str]:
        """Names of the nn.Linear modules PEFT can wrap (3-D expert weights excluded)."""
        seen: list[str] = []
        for lin in self.linears:
            if lin.part != "expert" and lin.name not in seen:
                seen.append(lin.name)
        return seen

    def resolve_targets(self, targets: str | list[str] | None) -> list[str]:
        """'minimal' | 'all-linear' | 'attention' | explicit names → the module names PEFT should wrap."""
        if targets is None:
            targets = "all-linear"
        if isinstance(targets, str) and targets in self.target_sets:
            return list(self.target_sets[targets])
        names = [t.strip() for t in targets.split(",")] if isinstance(targets, str) else list(targets)
        names = [n for n in names if n]
        if not names:
            raise ModelFactsError(f"no target modules given; use minimal, attention, all-linear or names from: "
                                  f"{', '.join(self.module_names())}")
        known = set(self.module_names()) | {"lm_head"}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ModelFactsError(
                f"unknown target module(s) {', '.join(unknown)} for {self.architecture}; "
                f"this model has: {', '.join(self.module_names())}"
            )
        return names

    def targeted_linears(self, targets: list[str]) -> list[Linear]:
        return [lin for lin in self.linears if lin.name in targets and lin.part != "expert"]

    def lora_params(self, rank: int, targets: list[str], dora: bool = False) -> int:
        total = 0
        for lin in self.targeted_linears(targets):
            per = rank * (lin.in_features + lin.out_features) + (lin.out_features if dora else 0)
            total += per * self._n(lin)
        if "lm_head" in targets:
            total += rank * (self.hidden_size + self.vocab_size) + (self.vocab_size if dora else 0)
        return total

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("linears")
        d.pop("target_sets")
        d["notes"] = list(self.notes)
        d["param_count"] = self.param_count
        d["params_b"] = round(self.params_b, 3)
        if self.num_experts > 1:
            d["active_param_count"] = self.active_param_count
            d["active_params_b"] = round(self.active_param_count / 1e9, 3)
        d["target_modules_all_linear"] = self.resolve_targets("all-linear")
        d["target_modules_minimal"] = self.resolve_targets("minimal")
        return d


# ---- reading a config ---------------------------------------------------------------------------------
def _get(cfg: dict[str, Any], *names: str, default: Any = None) -> Any:
    for n in names:
        if n in cfg and cfg[n] is not None:
            return cfg[n]
    return default


def _ev(expr: str, dims: dict[str, int]) -> int:
    """Evaluate a families-table expression: a sum of products of dimension names and integers."""
    total = 0
    for term in expr.replace(" ", "").split("+"):
        prod = 1
        for factor in term.split("*"):
            prod *= int(factor) if factor.isdigit() else dims[factor]
        total += prod
    return total


def _text_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """Multimodal wrappers (gemma3, llama4, mistral3 …): the language model's config."""
    text = cfg.get("text_config")
    if isinstance(text, dict) and _get(cfg, "hidden_size", "n_embd", "d_model") is None:
        merged = dict(text)
        merged.setdefault("architectures", cfg.get("architectures"))
        if "tie_word_embeddings" not in merged and "tie_word_embeddings" in cfg:
            merged["tie_word_embeddings"] = cfg["tie_word_embeddings"]
        merged.setdefault("_name_or_path", cfg.get("_name_or_path"))
        merged["_wrapper"] = cfg.get("model_type")
        merged["_towers"] = [k.removesuffix("_config") for k in ("vision_config", "audio_config") if cfg.get(k)]
        merged["_tower_params"] = sum(_tower_params(cfg.get(k)) for k in ("vision_config", "audio_config"))
        return merged
    return cfg


def _tower_params(tower: Any) -> int:
    """A vision/audio encoder's parameters from its config (a ViT-style stack: attention 4h², MLP 2·h·i per layer),
    plus its projection into the language model; 0 when the config does not give its sizes."""
    if not isinstance(tower, dict):
        return 0
    h = int(_get(tower, "hidden_size", "embed_dim", "d_model", "width", default=0) or 0)
    layers = int(_get(tower, "num_hidden_layers", "depth", "num_layers", "encoder_layers", default=0) or 0)
    inter = int(_get(tower, "intermediate_size", "encoder_ffn_dim", default=4 * h) or 4 * h)
    if not h or not layers:
        return 0
    patch = int(tower.get("patch_size") or 0)
    return layers * (4 * h * h + 2 * h * inter) + 3 * patch * patch * h


def _with_class_defaults(cfg: dict[str, Any]) -> dict[str, Any]:
    """A config.json that leaves out sizes its transformers config class has as defaults (Gemma 3's `text_config`
    omits the heads, head_dim and vocabulary): those defaults filled in, as transformers does when it loads it.
    Only for a multimodal model's language part (a whole config.json without its sizes is broken, not brief), and
    only when a size is missing, since it asks transformers in a subprocess (seconds, then cached)."""
    if not cfg.get("_wrapper") or all(_get(cfg, *keys) is not None for _, keys in _SIZE_KEYS):
        return cfg
    from ftwizard.core.plan.meta import type_info  # a subprocess, cached: core does not import transformers

    defaults = type_info(str(cfg.get("model_type") or "")).get("defaults") or {}
    return {**defaults, **cfg}  # an unknown model type: the missing size is reported as before


def refusal(cfg: dict[str, Any]) -> str | None:
    """One line when the config is not a causal LM (encoder-only or encoder-decoder), else None."""
    mt = str(cfg.get("model_type", "")).lower()
    archs = [str(a) for a in cfg.get("architectures") or []]
    name = mt or (archs[0] if archs else "this model")
    causal = any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in archs)
    heads = ("ForSequenceClassification", "ForTokenClassification", "ForQuestionAnswering")
    if mt in fam_table.FAMILIES and archs and not causal and any(a.endswith(heads) for a in archs):
        return (f"not supported: {archs[0]} is {mt} with a classification head (a reward model or classifier), "
                "not a causal LM: pass the chat or base model it was made from")
    if mt in ENCODER_DECODER or (cfg.get("is_encoder_decoder") and not causal):
        kind = "an encoder-decoder"
    elif mt in ENCODER_ONLY or (archs and not causal and any(
            a.endswith(("ForMaskedLM", "ForSequenceClassification", "ForTokenClassification")) for a in archs)):
        kind = "an encoder"
    else:
        return None
    return f"not supported: ftwizard trains causal LMs (decoder-only); {name} is {kind} model"


_N_INNER_TYPES = frozenset({"gpt2", "gpt_bigcode", "gptj"})
_STATE_SPACE = frozenset({"mamba", "mamba2", "falcon_mamba", "rwkv", "xlstm"})
_SIZE_KEYS: tuple[tuple[str, tuple[str, ...]], ...] = (  # (what, config keys in the order they are read)
    ("hidden size", ("hidden_size", "n_embd", "d_model", "n_embed", "dim")),
    ("number of layers", ("num_hidden_layers", "n_layer", "num_layers", "n_layers")),
    ("number of attention heads", ("num_attention_heads", "n_head", "n_heads", "num_heads")),
    ("vocabulary size", ("vocab_size", "padded_vocab_size")),
)


def dims_from_config(cfg: dict[str, Any], model_type: str = "") -> dict[str, int]:
    """The dimensions the families table's expressions use, read from standard config field names."""
    h = int(_get(cfg, "hidden_size", "n_embd", "d_model", "n_embed", "dim"))
    heads = int(_get(cfg, "num_attention_heads", "n_head", "n_heads", "num_heads"))
    mla_qk = int(_get(cfg, "qk_nope_head_dim", default=0) or 0) + int(_get(cfg, "qk_rope_head_dim", default=0) or 0)
    hd = int(_get(cfg, "head_dim", default=0) or mla_qk or h // heads)  # MLA (DeepSeek): q·k heads are nope + rope
    kvh = int(_get(cfg, "num_key_value_heads", "num_kv_heads", "multi_query_group_num", default=heads))
    if model_type == "falcon":
        kvh = int(_get(cfg, "num_kv_heads", default=heads)) if cfg.get("new_decoder_architecture") else (
            1 if cfg.get("multi_query", True) else heads)
    elif model_type == "gpt_bigcode":
        kvh = 1 if cfg.get("multi_query", True) else heads
    inter = _get(cfg, "intermediate_size", "n_inner", "ffn_dim", "ffn_hidden_size", "d_ff")
    if model_type in _N_INNER_TYPES:  # their modeling code reads n_inner (None: 4 × hidden), never intermediate_size
        inter = cfg.get("n_inner")
        if model_type in ("gpt2", "gptj"):
            kvh = heads  # no grouped-query attention: a stray num_key_value_heads is not read
    if inter is None:
        inter = int(cfg.get("expansion_ratio", 4) * h)
    inter = int(inter)
    if model_type == "qwen":  # Qwen (v1): intermediate_size counts w1 and w2 together
        inter //= 2
    experts = int(_get(cfg, "num_local_experts", "num_experts", "n_routed_experts", "moe_num_experts", default=1) or 1)
    ei = int(_get(cfg, "moe_intermediate_size", default=inter))
    shared = int(_get(cfg, "n_shared_experts", "num_shared_experts", "moe_num_shared_experts", default=1) or 1)
    si = int(_get(cfg, "shared_expert_intermediate_size", default=ei * shared))
    pos = int(_get(cfg, "max_position_embeddings", "n_positions", "max_seq_len", "seq_length", default=0) or 0)
    if model_type == "opt":
        pos += 2  # OPT's learned positions carry an offset of 2
    nope = int(_get(cfg, "qk_nope_head_dim", default=0) or 0)
    rope = int(_get(cfg, "qk_rope_head_dim", default=0) or 0)
    return {
        "h": h, "nh": heads, "hd": hd, "q": heads * hd, "kv": kvh * hd, "kvh": kvh, "i": inter,
        "V": int(_get(cfg, "vocab_size", "padded_vocab_size")), "P": pos, "E": experts, "ei": ei, "si": si,
        "i_mlp": int(_get(cfg, "intermediate_size_mlp", default=inter)),
        "qr": int(_get(cfg, "q_lora_rank", default=0) or 0), "kvr": int(_get(cfg, "kv_lora_rank", default=0) or 0),
        "nope": nope, "rope": rope, "qkd": nope + rope, "vd": int(_get(cfg, "v_head_dim", default=0) or 0),
    }


def _moe_layer_count(cfg: dict[str, Any], layers: int) -> int:
    """How many blocks carry experts (the rest have a dense MLP)."""
    if isinstance(cfg.get("moe_layers"), list):
        return len(cfg["moe_layers"])
    if cfg.get("first_k_dense_replace") is not None:
        k = int(cfg["first_k_dense_replace"])
        freq = int(cfg.get("moe_layer_freq") or 1)
        return sum(1 for i in range(layers) if i >= k and i % freq == 0)
    if cfg.get("moe_layer_start_index") is not None:  # ERNIE 4.5: experts from this block on, every `interval`
        start, every = int(cfg["moe_layer_start_index"]), int(cfg.get("moe_layer_interval") or 1)
        end = cfg.get("moe_layer_end_index")
        last = layers - 1 if end is None or int(end) < 0 else int(end)
        return sum(1 for i in range(start, min(last, layers - 1) + 1) if (i - start) % every == 0)
    if cfg.get("interleave_moe_layer_step"):
        step = int(cfg["interleave_moe_layer_step"])
        return len(range(step - 1, layers, step))
    only = set(cfg.get("mlp_only_layers") or [])
    step = int(cfg.get("decoder_sparse_step") or 1)
    return sum(1 for i in range(layers) if i not in only and (i + 1) % step == 0)


def _norms(lay: Layout, cfg: dict[str, Any], dims: dict[str, int]) -> int:
    total = _ev(lay.norms, dims)
    for key, expr in lay.norms_if:
        on = not cfg.get(key[1:], True) if key.startswith("!") else bool(cfg.get(key, False))
        total += _ev(expr, dims) if on else 0
    return total


def _bias(spec: bool | str, cfg: dict[str, Any]) -> bool:
    return spec if isinstance(spec, bool) else bool(cfg.get(spec, False))


def _generic_family(cfg: dict[str, Any], arch: str, experts: int) -> ArchFamily:
    cls = arch.replace("ForCausalLM", "DecoderLayer") if arch.endswith("ForCausalLM") else None
    if experts > 1:
        shared = fam_table.gated_mlp(False, "si") if _get(cfg, "n_shared_experts", "shared_expert_intermediate_size",
                                                           "moe_num_shared_experts") else ()
        return ArchFamily(Layout(LLAMA.attn, ()), cls or "", moe=MoE(shared=shared))
    return ArchFamily(LLAMA, cls or "")


def _read_config_file(path: Path) -> dict[str, Any]:
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ModelFactsError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from exc
    except OSError as exc:
        raise ModelFactsError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if not isinstance(cfg, dict):
        raise ModelFactsError(f"{path} is not a JSON object — is it a model's config.json?")
    return cfg


def _prequantized_note(quant: dict[str, Any]) -> str:
    """What a `quantization_config` in config.json means for training."""
    method = str(quant.get("quant_method"))
    bits = quant.get("bits") or (4 if quant.get("load_in_4bit") else 8 if quant.get("load_in_8bit") else None)
    what = f"{method}" + (f", {bits}-bit" if bits else "")
    if method == "bitsandbytes" and bits == 4:
        how = "train it with qlora (LoRA on the 4-bit weights); full fine-tuning is not possible"
    elif method == "mxfp4":
        how = ("transformers loads it dequantized to 16-bit (as the gpt-oss fine-tuning recipe does), so LoRA needs "
               "the 16-bit model's memory; QLoRA's bitsandbytes cannot re-quantize it")
    else:
        how = ("LoRA can train adapters on them when the matching kernels are installed; full fine-tuning is "
               "not possible — for the best results start from the original 16-bit model")
    return f"the weights are pre-quantized ({what}): {how}"


def facts_from_config(cfg: dict[str, Any], name: str = "", source: str = "") -> ModelFacts:
    """Build ModelFacts from a Hugging Face `config.json` dictionary (pure, fast, no subprocess)."""
    where = source.split(": ", 1)[-1] if source else "config.json"
    no = refusal(cfg)
    if no:
        raise ModelFactsError(no)
    cfg = _with_class_defaults(_text_config(cfg))
    towers = [k.removesuffix("_config") for k in ("vision_config", "audio_config") if cfg.get(k)]
    if towers and "_towers" not in cfg:  # a flat multimodal config (older Qwen2-VL exports)
        cfg = {**cfg, "_towers": towers, "_wrapper": cfg.get("model_type")}
    no = refusal(cfg)
    if no:
        raise ModelFactsError(no)
    archs = cfg.get("architectures") or []
    model_type = str(cfg.get("model_type") or "").lower()
    arch = str(archs[0] if archs else model_type or "?")
    if not model_type and arch.endswith("ForCausalLM"):  # older exports without model_type: LlamaForCausalLM → llama
        model_type = arch.removesuffix("ForCausalLM").lower()
    if _get(cfg, "hidden_size", "n_embd", "d_model", "n_embed", "dim") is None:
        raise ModelFactsError(f"{where}: no hidden size (hidden_size, n_embd or d_model) — is it a model's config.json?")
    if _get(cfg, "num_attention_heads", "n_head", "n_heads", "num_heads") is None and (
            model_type in _STATE_SPACE or _get(cfg, "state_size", "ssm_cfg", "d_state") is not None):
        raise ModelFactsError(f"{where}: {model_type or arch} is a state-space model (no attention heads); ftwizard "
                              "sizes and plans transformer decoders only — pick a transformer model")
    for what, keys in _SIZE_KEYS[1:]:
        if _get(cfg, *keys) is None:
            raise ModelFactsError(f"{where}: no {what} ({' or '.join(keys[:2])}) — is it a model's config.json?")
    for what, keys in _SIZE_KEYS:
        value = _get(cfg, *keys)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit() or int(value) < 1:
            key = next(k for k in keys if cfg.get(k) is not None)
            raise ModelFactsError(f"{where}: {key} is {value!r}; the {what} must be a whole number ≥ 1")
    dims = dims_from_config(cfg, model_type)
    layers = int(_get(cfg, "num_hidden_layers", "n_layer", "num_layers", "n_layers"))
    experts, topk = dims["E"], int(_get(cfg, "num_experts_per_tok", "experts_per_token", "moe_topk", "moe_k",
                                        default=1) or 1)
    notes: list[str] = []
    fam = fam_table.family(model_type)
    family_name = (fam.style if fam else "") or model_type
    if fam is not None and fam.moe is None and experts > 1:
        fam = None  # an MoE variant of a dense family: count it generically
    if fam is None:
        fam = _generic_family(cfg, arch, experts)
        family_name = "generic"
        notes.append(f"'{model_type or arch}' is not in ftwizard's family table: estimated from the standard config "
                     "fields as a Llama-style block (q/k/v/o + gated MLP)")
    if model_type == "deepseek_v3" or model_type == "deepseek_v2":
        if not dims["qr"]:
            fam = replace(fam, layout=fam_table.MLA_NO_QLORA)
    lay = fam.layout
    tied = bool(cfg.get("tie_word_embeddings", fam.tied))

    linears = [Linear(s.name, _ev(s.inp, dims), _ev(s.out, dims), _bias(s.bias, cfg), s.part) for s in lay.attn]
    extra = _ev(lay.final, dims)
    inter = dims["i"]
    gated = lay.gated
    if fam.moe is not None and experts > 1:
        moe = fam.moe
        n_moe = _moe_layer_count(cfg, layers)
        n_dense = layers - n_moe
        h, ei = dims["h"], dims["ei"]
        linears += [Linear("experts.gate_up_proj", h, 2 * ei, moe.expert_bias, "expert", experts, n_moe),
                    Linear("experts.down_proj", ei, h, moe.expert_bias, "expert", experts, n_moe)]
        linears += [Linear(s.name, _ev(s.inp, dims), _ev(s.out, dims), _bias(s.bias, cfg), s.part, 1, n_moe)
                    for s in moe.shared]
        if n_dense:
            dense = lay.mlp or fam_table.gated_mlp(False, moe.dense_mlp_inter)
            linears += [Linear(s.name, _ev(s.inp, dims), _ev(s.out, dims), _bias(s.bias, cfg), s.part, 1, n_dense)
                        for s in dense]
        extra += n_moe * _ev(moe.router, dims)
        inter, gated = ei, True
    else:
        experts = topk = 1
        linears += [Linear(s.name, _ev(s.inp, dims), _ev(s.out, dims), _bias(s.bias, cfg), s.part) for s in lay.mlp]
    notes.extend(fam.notes)
    if cfg.get("_towers"):
        tower_text = " and ".join(f"{t} tower" for t in cfg["_towers"])
        tower = int(cfg.get("_tower_params") or 0)
        size = f" (~{tower / 1e9:.2f}B parameters, counted in the weights)" if tower else ""
        notes.append(f"'{cfg['_wrapper']}' is multimodal: the layers shown are its language model's; the {tower_text}"
                     f"{size} is loaded too, and LoRA targets by name (all-linear, q_proj …) reach it too")
    quant = cfg.get("quantization_config")
    prequantized = None
    if isinstance(quant, dict) and quant.get("quant_method"):
        notes.append(_prequantized_note(quant))
        prequantized = str(quant["quant_method"]).lower()

    all_linear = [n for n in dict.fromkeys(lin.name for lin in linears) if
                  all(x.part not in ("expert", "router") for x in linears if x.name == n)]
    target_sets = {
        "all-linear": tuple(all_linear),
        "attention": tuple(dict.fromkeys(lin.name for lin in linears if lin.part == "attn")),
        "minimal": tuple(n for n in lay.minimal if n in all_linear) or tuple(all_linear[:1]),
    }
    max_pos = _get(cfg, "max_position_embeddings", "n_positions", "max_seq_len", "seq_length")
    # falcon with two LayerNorms per block (40B/180B, or parallel_attn off) runs attention and MLP in sequence
    parallel = lay.parallel and not (model_type == "falcon" and _norms(lay, cfg, dims) > _ev(lay.norms, dims))
    return ModelFacts(
        name=name or str(cfg.get("_name_or_path") or arch),
        model_type=model_type, family=family_name, architecture=arch, layers=layers, hidden_size=dims["h"],
        intermediate_size=inter, heads=dims["nh"], kv_heads=dims["kvh"], head_dim=dims["hd"], vocab_size=dims["V"],
        tied_embeddings=tied, max_positions=int(max_pos) if max_pos else None, gated_mlp=gated,
        norm_params_per_layer=_norms(lay, cfg, dims), extra_params=extra, source=source,
        tower_params=int(cfg.get("_tower_params") or 0) if cfg.get("_towers") else 0, prequantized=prequantized,
        parallel_block=parallel,
        upcasts_logits=fam.upcasts_logits,
        num_experts=experts, experts_per_token=topk, linears=tuple(linears),
        layer_class=fam.layer_class or None, notes=tuple(notes), target_sets=target_sets,
    )


def with_exact_count(facts: ModelFacts, meta: dict[str, Any]) -> ModelFacts:
    """Apply a meta-device count (see `meta.exact_count`): the exact total, and for a family ftwizard does
    not know, the real linear layers of its decoder blocks (names, shapes, in how many blocks) and the layer class."""
    if not meta or "total_params" not in meta:
        return facts
    out = facts
    block = meta.get("block_linears") or []
    if facts.family == "generic" and block:
        # the real nn.Linear layers of the blocks, each in as many blocks as it is (hybrid and dense/MoE stacks); a
        # mixture's 3-D expert weights are not nn.Linear: the formula's experts stay (memory, active parameters)
        lins = tuple(Linear(b["name"], int(b["in"]), int(b["out"]), bool(b["bias"]), b["part"], 1,
                            int(b["layers"]) if b.get("layers") else None) for b in block)
        lins += tuple(lin for lin in facts.linears if lin.part == "expert")
        names = list(dict.fromkeys(lin.name for lin in lins if lin.part not in ("router", "expert")))
        attn = tuple(dict.fromkeys(lin.name for lin in lins if lin.part == "attn"))
        sets = {"all-linear": tuple(names), "attention": attn or tuple(names),
                "minimal": tuple(n for n in ("q_proj", "v_proj") if n in names) or (attn or tuple(names))[:1]}
        out = replace(out, linears=lins, target_sets=sets)
    if meta.get("tied") is not None:
        out = replace(out, tied_embeddings=bool(meta["tied"]))
    out = replace(out, layer_class=meta.get("layer_class") or out.layer_class)
    diff = int(meta["total_params"]) - out.language_param_count  # the counter builds the language model alone
    notes = [n for n in out.notes if "not in ftwizard's family table" not in n]
    if facts.family == "generic":
        notes.insert(0, f"'{facts.model_type}' is not in ftwizard's family table: layers and count read from the "
                        "model built on the meta device")
    return replace(out, extra_params=out.extra_params + diff, count_source="meta-device", notes=tuple(notes))


# ---- finding a model ------------------------------------------------------------------------------------
def _hf_cache_dirs() -> list[Path]:
    roots = []
    if os.environ.get("HF_HUB_CACHE"):
        roots.append(Path(os.environ["HF_HUB_CACHE"]))
    hf_home = Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface"))
    roots.append(hf_home / "hub")
    return roots


def find_cached_config(hub_id: str, revision: str | None = None) -> Path | None:
    """`config.json` of a Hub id in the local HF cache, at the commit `refs/<revision or main>` points to;
    a cache with one snapshot and no refs (copied caches) uses that snapshot. No network access."""
    if "/" not in hub_id or hub_id.count("/") > 1:
        return None
    from huggingface_hub import try_to_load_from_cache

    for root in _hf_cache_dirs():
        try:
            hit = try_to_load_from_cache(hub_id, "config.json", cache_dir=str(root), revision=revision)
        except ValueError:  # not a valid repo id
            return None
        if isinstance(hit, str):
            return Path(hit)
        snaps = root / ("models--" + hub_id.replace("/", "--")) / "snapshots"
        if revision is None and not (snaps.parent / "refs").is_dir() and snaps.is_dir():
            found = [p for p in snaps.glob("*/config.json")]
            if len(found) == 1:
                return found[0]
    return None


def _has_chat_template(model_dir: Path) -> bool:
    if (model_dir / "chat_template.jinja").exists() or (model_dir / "chat_template.json").exists():
        return True
    tok_cfg = model_dir / "tokenizer_config.json"
    if tok_cfg.exists():
        try:
            return bool(json.loads(tok_cfg.read_text(encoding="utf-8")).get("chat_template"))
        except (OSError, ValueError):
            return False
    return False


@cache
def preset_facts(key: str) -> ModelFacts:
    """ModelFacts of a preset in presets/models.yaml (see `catalog` for the list)."""
    entry = preset_entries()[key]
    facts = facts_from_config(entry["config"], name=entry["hub_id"], source=f"preset: {key}")
    return replace(facts, has_chat_template=entry.get("chat_template"))


NOT_CAUSAL_NOTE = ("transformers cannot load '{}' as a causal LM (AutoModelForCausalLM), so ftwizard cannot train it: "
                   "pick the text model it is built on, or a model that loads that way")


def loads_as_causal_lm(cfg: dict[str, Any]) -> bool | None:
    """Whether AutoModelForCausalLM takes a multimodal wrapper's config (Gemma 3 and Llama 4 do; Mistral 3 and
    Qwen2.5-VL do not), from transformers' own table; None when that cannot be told (remote code, no transformers).
    Asks a subprocess once per model type (seconds, then cached), for configs with a vision or audio tower only: a
    text model's config says None (not asked)."""
    model_type = str(cfg.get("model_type") or "")
    towers = any(isinstance(cfg.get(k), dict) for k in ("vision_config", "audio_config"))
    if not towers or not model_type or cfg.get("auto_map"):
        return None
    from ftwizard.core.plan.meta import type_info  # a subprocess, cached: core does not import transformers

    causal = type_info(model_type).get("causal_lm")
    return causal if isinstance(causal, bool) else None


def _facts_from_file(cfg_path: Path, name: str, source: str, exact: bool | None) -> ModelFacts:
    cfg = _read_config_file(cfg_path)
    facts = facts_from_config(cfg, name=name, source=source)
    if loads_as_causal_lm(cfg) is False:
        facts = replace(facts, notes=(NOT_CAUSAL_NOTE.format(cfg.get("model_type")), *facts.notes))
    elif exact or (exact is None and facts.family == "generic"):
        from ftwizard.core.plan.meta import count_error, exact_count

        facts = with_exact_count(facts, exact_count(cfg))
        why = count_error(cfg) if facts.count_source != "meta-device" else None
        if why and "cannot build this as a causal LM" in why and not cfg.get("auto_map"):
            facts = replace(facts, notes=(NOT_CAUSAL_NOTE.format(facts.model_type), *facts.notes))
    return replace(facts, has_chat_template=_has_chat_template(cfg_path.parent))


def _not_a_model_folder(path: Path) -> str:
    """Why a local file or folder is not a model ftwizard can read, in one line."""
    adapter = path / "adapter_config.json" if path.is_dir() else path
    if adapter.name == "adapter_config.json" and adapter.is_file():
        base = ""
        try:
            base = str(json.loads(adapter.read_text(encoding="utf-8")).get("base_model_name_or_path") or "")
        except (OSError, ValueError):
            pass
        return (f"{path} is a PEFT adapter, not a model: pass its base model"
                + (f" ({base})" if base else "") + "; to start from this adapter, set init_from to it in the run "
                "config")
    if path.is_file() and path.suffix.lower() == ".gguf":
        return (f"{path} is a GGUF file (llama.cpp/Ollama, for inference): ftwizard trains Hugging Face models; "
                "pass the original model's folder or Hub id")
    if path.is_file():
        return f"{path} is a file, not a model folder: pass the folder that holds config.json"
    return f"{path} has no config.json — is it a Hugging Face model folder?"


def _looks_like_path(model: str) -> bool:
    return model.startswith((".", "/", "~")) or "\\" in model or model.count("/") > 1


def load_model_facts(model: str, allow_download: bool = False, exact: bool | None = None,
                     on_progress: Callable[[str], None] | None = None) -> ModelFacts:
    """Resolve `model` as a local folder (or config.json), a `.gguf` file (converted once, cached: core/plan/gguf.py),
    a preset name, or a Hub id in the local cache.

    exact: build the model on the meta device (subprocess, cached) for the exact count; None = only for
    architectures not in the families table. on_progress: one line per stage of a GGUF conversion."""
    path = Path(model).expanduser()
    if path.is_file() and path.suffix.lower() == ".gguf":
        from ftwizard.core.plan.gguf import GGUFError, convert

        try:
            folder = convert(path, on_progress)
        except GGUFError as exc:
            raise ModelFactsError(str(exc)) from None
        facts = _facts_from_file(folder / "config.json", str(path), f"GGUF: {path} (converted: {folder})", exact)
        return replace(facts, notes=(f"a GGUF file, converted once to a Hugging Face checkpoint in {folder}; "
                                     "training uses that folder", *facts.notes))
    if path.is_file() and path.suffix == ".json" and path.name != "adapter_config.json":
        return _facts_from_file(path, path.stem, f"local: {path}", exact)
    if path.is_dir() or path.is_file():
        cfg_path = path / "config.json"
        if not cfg_path.is_file():
            raise ModelFactsError(_not_a_model_folder(path))
        return _facts_from_file(cfg_path, str(path), f"local: {cfg_path}", exact)
    if path.suffix.lower() == ".gguf":
        raise ModelFactsError(f"{model}: no such file — check the path of the .gguf file")
    if _looks_like_path(model):
        raise ModelFactsError(f"{model}: no such folder — check the path (a model folder holds config.json), "
                              "or give a preset name (`ftwizard models`) or a Hub id like org/name")
    key = find_entry(model)
    if key is not None and matched_by_alias(model, key) and find_cached_config(model) is not None:
        key = None  # another variant of a preset, in the local cache: its own config wins
    if key is not None:
        facts = preset_facts(key)
        if matched_by_alias(model, key):  # same sizes; the chat template may differ (base vs Instruct)
            facts = replace(facts, has_chat_template=None, notes=(
                f"'{model}' is sized from the preset {key} ({facts.name}), the same architecture; whether it has a "
                "chat template is not known offline", *facts.notes))
        return facts
    cached = find_cached_config(model)
    if cached is not None:
        return _facts_from_file(cached, model, f"HF cache: {cached}", exact)
    if allow_download:
        from ftwizard.core.plan.hub import HubError, fetch_config

        try:
            cfg_file, status = fetch_config(model)
        except HubError as exc:
            raise ModelFactsError(str(exc)) from exc
        facts = _facts_from_file(cfg_file, model, f"Hub: {model}", exact)
        return replace(facts, notes=(status.summary(), *facts.notes))
    raise ModelFactsError(
        f"'{model}' is not a local folder, a preset, or a model in the local Hugging Face cache "
        f"(looked in {', '.join(str(r) for r in _hf_cache_dirs())}). Download it first "
        f"(`hf download {model}`), allow the download (--allow-download), or pass a folder with config.json "
        "or a preset name (see `ftwizard models`)."
    )
