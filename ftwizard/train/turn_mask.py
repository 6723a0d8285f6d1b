"""Which tokens of a row carry loss — one source for the SFT trainer and for `ftwizard data FILE --show-mask N`.

TRL builds assistant masks only from chat templates with `{% generation %}` markers (or ones it knows how to patch).
For any other template ftwizard marks the turns itself, the way LLaMA-Factory and Unsloth's `train_on_responses_only`
do: it renders the conversation prefix by prefix with the template, and for every assistant turn i the text between
`render(messages[:i], add_generation_prompt=True)` and `render(messages[:i+1])` — found inside the rendering of the
whole conversation — is that turn's answer, ending with its end-of-turn token (e.g. `<|im_end|>`) so the model learns
to stop. Tool calls are assistant turns and are trained; system, user and tool-result turns, and the template's
headers, are not. Characters map to tokens through the tokenizer's offsets: a token that overlaps a trained span is
trained (the rule transformers uses for its own assistant masks).

Some templates render a prefix differently from the same messages inside the whole conversation (an earlier turn's
reasoning dropped, a thought block added to the generation prompt). Then a boundary falls back to the longest common
prefix, and an answer's end to where its own text is found in the whole rendering; each fallback is recorded in
`TurnMask.fallbacks` so the trainer can say so.

The trainer gives TRL the result as a pre-tokenized dataset (`input_ids` + `assistant_masks`): TRL then skips its own
tokenization, turns the masks into labels (-100 where the mask is 0), truncates to `max_length` and drops rows with no
trained token left (which `templates.check_rows_left` counts and reports).

Nothing heavy is imported here: the tokenizer is passed in (and `datasets` is imported only to build a dataset).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

ASSISTANT = "assistant"
TOOL_CALL = "tool call"
TOOL_RESULT_ROLES = frozenset({"tool", "function", "ipython", "observation"})
TRAINED_ROLES = frozenset({ASSISTANT, TOOL_CALL})


@dataclass
class Segment:
    """A span of the rendered text: one message's part (or the template's own text), trained or not."""

    start: int
    end: int
    role: str  # system | user | assistant | tool call | tool | template (or the message's own role)
    trained: bool
    turn: int  # index of the message, -1 for template text outside any message


@dataclass
class TurnMask:
    """A tokenized row and which of its tokens carry loss."""

    text: str  # the row as rendered (chat template applied)
    input_ids: list[int]
    assistant_masks: list[int]  # 1: the token carries loss
    token_roles: list[str]
    token_turns: list[int]  # message index of each token (-1: template text)
    segments: list[Segment]
    offsets: list[tuple[int, int]] | None = None  # character span of each token in `text` (fast tokenizers)
    fallbacks: list[str] = field(default_factory=list)  # turns whose boundaries needed a fallback, in words
    how: str = "turns"  # turns (marked by ftwizard) | markers (TRL) | completion | full_text

    @property
    def trained_turns(self) -> int:
        """How many messages have at least one trained token."""
        return len({t for t, m in zip(self.token_turns, self.assistant_masks, strict=True) if m})

    def counts(self) -> dict[str, Counter[str]]:
        """Tokens per role: {"trained": Counter, "masked": Counter}."""
        out: dict[str, Counter[str]] = {"trained": Counter(), "masked": Counter()}
        for role, m in zip(self.token_roles, self.assistant_masks, strict=True):
            out["trained" if m else "masked"][role] += 1
        return out

    def cut(self, max_length: int | None, keep_end: bool = False) -> dict[str, int]:
        """What truncation to `max_length` tokens removes (TRL's `truncation_mode`: keep_start unless `keep_end`):
        trained tokens cut, trained turns that lose tokens, trained turns lost entirely, trained tokens left."""
        n = len(self.input_ids)
        if not max_length or n <= max_length:
            kept = range(n)
        else:
            kept = range(n - max_length, n) if keep_end else range(max_length)
        keep = set(kept)
        turns_all: Counter[int] = Counter()
        turns_kept: Counter[int] = Counter()
        for i, (t, m) in enumerate(zip(self.token_turns, self.assistant_masks, strict=True)):
            if m:
                turns_all[t] += 1
                if i in keep:
                    turns_kept[t] += 1
        left = sum(turns_kept.values())
        return {"tokens_cut": sum(turns_all.values()) - left, "trained_left": left,
                "turns_cut": sum(1 for t, c in turns_all.items() if turns_kept[t] < c),
                "turns_lost": sum(1 for t in turns_all if turns_kept[t] == 0)}


# ---- rendering ----------------------------------------------------------------------------------------------
def render(tok: Any, messages: list[dict[str, Any]], tools: Any = None, add_generation_prompt: bool = False,
           **template_kwargs: Any) -> str:
    """The messages as the chat template writes them (no tokenization)."""
    return tok.apply_chat_template(messages, tools=tools, tokenize=False, add_generation_prompt=add_generation_prompt,
                                   **template_kwargs)


def _try_render(tok: Any, messages: list[dict[str, Any]], tools: Any, gen: bool, kw: dict[str, Any]) -> str | None:
    if not messages:
        return None
    try:
        return render(tok, messages, tools, add_generation_prompt=gen, **kw)
    except Exception:  # noqa: BLE001 - a template that refuses a prefix (e.g. "must end with a user turn")
        return None


def role_label(messages: list[dict[str, Any]], i: int) -> str:
    """How a message is counted: an assistant turn with `tool_calls`, or followed by a tool result (ShareGPT's
    function_call → observation), is a "tool call"; function/observation/ipython results count as "tool"."""
    role = str(messages[i].get("role") or "")
    if role == ASSISTANT:
        nxt = messages[i + 1].get("role") if i + 1 < len(messages) else None
        return TOOL_CALL if messages[i].get("tool_calls") or nxt in TOOL_RESULT_ROLES else ASSISTANT
    return "tool" if role in TOOL_RESULT_ROLES else role


def _content(m: dict[str, Any]) -> str:
    c = m.get("content")
    if isinstance(c, list):  # content parts: the text ones
        c = "".join(str(p.get("text") or "") for p in c if isinstance(p, dict))
    return str(c or "").strip()


def _writes_turn(m: dict[str, Any], span: str) -> bool:
    """Whether the template wrote anything of an assistant turn: its text, or — for a turn with no text — one of its
    tool calls or its reasoning. A template that drops tool calls or reasoning leaves only the end-of-turn token,
    and training that would teach the model to answer with nothing."""
    if _content(m):
        return True
    names = [str((c.get("function") or c).get("name") or "") for c in m.get("tool_calls") or [] if isinstance(c, dict)]
    reasoning = str(m.get("reasoning_content") or "").strip()
    return any(n and n in span for n in names) or bool(reasoning and reasoning[:40] in span)


def turn_segments(tok: Any, messages: list[dict[str, Any]], tools: Any = None, **template_kwargs: Any
                  ) -> tuple[str, list[Segment], list[str]]:
    """(the whole rendering, its segments in order, fallbacks used): every message's span, and inside each assistant
    message the trained answer (with its end-of-turn token, trailing whitespace left out)."""
    full = render(tok, messages, tools, **template_kwargs)
    segments: list[Segment] = []
    fallbacks: list[str] = []
    cursor, n = 0, len(messages)
    for i, m in enumerate(messages):
        label = role_label(messages, i)
        prefix = None if i == n - 1 else _try_render(tok, messages[:i + 1], tools, False, template_kwargs)
        exact = i == n - 1 or (prefix is not None and full.startswith(prefix))
        if i == n - 1:
            end = len(full)
        else:
            end = len(prefix) if exact else len(os.path.commonprefix([prefix or "", full]))  # type: ignore[arg-type]
        end = max(end, cursor)
        if m.get("role") != ASSISTANT:
            segments.append(Segment(cursor, end, label, False, i))
            cursor = end
            continue
        content = _content(m)
        gen = _try_render(tok, messages[:i], tools, True, template_kwargs)
        if gen is not None and full.startswith(gen) and len(gen) >= cursor:
            start = len(gen)
        else:
            common = len(os.path.commonprefix([gen, full])) if gen is not None else -1
            found = full.find(content, cursor) if content else -1
            start = common if common >= cursor else (found if found >= cursor else cursor)
            fallbacks.append(f"turn {i + 1} ({label}): the generation prompt renders differently alone; the answer "
                             "starts where the two renderings part")
        if not exact:
            found = full.find(content, start) if content else -1
            if found >= 0:
                stop = found + len(content)
                tail = prefix[prefix.rindex(content) + len(content):] if prefix and content in prefix else ""
                stop += len(os.path.commonprefix([tail, full[stop:]]))
                end = max(end, stop)
                how = "its own text was found, and the turn's closing text after it"
            else:
                how = "it ends where the two renderings part"
            fallbacks.append(f"turn {i + 1} ({label}): the conversation up to this turn renders differently alone; "
                             + how)
        answer_end = start + len(full[start:end].rstrip()) if end > start else start
        if start > cursor:
            segments.append(Segment(cursor, start, label, False, i))
        if answer_end > start:  # weight 0 (OpenAI's key; LLaMA-Factory's loss_weight 0): shown, not trained
            trained = m.get("weight") != 0 and _writes_turn(m, full[start:answer_end])
            segments.append(Segment(start, answer_end, label, trained, i))
        if end > answer_end:
            segments.append(Segment(answer_end, end, label, False, i))
        cursor = max(end, start)
    if cursor < len(full):
        segments.append(Segment(cursor, len(full), "template", False, -1))
    return full, segments, fallbacks


# ---- tokens -------------------------------------------------------------------------------------------------
def _tokens(tok: Any, text: str, segments: list[Segment], special: bool
            ) -> tuple[list[int], list[tuple[int, int]] | None, list[tuple[int, int]]]:
    """(ids, offsets for display or None, character span of each token for the mask)."""
    if getattr(tok, "is_fast", False):
        enc = tok(text, add_special_tokens=special, return_offsets_mapping=True)
        offs = [(int(a), int(b)) for a, b in enc["offset_mapping"]]
        return list(enc["input_ids"]), offs, offs
    ids: list[int] = []  # a slow tokenizer has no offsets: tokenize segment by segment (exact by construction)
    spans: list[tuple[int, int]] = []
    for k, s in enumerate(segments):
        part = tok(text[s.start:s.end], add_special_tokens=special and k == 0)["input_ids"] if s.end > s.start else []
        ids += part
        spans += [(s.start, s.end)] * len(part)
    return ids, None, spans


def _overlaps(span: tuple[int, int], seg: Segment) -> bool:
    s, e = span
    return (e > seg.start and s < seg.end) if e > s else seg.start <= s < seg.end


def build_mask(tok: Any, text: str, segments: list[Segment], fallbacks: list[str] | None = None,
               how: str = "turns", special: bool = False) -> TurnMask:
    """Tokenize `text` (`special`: with the tokenizer's BOS/EOS, as TRL tokenizes plain strings) and give each
    token its segment's role; a token is trained where it overlaps a trained segment."""
    segs = [s for s in segments if s.end > s.start] or [Segment(0, len(text), "template", False, -1)]
    ids, offsets, spans = _tokens(tok, text, segs, special)
    roles: list[str] = []
    turns: list[int] = []
    bits: list[int] = []
    j = 0
    for s, e in spans:
        while j < len(segs) - 1 and segs[j].end <= s:
            j += 1
        owner, k = segs[j], j
        while k < len(segs) and segs[k].start < max(e, s + 1):
            if segs[k].trained and _overlaps((s, e), segs[k]):
                owner = segs[k]
                break
            k += 1
        roles.append(owner.role)
        turns.append(owner.turn)
        bits.append(1 if owner.trained and _overlaps((s, e), owner) else 0)
    return TurnMask(text, ids, bits, roles, turns, segments, offsets, list(fallbacks or []), how)


def mask_conversation(tok: Any, messages: list[dict[str, Any]], tools: Any = None, **template_kwargs: Any
                      ) -> TurnMask:
    """Every assistant turn of a conversation trained, with any chat template (the trainer's function)."""
    text, segments, fallbacks = turn_segments(tok, messages, tools, **template_kwargs)
    return build_mask(tok, text, segments, fallbacks)


def _tools(row: dict[str, Any]) -> Any:
    tools = row.get("tools")
    return json.loads(tools) if isinstance(tools, str) else tools  # as TRL reads the column


def plain_message(m: dict[str, Any]) -> dict[str, Any]:
    """A message as the user wrote it: the keys Arrow filled with nulls (other rows had them) dropped, `tool_calls`
    read back from JSON text (`train/data.py:arrow_safe`)."""
    out = {k: v for k, v in m.items() if v is not None}
    if isinstance(out.get("tool_calls"), str):
        out["tool_calls"] = json.loads(out["tool_calls"])
    return out


_WRITES_CALLS: dict[tuple[int, str], bool] = {}


def writes_tool_calls(tok: Any) -> bool:
    """Whether the tokenizer's chat template writes `tool_calls` (probed once per tokenizer and template)."""
    key = (id(tok), str(getattr(tok, "chat_template", None)))
    if key not in _WRITES_CALLS:
        from ftwizard.train.tokcount import renders

        _WRITES_CALLS[key] = renders(tok)["tool_calls"]
    return _WRITES_CALLS[key]


def calls_as_text(m: dict[str, Any]) -> dict[str, Any]:
    """An assistant turn's tool calls written into its text, one JSON object per call ({"name", "arguments"}), for a
    chat template that has no tool-call syntax: the call is then trained as the answer it is."""
    calls = [c.get("function") or c for c in m.get("tool_calls") or [] if isinstance(c, dict)]
    text = "\n".join(json.dumps({"name": c.get("name"), "arguments": c.get("arguments", {})}, ensure_ascii=False)
                     for c in calls)
    content = str(m.get("content") or "").strip()
    out = {k: v for k, v in m.items() if k != "tool_calls"}
    out["content"] = f"{content}\n{text}" if content else text
    return out


def mask_row(tok: Any, row: dict[str, Any]) -> TurnMask:
    """`mask_conversation` for a TRL conversational row ({"messages", "tools"?, "chat_template_kwargs"?}). Tool calls
    a template cannot write are written into the turn's text (`calls_as_text`) so that they are still trained."""
    msgs = [plain_message(m) if isinstance(m, dict) else m for m in row["messages"]]
    if any(isinstance(m, dict) and m.get("tool_calls") for m in msgs) and not writes_tool_calls(tok):
        msgs = [calls_as_text(m) if isinstance(m, dict) and m.get("tool_calls") else m for m in msgs]
    return mask_conversation(tok, msgs, _tools(row), **(row.get("chat_template_kwargs") or {}))


# ---- the trainer's datasets ---------------------------------------------------------------------------------
@dataclass
class TurnStats:
    """What marking the turns of a split found, for the run's events."""

    rows: int = 0
    turns: int = 0  # trained turns before truncation
    rows_fallback: int = 0
    first_fallback: str = ""
    rows_cut: int = 0  # rows where truncation removes some (not all) trained tokens
    turns_cut: int = 0
    rows_emptied: int = 0  # rows with no trained token left after truncation (TRL drops them)
    rows_untrained: int = 0  # rows with no assistant token at all (TRL drops them too)


def tokenize_split(ds: Any, tok: Any, max_length: int | None, keep_end: bool = False) -> tuple[Any, TurnStats]:
    """A conversational split → a pre-tokenized one (`input_ids`, `assistant_masks`) for TRL's SFTTrainer."""
    from datasets import Dataset

    ids: list[list[int]] = []
    masks: list[list[int]] = []
    st = TurnStats()
    for row in ds:
        tm = mask_row(tok, row)
        ids.append(tm.input_ids)
        masks.append(tm.assistant_masks)
        st.rows += 1
        st.turns += tm.trained_turns
        if tm.fallbacks:
            st.rows_fallback += 1
            st.first_fallback = st.first_fallback or tm.fallbacks[0]
        if not any(tm.assistant_masks):
            st.rows_untrained += 1
            continue
        c = tm.cut(max_length, keep_end)
        if c["trained_left"] == 0:
            st.rows_emptied += 1
        elif c["tokens_cut"]:
            st.rows_cut += 1
            st.turns_cut += c["turns_cut"]
    return Dataset.from_dict({"input_ids": ids, "assistant_masks": masks}), st


def tokenize_datasets(datasets: Any, tok: Any, max_length: int | None, keep_end: bool = False,
                      splits: tuple[str, ...] = ("train", "validation")) -> tuple[Any, TurnStats]:
    """`tokenize_split` on the splits the trainer reads (others are kept as they are); the train split's stats."""
    from datasets import DatasetDict

    out, train_stats = {}, TurnStats()
    for name, ds in datasets.items():
        if name in splits:
            out[name], st = tokenize_split(ds, tok, max_length, keep_end)
            if name == "train":
                train_stats = st
        else:
            out[name] = ds
    return DatasetDict(out), train_stats


def stats_events(st: TurnStats, max_length: int | None) -> list[dict[str, Any]]:
    """Events for what marking the turns found: fallbacks and answers cut by `max_length` (rows left with no
    trained token are reported by `templates.check_rows_left`, which sees TRL drop them)."""
    evs: list[dict[str, Any]] = []
    if st.rows_fallback:
        evs.append({"type": "note", "kind": "turn_mask_fallback",
                    "message": f"{st.rows_fallback} of {st.rows} training rows: the chat template renders a turn "
                               f"differently alone than inside the conversation, so ftwizard placed its boundary "
                               f"another way — e.g. {st.first_fallback}. Check one with `ftwizard data FILE "
                               f"--tokenizer MODEL --show-mask N`."})
    if st.rows_cut:
        evs.append({"type": "warning", "kind": "answers_cut",
                    "message": f"{st.rows_cut} of {st.rows} training rows lose part of their trained answers to "
                               f"max_seq_length ({max_length} tokens): {st.turns_cut} assistant turns are cut or "
                               "left out.",
                    "fix": "Raise max_seq_length, or split long conversations into shorter ones."})
    if st.rows_untrained:
        evs.append({"type": "warning", "kind": "rows_without_answer",
                    "message": f"{st.rows_untrained} of {st.rows} training rows have no assistant turn to learn "
                               "from; they are left out."})
    return evs


# ---- any row, as the trainer would mask it (for display) ----------------------------------------------------
def example_mask(tok: Any, row: dict[str, Any], assistant_only_loss: bool = True, added: str | None = None
                 ) -> tuple[Any, TurnMask]:
    """(the SFT template plan, the row's mask) the way an SFT run masks it: `mask_row` when ftwizard marks the turns
    (the same function the trainer uses), TRL's generation-marker mask for marked or TRL-patched templates, the
    completion for prompt/completion rows, every token for plain text. `tok` has had `ensure_template`."""
    from ftwizard.train.templates import plan_sft, training_template

    plan, per_turn = plan_sft(tok, list(row), assistant_only_loss, added, first_row=row)
    if per_turn:
        return plan, mask_row(tok, row)
    if "messages" in row:
        msgs, tools = row["messages"], _tools(row)
        kw = dict(row.get("chat_template_kwargs") or {})
        if plan.mode != "assistant_only":  # assistant_only_loss off: every token
            return plan, _all_trained(mask_row(tok, row), "full_text")
        if plan.source == "trl-patched":
            kw["chat_template"] = training_template(tok)
        enc = tok.apply_chat_template(msgs, tools=tools, tokenize=True, return_dict=True,
                                      return_assistant_tokens_mask=True, **kw)
        tm = build_mask(tok, *turn_segments(tok, msgs, tools, **kw), how="markers")
        tm.assistant_masks = list(enc["assistant_masks"])
        return plan, tm
    if "prompt" in row and "completion" in row:
        return plan, _completion_mask(tok, row)
    text = str(row.get("text") or "")
    if tok.eos_token and not text.endswith(tok.eos_token):
        text += tok.eos_token  # TRL adds it to plain-text rows
    return plan, build_mask(tok, text, [Segment(0, len(text), "text", True, 0)], how="full_text", special=True)


def _all_trained(tm: TurnMask, how: str) -> TurnMask:
    tm.assistant_masks, tm.how = [1] * len(tm.input_ids), how
    return tm


def _completion_mask(tok: Any, row: dict[str, Any]) -> TurnMask:
    """A prompt/completion row as TRL masks it: the completion starts where the prompt's rendering and the whole
    row's part (`common_prefix_length`)."""
    prompt, completion = row["prompt"], row["completion"]
    if isinstance(prompt, list):
        tm = build_mask(tok, *turn_segments(tok, prompt + list(completion), _tools(row)), how="completion")
        p_ids = tok(render(tok, prompt, _tools(row), add_generation_prompt=True), add_special_tokens=False)["input_ids"]
    else:
        completion = str(completion)
        if tok.eos_token and not completion.endswith(tok.eos_token):
            completion += tok.eos_token  # TRL adds it to standard rows
        text, p = str(prompt) + completion, len(str(prompt))
        segs = [Segment(0, p, "prompt", False, 0), Segment(p, len(text), "completion", True, 1)]
        tm = build_mask(tok, text, segs, how="completion", special=True)
        p_ids = tok(str(prompt))["input_ids"]
    k = len(os.path.commonprefix([p_ids, tm.input_ids]))
    tm.assistant_masks = [0] * k + [1] * (len(tm.input_ids) - k)
    return tm
