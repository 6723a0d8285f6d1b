"""Chat templates and loss masking that work for any tokenizer.

Three cases, decided once per run and announced as events (so a person can read what the loss is computed on):
- the template marks assistant turns (`{% generation %}`), or TRL knows how to patch it (Llama-3, Qwen, Gemma, Phi …
  via `get_training_chat_template`) → **assistant-only loss** on conversations;
- it cannot mark them (an unknown template without markers) → ftwizard marks **every assistant turn** itself by
  rendering the conversation turn by turn (`ftwizard/train/turn_mask.py`) and gives TRL pre-tokenized rows
  (`input_ids` + `assistant_masks`): every answer and tool call is trained, system/user/tool turns are masked;
- there is no template at all (base models) → the run's `chat_template` setting: `chatml` (the default) is added with
  generation markers and saved with the result. Its markers are written as plain text and each answer ends with the
  tokenizer's own EOS token, so no token is added, no embedding is resized and nothing untrained reaches the model.
Plain-text data (continued pre-training) needs no template and trains on every token.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

# ChatML, with the assistant turn inside generation markers; {{ eos_token }} makes generation stop with no new token.
CHATML = (
    "{% for m in messages %}"
    "{% if m['role'] == 'assistant' %}"
    "<|im_start|>assistant\n{% generation %}{{ m['content'] }}<|im_end|>{{ eos_token }}{% endgeneration %}\n"
    "{% else %}"
    "<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
BUILTIN = {"chatml": CHATML}


@dataclass
class TemplatePlan:
    """What the run does with the chat template, and what the loss is computed on."""

    source: str  # "model" | "trl-patched" | "chatml" | a file path | "none"
    mode: str  # "assistant_only" | "completion_only" | "full_text"
    message: str  # one line for the events and the app

    def to_event(self) -> dict[str, Any]:
        return {"type": "note", "kind": "chat_template", "source": self.source, "loss_on": self.mode,
                "message": self.message}


def has_markers(template: Any) -> bool:
    from trl.chat_template_utils import has_generation_markers

    return bool(template) and has_generation_markers(template)


def resolve_template(setting: str) -> tuple[str, str]:
    """(template text, source name) for the config's `chat_template` value (not `auto`)."""
    if setting in BUILTIN:
        return BUILTIN[setting], setting
    path = Path(setting).expanduser()
    if path.is_file():
        return path.read_text(encoding="utf-8"), str(path)
    raise ValueError(f"chat_template: {setting!r} is neither a built-in template ({', '.join(BUILTIN)}) nor a file")


def ensure_template(tok: Any, setting: str, conversational: bool) -> str | None:
    """Give the tokenizer a chat template when the data needs one. Returns the source name when one was set."""
    current = getattr(tok, "chat_template", None)
    if setting not in ("auto", "") and setting != "model":
        tok.chat_template, source = resolve_template(setting)
        return source
    if current or not conversational:
        return None
    tok.chat_template = CHATML
    return "chatml"


def training_template(tok: Any) -> str | None:
    """A TRL-patched training template with markers for a known family, or None when TRL cannot patch it."""
    from trl.chat_template_utils import get_training_chat_template

    try:
        return get_training_chat_template(tok)
    except ValueError:
        return None


