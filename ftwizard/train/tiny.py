"""A tiny model and tokenizer made on the spot (nothing downloaded), and a checkable task.

Used by the offline demo and the tests: a character-level tokenizer with a chat template that marks
assistant turns ({% generation %}), a 4-layer Llama built from a config, and date-format conversion
(YYYY-MM-DD → DD/MM/YYYY) whose answers can be checked exactly.
"""

from __future__ import annotations

import json
import random
from datetime import date, timedelta
from pathlib import Path

CHAT_TEMPLATE = (
    "{% for m in messages %}"
    "{% if m['role'] == 'system' %}<s>{{ m['content'] }}\n"
    "{% elif m['role'] == 'user' %}<u>{{ m['content'] }}\n"
    "{% elif m['role'] == 'assistant' %}<a>{% generation %}{{ m['content'] }}<eos>{% endgeneration %}"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<a>{% endif %}"
)
SPECIALS = ["<pad>", "<unk>", "<eos>", "<s>", "<u>", "<a>"]
CHARS = list("0123456789-/: \nabcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.,?!'\"()")
EXTRA_CHARS = list("<>|_#*")  # for the template variants (ChatML markers written as text)
# A ChatML template without generation markers, as most real chat models ship (the tiny variant "chatml")
CHATML_NO_MARKERS = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
TEMPLATES = ("marked", "chatml", "none")


def build_tokenizer(out_dir: str | Path, template: str = "marked"):  # noqa: ANN201
    """`template`: "marked" (assistant turns in {% generation %}), "chatml" (ChatML special tokens, no markers, like
    most real chat models) or "none" (a base model: no chat template)."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    if template not in TEMPLATES:
        raise ValueError(f"template must be one of {TEMPLATES}")
    specials = SPECIALS + (["<|im_start|>", "<|im_end|>"] if template == "chatml" else [])
    vocab = {t: i for i, t in enumerate(specials + CHARS + (EXTRA_CHARS if template != "marked" else []))}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("[\\s\\S]"), behavior="isolated")
    tok.decoder = decoders.Fuse()
    tok.add_special_tokens(specials)
    eos = "<|im_end|>" if template == "chatml" else "<eos>"
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>", eos_token=eos,
                                   bos_token=None)
    fast.chat_template = {"marked": CHAT_TEMPLATE, "chatml": CHATML_NO_MARKERS, "none": None}[template]
    fast.save_pretrained(str(out_dir))
    return fast


def build_model(out_dir: str | Path, vocab_size: int, layers: int = 4, hidden: int = 128, seed: int = 0,  # noqa: ANN201
                eos_token_id: int = 2):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=vocab_size, hidden_size=hidden, intermediate_size=hidden * 2,
                      num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=4,
                      max_position_embeddings=128, pad_token_id=0, eos_token_id=eos_token_id, bos_token_id=None,
                      tie_word_embeddings=True)
    model = LlamaForCausalLM(cfg)
    model.generation_config.pad_token_id = 0
    model.generation_config.eos_token_id = eos_token_id
    model.save_pretrained(str(out_dir))
    return model


def build_tiny(out_dir: str | Path, layers: int = 4, hidden: int = 128, template: str = "marked") -> Path:
    """Tokenizer + random-init model in `out_dir`; returns the folder."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer(out, template)
    build_model(out, len(tok), layers, hidden, eos_token_id=tok.eos_token_id)
    return out


def date_examples(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    start = date(1950, 1, 1)
    out = []
    for _ in range(n):
        d = start + timedelta(days=rng.randrange(0, 365 * 100))
        out.append({"messages": [{"role": "user", "content": d.isoformat()},
                                 {"role": "assistant", "content": d.strftime("%d/%m/%Y")}]})
    return out


def write_jsonl(rows: list[dict], path: str | Path) -> Path:
    p = Path(path)
    p.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return p
