"""Model facts from a `config.json` (no weights loaded): sizes, parameter count, LoRA target modules.

The parameter count is computed from the list of linear layers each architecture family has, plus
embeddings and norms, so the same description also gives LoRA's trainable-parameter count and the
per-module shapes the memory estimator needs.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# model_type → family. Families share a layer layout.
_FAMILY = {
    "llama": "llama", "mistral": "llama", "mixtral": "llama", "qwen2": "llama", "qwen3": "llama",
    "gemma": "llama", "gemma2": "llama", "gemma3_text": "llama", "smollm3": "llama", "olmo2": "llama",
    "granite": "llama", "cohere": "llama", "starcoder2": "llama", "internlm2": "llama",
    "phi3": "phi3", "phi": "phi", "gpt_neox": "gpt_neox", "stablelm_alpha": "gpt_neox",
    "gpt2": "gpt2", "falcon": "falcon", "qwen": "qwen1",
}

TARGETS_ALL = {
    "llama": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "phi3": ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"],
    "phi": ["q_proj", "k_proj", "v_proj", "dense", "fc1", "fc2"],
    "gpt_neox": ["query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"],
    "falcon": ["query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"],
    "gpt2": ["c_attn", "c_proj", "c_fc"],
    "qwen1": ["c_attn", "c_proj", "w1", "w2"],
}
TARGETS_MINIMAL = {
    "llama": ["q_proj", "v_proj"],
    "phi3": ["qkv_proj"],
    "phi": ["q_proj", "v_proj"],
    "gpt_neox": ["query_key_value"],
    "falcon": ["query_key_value"],
    "gpt2": ["c_attn"],
    "qwen1": ["c_attn"],
}


class ModelFactsError(ValueError):
    """The model could not be found or its config is not understood."""


@dataclass(frozen=True)
class Linear:
    """One linear layer inside a transformer block (repeated `layers` times)."""

    name: str
    in_features: int
    out_features: int
    bias: bool = False
    part: str = "attn"  # attn | mlp

    @property
    def params(self) -> int:
        return self.in_features * self.out_features + (self.out_features if self.bias else 0)


@dataclass(frozen=True)
class ModelFacts:
    name: str
    model_type: str
    family: str
    architecture: str
    layers: int
    hidden_size: int
    intermediate_size: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab_size: int
    tied_embeddings: bool
    max_positions: int | None
    gated_mlp: bool
    norm_params_per_layer: int
    parallel_block: bool = False  # attention and MLP read the same normed input (phi, falcon)
    upcasts_logits: bool = True  # transformers' loss upcasts logits to fp32; some remote code does not
    extra_params: int = 0  # position embeddings, final norm, lm_head bias …
    has_chat_template: bool | None = None
    source: str = ""
    num_experts: int = 1
    experts_per_token: int = 1
    linears: tuple[Linear, ...] = field(default=(), repr=False)

    # ---- derived -------------------------------------------------------------------------------
    @property
    def embedding_params(self) -> int:
        return self.vocab_size * self.hidden_size

    @property
    def lm_head_params(self) -> int:
        return 0 if self.tied_embeddings else self.vocab_size * self.hidden_size

    @property
    def block_linear_params(self) -> int:
        """Parameters in the blocks' linear layers (what 4-bit quantization compresses)."""
        return self.layers * sum(lin.params for lin in self.linears)

    @property
    def param_count(self) -> int:
        return (
            self.embedding_params
            + self.lm_head_params
            + self.block_linear_params
            + self.layers * self.norm_params_per_layer
            + self.extra_params
        )

    @property
    def params_b(self) -> float:
        return self.param_count / 1e9

    def module_names(self) -> list[str]:
        seen: list[str] = []
        for lin in self.linears:
            if lin.name not in seen:
                seen.append(lin.name)
        return seen

    def resolve_targets(self, targets: str | list[str] | None) -> list[str]:
        """'minimal' | 'all-linear' | 'attention' | explicit names → the module names PEFT should wrap."""
        if targets is None or targets == "all-linear":
            return TARGETS_ALL[self.family]
        if targets == "minimal":
            return TARGETS_MINIMAL[self.family]
        if targets == "attention":
            return [lin.name for lin in self.linears if lin.part == "attn"]
        names = [t.strip() for t in targets.split(",")] if isinstance(targets, str) else list(targets)
        names = [n for n in names if n]
        known = set(self.module_names()) | {"lm_head"}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ModelFactsError(
                f"unknown target module(s) {', '.join(unknown)} for {self.architecture}; "
                f"this model has: {', '.join(self.module_names())}"
            )
        return names

    def targeted_linears(self, targets: list[str]) -> list[Linear]:
        return [lin for lin in self.linears if lin.name in targets]

    def lora_params(self, rank: int, targets: list[str], dora: bool = False) -> int:
        per_layer = sum(rank * (lin.in_features + lin.out_features) for lin in self.targeted_linears(targets))
        if dora:  # one magnitude vector per wrapped module
            per_layer += sum(lin.out_features for lin in self.targeted_linears(targets))
        head = 0
        if "lm_head" in targets:
            head = rank * (self.hidden_size + self.vocab_size) + (self.vocab_size if dora else 0)
        return self.layers * per_layer + head

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("linears")
        d["param_count"] = self.param_count
        d["params_b"] = round(self.params_b, 3)
        d["target_modules_all_linear"] = TARGETS_ALL[self.family]
        d["target_modules_minimal"] = TARGETS_MINIMAL[self.family]
        return d