def last_turn_as_completion(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """A conversation → conversational prompt/completion: the last assistant turn is the completion (for callers
    that want one answer per row; SFT trains every turn, see `turn_mask`)."""
    last = max((i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=None)
    if last is None:
        return {"prompt": messages, "completion": []}
    return {"prompt": messages[:last], "completion": [messages[last]]}


def plan_sft(tok: Any, columns: list[str], want_assistant_only: bool, added: str | None = None,
             first_row: dict[str, Any] | None = None) -> tuple[TemplatePlan, bool]:
    """Decide the loss mode for SFT once `ensure_template` ran (`added`: the template it set, if any).
    Returns the plan and whether ftwizard marks the assistant turns itself (`turn_mask`: the template has no
    markers and TRL cannot patch it). `first_row` only feeds the message (how many turns it trains)."""
    conversational = "messages" in columns or "prompt" in columns
    src = added or ("model" if getattr(tok, "chat_template", None) else "none")
    if "text" in columns and not conversational:
        return TemplatePlan("none", "full_text", "Plain text: the loss is computed on every token."), False
    if "prompt" in columns and "completion" in columns:
        return TemplatePlan(src, "completion_only", "Prompt/completion data: the loss is computed on the completion "
                                                    "only (the prompt is masked)."), False
    if not want_assistant_only:
        return TemplatePlan(src, "full_text", "assistant_only_loss is off: the loss is computed on the whole "
                                              "conversation."), False
    if has_tool_fields(columns, first_row):  # TRL would render them from Arrow rows: ftwizard renders them itself
        return TemplatePlan(src, "assistant_only",
                            "Tool calls in the data: ftwizard renders each conversation itself with the chat "
                            "template (tool calls and tool schemas as the template writes them) and marks each "
                            "assistant turn; the loss is computed on every assistant answer and tool call, each with "
                            "its end-of-turn token (a tool call the template does not write is not trained)."), True
    if has_turn_weights(first_row):  # TRL trains every assistant turn: ftwizard honours weight 0 itself
        return TemplatePlan(src, "assistant_only",
                            "Turn weights in the data: ftwizard marks each assistant turn itself; turns with weight 0 "
                            "are context only, every other assistant answer and tool call is trained."), True
    if has_markers(tok.chat_template):
        how = {"chatml": "No chat template in the model: ChatML was added (markers as plain text, answers end with "
                         "the model's EOS) and is saved with the result."}.get(src, "The chat template marks "
                                                                                "assistant turns.")
        return TemplatePlan(src, "assistant_only", how + " The loss is computed on the assistant's answers only."), False
    if training_template(tok) is not None:
        return TemplatePlan("trl-patched", "assistant_only",
                            "TRL patches this model's chat template with assistant markers for training; the loss "
                            "is computed on the assistant's answers only."), False
    msgs = (first_row or {}).get("messages") or []
    turns = sum(1 for m in msgs if isinstance(m, dict) and m.get("role") == "assistant")
    example = f" ({turns} turn{'s' if turns != 1 else ''} in the example row)" if first_row is not None else ""
    return TemplatePlan(src, "assistant_only",
                        "The chat template has no assistant markers: ftwizard marks each assistant turn by rendering "
                        "the conversation turn by turn; the loss is computed on every assistant answer and tool call, "
                        f"each with its end-of-turn token{example}."), True


def has_tool_fields(columns: list[str], first_row: dict[str, Any] | None) -> bool:
    """The split has tool schemas or tool calls (Arrow gives every message of a split the same keys, so the first
    row shows whether any row has `tool_calls`)."""
    msgs = (first_row or {}).get("messages") or []
    return "tools" in columns or any(isinstance(m, dict) and "tool_calls" in m for m in msgs)


def has_turn_weights(first_row: dict[str, Any] | None) -> bool:
    """Messages carry a `weight` (OpenAI's per-turn key; LLaMA-Factory's loss_weight is read into it)."""
    msgs = (first_row or {}).get("messages") or []
    return any(isinstance(m, dict) and "weight" in m for m in msgs)


def describe_loss_tokens(trainer: Any, tok: Any, max_chars: int = 300) -> dict[str, Any] | None:
    """Decode which tokens of the first training row carry loss (labels ≠ -100), for the events and the tests."""
    ds = getattr(trainer, "train_dataset", None)
    if ds is None or len(ds) == 0 or "input_ids" not in ds.column_names:
        return None
    batch = trainer.data_collator([ds[0]])
    ids = batch["input_ids"][0].tolist()
    labels = batch.get("labels")
    if labels is None:
        return None
    lab = labels[0].tolist()
    trained = [t for t, lb in zip(ids, lab, strict=False) if lb != -100]
    masked = [t for t, lb in zip(ids, lab, strict=False) if lb == -100]
    return {"type": "note", "kind": "loss_tokens", "trained_ids": trained, "masked_ids": masked,
            "trained_text": tok.decode(trained)[:max_chars], "masked_text": tok.decode(masked)[:max_chars],
            "message": f"Example row: {len(trained)} of {len(ids)} tokens carry loss."}


def check_rows_left(ctx: Any, trainer: Any) -> None:
    """TRL drops rows with no trained token left after truncation to `max_length` (their first answer starts after
    it). Say how many were dropped; with none left, stop here with the fix instead of failing later inside the data
    loader."""
    before, after = len(ctx.train_dataset), len(trainer.train_dataset)
    n = ctx.cfg.max_seq_length
    if after == 0:
        raise ValueError(f"dataset error: no training rows left: in every row the prompt (with the chat template) "
                         f"fills max_seq_length ({n} tokens), so no answer token remains — raise max_seq_length")
    if after < before:
        ctx.emit({"type": "warning", "kind": "rows_dropped",
                  "message": f"{before - after} of {before} training rows were dropped: their (first) answer starts "
                             f"after max_seq_length ({n} tokens), so no answer token is left to learn from.",
                  "fix": "Raise max_seq_length (the chat template adds tokens to every row), or shorten the prompts."})

