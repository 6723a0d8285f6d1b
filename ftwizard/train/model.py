"""Load the tokenizer and the model for a run (precision, 4-bit for QLoRA) and build its PEFT config."""

from __future__ import annotations

from typing import Any

from ftwizard.core.run.config import RunConfig


def precision(cfg: RunConfig, torch: Any) -> str:
    """The precision the run uses: the config's, or for `auto` bf16 where the GPU has it, else fp16; fp32 on the CPU."""
    if cfg.precision != "auto":
        return cfg.precision
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "fp32"


def load_tokenizer(cfg: RunConfig) -> Any:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(cfg.model, trust_remote_code=cfg.trust_remote_code)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_model(cfg: RunConfig, prec: str, torch: Any) -> Any:
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
    return AutoModelForCausalLM.from_pretrained(cfg.model, **load_kw)


def peft_config(cfg: RunConfig) -> Any:
    """The PEFT config for an adapter method (None for a full fine-tune)."""
    if not cfg.is_adapter:
        return None
    from peft import LoraConfig

    return LoraConfig(r=cfg.rank, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout, target_modules=cfg.target_modules,
                      use_dora=cfg.method == "dora", task_type="CAUSAL_LM", bias="none")
