"""Exact parameter count of a causal LM, built from its config on the meta device (no weights, no memory).

    python -m ftwizard.train.meta_count CONFIG [CONFIG ...]
    python -m ftwizard.train.meta_count --type MODEL_TYPE   # {"defaults": config class defaults, "causal_lm": bool}

CONFIG is a model folder (with config.json) or a config.json file. Prints one JSON object per line:
{"config": CONFIG, "model_type", "total_params", "linear_names" (suffixes of the real nn.Linear/Conv1D
modules, in order), "expert_params" (3-D expert weights PEFT reaches with `target_parameters`),
"layer_class" (the decoder-layer class for FSDP auto-wrap), "transformers"} or {"config", "error"}.
Multimodal wrappers are counted on their language model (`text_config`), as ftwizard does.
trust_remote_code stays off: a model transformers does not know is an error, not a download.

The app never imports this: `ftwizard.core.plan.meta` runs it in a subprocess and caches the result.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def _config_dict(path: str) -> dict[str, Any]:
    p = Path(path)
    if p.is_dir():
        p = p / "config.json"
    cfg = json.loads(p.read_text(encoding="utf-8"))
    if not isinstance(cfg, dict):
        raise ValueError(f"{p} is not a JSON object")
    return cfg


def count(cfg_dict: dict[str, Any]) -> dict[str, Any]:
    """Build the model on the meta device and describe it."""
    import torch
    import transformers
    from transformers import AutoConfig, AutoModelForCausalLM

    raw = {k: v for k, v in cfg_dict.items() if not k.startswith("_")}
    if isinstance(raw.get("text_config"), dict) and "hidden_size" not in raw:
        text = dict(raw["text_config"])
        text.setdefault("tie_word_embeddings", raw.get("tie_word_embeddings", text.get("tie_word_embeddings")))
        if text.get("tie_word_embeddings") is None:
            text.pop("tie_word_embeddings")
        raw = text
    model_type = raw.pop("model_type")
    raw.pop("auto_map", None)
    raw.pop("quantization_config", None)  # counted in 16-bit; quantized checkpoints need their libraries
    cfg = AutoConfig.for_model(model_type, **raw)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(cfg, trust_remote_code=False)
    total = sum(p.numel() for p in model.parameters())
    linear_names: list[str] = []
    expert_params: list[str] = []
    head = model.get_output_embeddings()
    for name, mod in model.named_modules():
        kind = type(mod).__name__
        if (isinstance(mod, torch.nn.Linear) or kind == "Conv1D") and mod is not head:
            suffix = name.split(".")[-1]
            if suffix not in linear_names:
                linear_names.append(suffix)
        for pname, p in mod.named_parameters(recurse=False):
            if p.dim() == 3:
                full = f"{name.split('.')[-1]}.{pname}"
                if full not in expert_params:
                    expert_params.append(full)
    layer_cls = list(getattr(model, "_no_split_modules", None) or [])
    block = _block_linears(model, layer_cls[0] if layer_cls else None)
    return {"model_type": model_type, "total_params": int(total), "linear_names": linear_names,
            "expert_params": expert_params, "layer_class": layer_cls[0] if layer_cls else None,
            "block_linears": block,
            "tied": bool(head is not None and head.weight is model.get_input_embeddings().weight),
            "transformers": transformers.__version__}


def _block_linears(model: Any, layer_class: str | None) -> list[dict[str, Any]]:
    """The linear layers of the decoder blocks: name, shape, bias, part (attn | mlp | router) and in how many blocks
    each one is (`layers`): a hybrid model (Mamba blocks with a few attention blocks, Granite 4.0-H, Jamba) or one
    with dense and MoE blocks has different layers in different blocks."""
    import torch

    blocks = [m for m in model.modules() if type(m).__name__ == layer_class] if layer_class else []
    seen: dict[tuple[str, int, int, bool], dict[str, Any]] = {}
    for block in blocks:
        for name, mod in block.named_modules():
            kind = type(mod).__name__
            if not (isinstance(mod, torch.nn.Linear) or kind == "Conv1D"):
                continue
            w = mod.weight
            fin, fout = (w.shape[1], w.shape[0]) if isinstance(mod, torch.nn.Linear) else (w.shape[0], w.shape[1])
            key = (name, int(fin), int(fout), mod.bias is not None)
            if key in seen:
                seen[key]["layers"] += 1
                continue
            low = name.lower()
            part = ("router" if "router" in low or low.endswith(".gate") or low == "gate"
                    else "attn" if "attn" in low or "attention" in low else "mlp")
            seen[key] = {"name": name.split(".")[-1], "path": name, "in": int(fin), "out": int(fout),
                         "bias": mod.bias is not None, "part": part, "layers": 1}
    return list(seen.values())


def type_info(model_type: str) -> dict[str, Any]:
    """What transformers knows of a model type without a config: its config class's defaults (scalars) and whether
    AutoModelForCausalLM builds it (Gemma 3 and Llama 4 yes; Mistral 3 and Qwen2.5-VL no)."""
    from transformers import CONFIG_MAPPING
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    out: dict[str, Any] = {"model_type": model_type, "causal_lm": model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES}
    try:
        defaults = CONFIG_MAPPING[model_type]().to_dict()
    except Exception:  # noqa: BLE001 - an unknown type, or a class that needs arguments
        defaults = {}
    out["defaults"] = {k: v for k, v in defaults.items()
                       if isinstance(v, int | float | str | bool) and not k.startswith("_")}
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print("usage: python -m ftwizard.train.meta_count CONFIG [CONFIG ...] | --type MODEL_TYPE", file=sys.stderr)
        return 2
    import transformers

    transformers.logging.set_verbosity_error()
    if args[0] == "--type":
        print(json.dumps(type_info(args[1] if len(args) > 1 else "")), flush=True)
        return 0
    rc = 0
    for path in args:
        try:
            out = {"config": path, **count(_config_dict(path))}
        except Exception as exc:  # one bad config must not hide the others' counts
            msg = f"{type(exc).__name__}: {exc}".splitlines()[0]
            if "Unrecognized model identifier" in msg or "Unrecognized configuration class" in msg:
                msg = f"transformers {transformers.__version__} cannot build this as a causal LM ({msg[:120]}…)"
            out = {"config": path, "error": msg[:300]}
            rc = 1
        print(json.dumps(out), flush=True)
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