def _get(cfg: dict[str, Any], *names: str, default: Any = None) -> Any:
    for n in names:
        if n in cfg and cfg[n] is not None:
            return cfg[n]
    return default


def facts_from_config(cfg: dict[str, Any], name: str = "", source: str = "") -> ModelFacts:
    """Build ModelFacts from a Hugging Face `config.json` dictionary."""
    if "text_config" in cfg and "hidden_size" not in cfg:  # multimodal wrappers: use the language model
        cfg = {**cfg["text_config"], "architectures": cfg.get("architectures")}
    model_type = str(cfg.get("model_type", "")).lower()
    family = _FAMILY.get(model_type)
    if family is None:
        raise ModelFactsError(
            f"architecture '{model_type or '?'}' is not known to ftwizard yet "
            f"(known: {', '.join(sorted(_FAMILY))})"
        )
    arch = (cfg.get("architectures") or [model_type])[0]
    h = int(_get(cfg, "hidden_size", "n_embd", "d_model"))
    layers = int(_get(cfg, "num_hidden_layers", "n_layer", "num_layers"))
    heads = int(_get(cfg, "num_attention_heads", "n_head"))
    vocab = int(_get(cfg, "vocab_size", "padded_vocab_size"))
    head_dim = int(_get(cfg, "head_dim", default=h // heads))
    kv = int(_get(cfg, "num_key_value_heads", "num_kv_heads", default=heads))
    tied = bool(cfg.get("tie_word_embeddings", family in ("gpt2",)))
    max_pos = _get(cfg, "max_position_embeddings", "n_positions", "seq_length")
    inter = _get(cfg, "intermediate_size", "n_inner", "ffn_hidden_size")
    extra = 0
    parallel = False
    upcast = True
    q_out = heads * head_dim
    kv_out = kv * head_dim
    L = Linear
    experts = int(_get(cfg, "num_local_experts", "num_experts", default=1) or 1)
    topk = int(_get(cfg, "num_experts_per_tok", default=1) or 1)

    if family == "llama":
        inter = int(inter)
        bias = bool(cfg.get("attention_bias", model_type == "qwen2"))
        linears = [
            L("q_proj", h, q_out, bias), L("k_proj", h, kv_out, bias), L("v_proj", h, kv_out, bias),
            L("o_proj", q_out, h, bool(cfg.get("attention_bias", False)) and model_type != "qwen2"),
        ]
        mlp = [L("gate_proj", h, inter, part="mlp"), L("up_proj", h, inter, part="mlp"),
               L("down_proj", inter, h, part="mlp")]
        linears += mlp * experts
        norms = 2 * h + (2 * h if model_type in ("gemma2", "gemma3_text") else 0)
        norms += 2 * head_dim if model_type in ("qwen3", "gemma3_text") else 0
        if experts > 1:
            extra += layers * h * experts  # router
        extra += h  # final norm
        gated = True
    elif family == "phi3":
        inter = int(inter)
        linears = [L("qkv_proj", h, q_out + 2 * kv_out), L("o_proj", q_out, h),
                   L("gate_up_proj", h, 2 * inter, part="mlp"), L("down_proj", inter, h, part="mlp")]
        norms, extra, gated = 2 * h, h, True
    elif family == "phi":
        inter = int(inter)
        linears = [L("q_proj", h, q_out, True), L("k_proj", h, kv_out, True), L("v_proj", h, kv_out, True),
                   L("dense", q_out, h, True), L("fc1", h, inter, True, "mlp"), L("fc2", inter, h, True, "mlp")]
        norms, extra, gated = 2 * h, 2 * h + vocab, False  # one LayerNorm per block; final LN; lm_head bias
        parallel = True
    elif family == "gpt_neox":
        inter = int(inter or 4 * h)
        linears = [L("query_key_value", h, 3 * h, True), L("dense", h, h, True),
                   L("dense_h_to_4h", h, inter, True, "mlp"), L("dense_4h_to_h", inter, h, True, "mlp")]
        norms, extra, gated = 4 * h, 2 * h, False
        tied = bool(cfg.get("tie_word_embeddings", False))
    elif family == "falcon":
        inter = int(inter or 4 * h)
        if cfg.get("multi_query", False) and not cfg.get("new_decoder_architecture", False):
            kv = 1
        elif cfg.get("new_decoder_architecture", False):
            kv = int(_get(cfg, "num_kv_heads", default=heads))
        kv_out = kv * head_dim
        linears = [L("query_key_value", h, q_out + 2 * kv_out, bool(cfg.get("bias", False))),
                   L("dense", q_out, h, bool(cfg.get("bias", False))),
                   L("dense_h_to_4h", h, inter, bool(cfg.get("bias", False)), "mlp"),
                   L("dense_4h_to_h", inter, h, bool(cfg.get("bias", False)), "mlp")]
        two_ln = cfg.get("new_decoder_architecture", False) or not cfg.get("parallel_attn", True)
        norms, extra, gated = (4 * h if two_ln else 2 * h), 2 * h, False
        parallel = not two_ln
        tied = bool(cfg.get("tie_word_embeddings", True))
    elif family == "gpt2":
        inter = int(inter or 4 * h)
        linears = [L("c_attn", h, 3 * h, True), L("c_proj", h, h, True),
                   L("c_fc", h, inter, True, "mlp"), L("c_proj", inter, h, True, "mlp")]
        norms, gated = 4 * h, False
        extra = int(max_pos or 1024) * h + 2 * h
        tied = bool(cfg.get("tie_word_embeddings", True))
    else:  # qwen1 (QWenLMHeadModel): intermediate_size is w1+w2 together
        half = int(inter) // 2
        inter = half
        linears = [L("c_attn", h, 3 * h, True), L("c_proj", h, h),
                   L("w1", h, half, part="mlp"), L("w2", h, half, part="mlp"), L("c_proj", half, h, part="mlp")]
        norms, extra, gated = 2 * h, h, True
        tied = False
        upcast = False  # Qwen (v1) remote code computes the loss on 16-bit logits

    return ModelFacts(
        name=name or str(cfg.get("_name_or_path") or arch),
        model_type=model_type, family=family, architecture=arch, layers=layers, hidden_size=h,
        intermediate_size=int(inter), heads=heads, kv_heads=kv, head_dim=head_dim, vocab_size=vocab,
        tied_embeddings=tied, max_positions=int(max_pos) if max_pos else None, gated_mlp=gated,
        norm_params_per_layer=norms, extra_params=extra, source=source,
        parallel_block=parallel, upcasts_logits=upcast,
        num_experts=experts, experts_per_token=topk, linears=tuple(linears),
    )


def _hf_cache_dirs() -> list[Path]:
    roots = []
    if os.environ.get("HF_HUB_CACHE"):
        roots.append(Path(os.environ["HF_HUB_CACHE"]))
    hf_home = Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface"))
    roots.append(hf_home / "hub")
    return roots


def find_cached_config(hub_id: str) -> Path | None:
    """Find `config.json` for a Hub id in the local HF cache, without any network access."""
    folder = "models--" + hub_id.replace("/", "--")
    for root in _hf_cache_dirs():
        snaps = root / folder / "snapshots"
        if snaps.is_dir():
            cands = sorted(snaps.glob("*/config.json"), key=lambda p: p.stat().st_mtime, reverse=True)
            if cands:
                return cands[0]
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


def load_model_facts(model: str, allow_download: bool = False) -> ModelFacts:
    """Resolve `model` as a local directory, a preset name, or a Hub id in the local cache."""
    from dataclasses import replace

    path = Path(model).expanduser()
    if path.is_dir():
        cfg_path = path / "config.json"
        if not cfg_path.exists():
            raise ModelFactsError(f"{path} has no config.json — is it a Hugging Face model folder?")
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
        facts = facts_from_config(cfg, name=str(path), source=f"local: {cfg_path}")
        return replace(facts, has_chat_template=_has_chat_template(path))
    from ftwizard.core.plan.catalog import find_preset

    preset = find_preset(model)
    if preset is not None:
        return preset
    cached = find_cached_config(model)
    if cached is not None:
        cfg = json.loads(cached.read_text(encoding="utf-8"))
        facts = facts_from_config(cfg, name=model, source=f"HF cache: {cached}")
        return replace(facts, has_chat_template=_has_chat_template(cached.parent))
    if allow_download:
        try:
            from huggingface_hub import hf_hub_download

            cfg_file = Path(hf_hub_download(model, "config.json"))
        except Exception as exc:  # network, gated repo, typo …
            raise ModelFactsError(f"could not fetch config.json for '{model}': {exc}") from exc
        cfg = json.loads(cfg_file.read_text(encoding="utf-8"))
        return facts_from_config(cfg, name=model, source=f"Hub: {model}")
    raise ModelFactsError(
        f"'{model}' is not a local folder, a preset, or a model in the local Hugging Face cache. "
        "Pass a folder with config.json, a preset name (see `ftwizard models`), or allow a download."
    )
