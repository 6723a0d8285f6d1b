"""The dataset report: validation, counts, token lengths, duplicates, short outputs, balance, PII,
a random sample — and the deterministic, duplicate-free train/validation/test split written with hashes."""

from __future__ import annotations

import hashlib
import json
import random
import re
import statistics
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftwizard.core.data import formats, placeholders
from ftwizard.core.data.formats import media
from ftwizard.core.data.pii import PII_PATTERNS, PiiScan
from ftwizard.core.data.reader import DataProblem, Record, read_records
from ftwizard.core.data.split import (
    DEFAULT_RATIOS,
    SPLITS,
    SplitError,
    assign,
    check_ratios,
    describe_need,
    row_key,
    rows_needed,
    unique_indices,
)
from ftwizard.core.data.tokens import (
    APPROX_METHOD,
    TokenCountError,
    TokenCounts,
    approx_tokens,
    count_with_tokenizer,
)

if TYPE_CHECKING:
    from ftwizard.core.data.hub import HubOptions

__all__ = ["MIN_ROWS", "PII_PATTERNS", "DatasetReport", "analyze", "approx_tokens", "split_and_write"]

# suggested minimum rows per task: the planner's task kinds (core/plan/decision.py TASK_KINDS) and older names
MIN_ROWS = {"identity": 40, "format": 50, "domain": 500, "complex": 1000, "knowledge": 5000,
            "classification": 50, "extraction": 100, "style": 200, "code": 1000}
MAX_ERRORS_LISTED = 200


@dataclass
class DatasetReport:
    path: str
    format: str | None
    family: str | None
    rows: int
    errors: list[DataProblem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    valid: list[Record] = field(default_factory=list, repr=False)
    duplicates_removed: int = 0  # exact duplicates (of the converted row) the split leaves out
    notes: list[str] = field(default_factory=list)  # how it was read and what training will do (not problems)

    @property
    def usable(self) -> bool:
        return not self.errors and self.rows > 0

    @property
    def unique_rows(self) -> int:
        return self.rows - self.duplicates_removed

    def to_dict(self) -> dict[str, Any]:
        errs = [e.to_dict() for e in self.errors[:MAX_ERRORS_LISTED]]
        return {"path": self.path, "format": self.format, "family": self.family, "rows": self.rows,
                "unique_rows": self.unique_rows, "duplicates_removed": self.duplicates_removed,
                "errors": errs, "error_count": len(self.errors), "warnings": self.warnings, "notes": self.notes,
                "stats": self.stats}


def _norm_near(text: str) -> str:
    return re.sub(r"[\W_]+", " ", text.lower()).strip()


def _pctl(sorted_vals: list[int], p: float) -> int:
    if not sorted_vals:
        return 0
    k = min(len(sorted_vals) - 1, max(0, int(round(p / 100 * (len(sorted_vals) - 1)))))
    return sorted_vals[k]


def _validate_all(family: str, records: list[Record], rep: DatasetReport) -> list[Record]:
    valid: list[Record] = []
    for r in records:
        try:
            problems = formats.validate(family, r.data)
        except RecursionError:
            problems = ["a field is nested too deeply to check; a training row needs only a few levels"]
        for msg in problems:
            rep.errors.append(DataProblem(r.file, r.loc, msg, r.loc_kind))
        if not problems:
            valid.append(r)
    rep.errors.sort(key=lambda e: (e.file, e.loc or 0))
    return valid


@dataclass
class _Lengths:
    full: list[int]
    target: list[int]
    prompt: list[int]  # 0 where the prompt is not measured (plain text, whole conversations)
    method: str
    counts: TokenCounts | None = None  # what the tokenizer run found (default system prompt, what it renders)


def _lengths(rows: list[dict[str, Any]], pairs: list[tuple[str, str]], count_tokens: Callable[[str], int] | None,
             tokenizer: str | None, tokenizer_name: str | None, warnings: list[str]) -> _Lengths:
    """Full, answer and prompt lengths with the model's tokenizer when given, else chars/4."""
    if tokenizer:
        try:
            tc = count_with_tokenizer(tokenizer, rows)
            return _Lengths(tc.full, [max(0, f - p) if p else f for f, p in zip(tc.full, tc.prompt, strict=True)],
                            tc.prompt, tc.method, tc)
        except TokenCountError as exc:
            warnings.append(f"token lengths are approximate (characters / 4): {exc}")
    counter = count_tokens or approx_tokens
    full = [counter(f"{p}\n{t}") for p, t in pairs]
    target = [counter(t) if t else 0 for _, t in pairs]
    prompt = [counter(p) if p and "prompt" in r else 0 for r, (p, _) in zip(rows, pairs, strict=True)]
    method = f"tokenizer: {tokenizer_name}" if count_tokens else APPROX_METHOD
    return _Lengths(full, target, prompt, method)


def analyze(
    source: str,
    fmt: str | None = None,
    max_seq: int = 2048,
    count_tokens: Callable[[str], int] | None = None,
    tokenizer_name: str | None = None,
    task: str | None = None,
    allow_download: bool = False,
    sample_size: int = 3,
    seed: int = 0,
    *,
    tokenizer: str | None = None,
    hub: HubOptions | None = None,
    split_ratios: tuple[float, float, float] | None = DEFAULT_RATIOS,
    on_size: Callable[[int | None], None] | None = None,
    dataset: str | None = None,
    fill: dict[str, str] | None = None,
) -> DatasetReport:
    """Read, detect, validate and measure a dataset.

    `tokenizer`: a local tokenizer folder or cached Hub id; lengths are then counted with it and its chat
    template in a subprocess (else ~chars/4, stated in stats.tokens.method). `hub`: subset/split/revision and
    download permission for a Hub dataset id (`on_size(bytes|None)` is called before a download).
    `split_ratios`: rows too few for this train/validation/test split are an error (None: no such check).
    `dataset`: the entry to read when `source` is a LLaMA-Factory dataset_info.json. `fill`: placeholder values
    ({"name": "Wizzy"} replaces {{name}}, <name>, [NAME] in every row).
    """
    res = read_records(source, allow_download=allow_download, hub=hub, on_size=on_size, dataset=dataset)
    filled = _fill(res.records, fill) if fill else 0
    recs = [r.data for r in res.records]
    family = fmt or formats.detect_family(recs)
    if family is not None:
        formats.get_family(family)  # an unknown name is an error listing the known ones
    rep = DatasetReport(path=source, format=None, family=family, rows=0, errors=list(res.problems),
                        warnings=list(res.warnings), notes=list(res.notes))
    if fill:
        rep.notes.append(f"--fill: {filled:,} placeholder(s) replaced ({', '.join(fill)})")
        if not filled:
            rep.warnings.append(f"--fill {', '.join(fill)}: no such placeholder in the data ({{{{name}}}}, <name> or "
                                "[NAME] for name)")
    scan = media.scan([(r.where, r.data) for r in res.records])
    if scan.multimodal:  # refused whole: training on the text alone would silently leave the media out
        rep.errors.append(DataProblem(source, None, scan.refusal()))
        return rep
    if scan.tag_rows:
        rep.warnings.append(scan.tag_warning())
    if family is None:
        if recs:
            keys = sorted({k for r in recs[:20] for k in r})
            rep.errors.append(DataProblem(source, None, "could not recognise the format from the fields "
                                      f"({', '.join(keys)}); expected e.g. instruction/output (Alpaca), "
                                      "messages (OpenAI), conversations (ShareGPT), prompt/completion, "
                                      "prompt/chosen/rejected, text"))
        elif not rep.errors:
            rep.errors.append(DataProblem(source, None, "no records found"))
        return rep
    valid = _validate_all(family, _drop_other_formats(family, res.records, rep), rep)
    rep.valid = valid
    rep.rows = len(valid)
    rep.format = formats.format_name(family, valid[0].data) if valid else family
    rows = formats.to_trl_rows(family, [r.data for r in valid])
    pairs = [formats.row_texts(t) for t in rows]
    measured = _lengths(rows, pairs, count_tokens, tokenizer, tokenizer_name, rep.warnings)
    lengths, target_lens, method = measured.full, measured.target, measured.method

    keys = [row_key(t) for t in rows]
    exact = Counter(keys)
    near: Counter[str] = Counter()
    outputs: Counter[str] = Counter()
    short: list[str] = []
    pii = PiiScan()
    for r, (prompt, target) in zip(valid, pairs, strict=True):
        full = f"{prompt}\n{target}"
        near[hashlib.sha1(_norm_near(full).encode("utf-8", "surrogatepass")).hexdigest()] += 1
        if family != "text" and target:
            outputs[target.strip()[:200]] += 1
            if not re.search(r"\w", target):
                short.append(r.where)
        pii.scan(full, r.where)
    dup_exact = sum(c - 1 for c in exact.values() if c > 1)
    dup_near = sum(c - 1 for c in near.values() if c > 1)
    rep.duplicates_removed = dup_exact
    s_len = sorted(lengths)
    over = sum(1 for x in lengths if x > max_seq)
    stats: dict[str, Any] = {
        "files": res.files,
        "valid_rows": len(valid),
        "unique_rows": len(valid) - dup_exact,
        "invalid_rows": len({(e.file, e.loc) for e in rep.errors if e.loc is not None}),
        "trl": {"type": formats.trl_type(rows[0]) if rows else None,
                "conversational": formats.is_conversational(rows[0]) if rows else None},
        "tokens": {
            "method": method,
            "min": s_len[0] if s_len else 0, "mean": round(statistics.fmean(s_len), 1) if s_len else 0,
            "p50": _pctl(s_len, 50), "p90": _pctl(s_len, 90), "p99": _pctl(s_len, 99),
            "max": s_len[-1] if s_len else 0, "total": sum(s_len), "answer_total": sum(target_lens),
            "over_max_seq": over, "max_seq": max_seq,
            "histogram": _histogram(s_len),
        },
        "duplicates": {"exact": dup_exact, "near": dup_near, "removed_before_split": dup_exact},
        "short_outputs": {"count": len(short), "examples": short[:5]},
        "pii": pii.found,
    }
    if (_labelled(family, rows) and len(valid) >= 20 and outputs
            and len(outputs) <= max(2, min(20, len(valid) // 5))):
        stats["class_balance"] = dict(outputs.most_common())
        top = outputs.most_common(1)[0][1] / len(valid)
        if top > 0.7:
            rep.warnings.append(f"one output is {top:.0%} of the data: the classes are unbalanced")
    rng = random.Random(seed)
    pick = rng.sample(range(len(valid)), min(sample_size, len(valid)))
    stats["sample"] = [{"where": valid[i].where, "record": rows[i]} for i in pick]
    want = MIN_ROWS.get(task or "", formats.get_family(family).min_rows)
    stats["min_rows_suggested"] = want
    unique = len(valid) - dup_exact
    if split_ratios is not None and 0 < unique < rows_needed(check_ratios(split_ratios)):
        dup = f" ({dup_exact} duplicates left out)" if dup_exact else ""
        rep.errors.append(DataProblem(source, None, f"only {unique} usable unique row{'s' if unique != 1 else ''}{dup}: "
                                  f"{describe_need(check_ratios(split_ratios))}; add rows "
                                  f"(about {want:,} are suggested for this kind of data)"))
    elif 0 < len(valid) < want:
        by_task = "" if task else (f" (by task: {MIN_ROWS['format']}+ to change a format or tone, "
                                   f"{MIN_ROWS['domain']}+ for a domain; --task KIND says which)")
        rep.warnings.append(f"{len(valid):,} usable rows; about {want:,}+ is suggested for this kind of data{by_task}")
    if lengths and over == len(lengths):
        i = min(range(len(lengths)), key=lengths.__getitem__)
        r = valid[i]
        rep.errors.append(DataProblem(r.file, r.loc, f"every row is longer than the max sequence length ({max_seq} "
                                  f"tokens; {method}); the shortest, here, has {lengths[i]}: raise the max sequence "
                                  f"length to at least {_pctl(s_len, 90)} (90% of rows fit) or shorten the rows",
                                  r.loc_kind))
    elif over:
        too_long = _too_long(family, lengths, measured.prompt, max_seq)
        stats["too_long"] = too_long
        rep.warnings.append(too_long["message"])
    if dup_exact:
        rep.warnings.append(f"{dup_exact:,} exact duplicate rows: they are left out of the split so no test row "
                            "is also trained on")
    elif dup_near:
        rep.warnings.append(f"{dup_near:,} near-duplicate rows (same text up to case/punctuation)")
    if short:
        rep.warnings.append(f"{len(short):,} rows have an answer with no letters or digits")
    weight0 = sum(1 for t in rows if any(isinstance(m, dict) and m.get("weight") == 0 and m.get("role") == "assistant"
                                         for m in t.get("messages") or ()))
    if weight0:
        rep.notes.append(f"{weight0:,} rows have assistant turns with weight 0 (or loss_weight 0): they are context "
                         "only, not trained (locally and in the OpenAI export)")
    idle = [r.where for r, t in zip(valid, rows, strict=True) if _nothing_trained(t)]
    if idle:
        rep.warnings.append(f"{len(idle):,} row(s) have every answer at weight 0 (e.g. {idle[0]}): nothing in them is "
                            "trained, and the OpenAI export refuses them — give the answers to learn weight 1, or "
                            "remove those rows")
    fractional = sum(1 for r in valid if _fractional_loss_weight(r.data))
    if fractional:
        rep.warnings.append(f"{fractional:,} rows have a loss_weight between 0 and 1 or above 1: ftwizard trains those "
                            "turns at full weight (only loss_weight 0 is honoured, as a turn not trained on)")
    _template_findings(rows, measured.counts, tokenizer, rep, stats)
    ph = placeholders.scan([(r.where, r.data) for r in valid])
    if ph.counts:
        stats["placeholders"] = ph.to_dict()
        rep.warnings.append(ph.warning())
    for kind, v in pii.found.items():
        if v["count"]:
            rep.warnings.append(f"possible PII: {v['count']} {kind.replace('_', ' ')} match(es), "
                                f"e.g. {v['examples'][0]['where']}")
    rep.stats = stats
    return rep


def _fill(records: list[Record], values: dict[str, str]) -> int:
    total = 0
    for r in records:
        r.data, n = placeholders.fill(r.data, values)
        total += n
    return total


def _fractional_loss_weight(rec: dict[str, Any]) -> bool:
    for v in rec.values():
        if isinstance(v, list):
            for m in v:
                lw = m.get("loss_weight") if isinstance(m, dict) else None
                if isinstance(lw, int | float) and not isinstance(lw, bool) and lw not in (0, 1) and lw > 0 \
                        and m.get("role") == "assistant":
                    return True
    return False


_SFT_FAMILIES = ("alpaca", "sharegpt", "openai", "prompt_completion")


def _n(count: int, noun: str) -> str:
    """'1 row is' / '3 rows are'."""
    return f"1 {noun} is" if count == 1 else f"{count:,} {noun}s are"


def _too_long(family: str, lengths: list[int], prompts: list[int], max_seq: int) -> dict[str, Any]:
    """Rows over `max_seq` and what training will do with them, for the family's trainers (nothing silently)."""
    over = sum(1 for x in lengths if x > max_seq)
    fills = sum(1 for p in prompts if p >= max_seq)
    if family == "text":
        action = "chunked"
        msg = (f"{_n(over, 'document')} longer than {max_seq} tokens: continued pre-training packs documents "
               f"and splits the long ones into {max_seq}-token pieces, so nothing is cut (sft without packing would "
               "truncate them)")
    elif family == "preference":
        action = "truncated" + (", dropped" if fills else "")
        msg = (f"{_n(over, 'pair')} longer than {max_seq} tokens: the preference trainers cut the answers' ends at "
               f"{max_seq} tokens" + (f"; in {fills:,} of them the prompt alone fills {max_seq} tokens, so DPO drops "
                                      "them (no answer token left)" if fills else ""))
    elif family == "kto":
        action = "truncated"
        msg = (f"{_n(over, 'row')} longer than {max_seq} tokens: KTO cuts their answers' ends at {max_seq} tokens"
               + (f"; in {fills:,} of them the prompt alone fills {max_seq} tokens, so nothing of the answer is left "
                  "and they teach nothing" if fills else ""))
    elif family in _SFT_FAMILIES:
        action = "truncated" + (", dropped" if fills else "")
        msg = (f"{_n(over, 'row')} longer than {max_seq} tokens: SFT cuts the end at {max_seq} tokens (the end of "
               "the answer is not learned)" + (f"; in {fills:,} of them the prompt alone fills {max_seq} tokens, so "
                                                "SFT drops them" if fills else ""))
    else:
        action = "truncated"
        msg = f"{_n(over, 'row')} longer than {max_seq} tokens and truncated"
    if family != "text":
        msg += " — raise --max-seq or shorten them to keep every token"
    return {"rows": over, "prompt_fills_max_seq": fills, "action": action, "message": msg}


def _no_system(row: dict[str, Any]) -> bool:
    msgs = row.get("messages") if "messages" in row else row.get("prompt")
    if not isinstance(msgs, list) or not msgs:
        return False
    first = msgs[0]
    return isinstance(first, dict) and first.get("role") not in ("system", "developer")


def _messages_of(row: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for k in ("messages", "prompt", "completion", "chosen", "rejected"):
        v = row.get(k)
        if isinstance(v, list):
            out += [m for m in v if isinstance(m, dict)]
    return out


def _template_findings(rows: list[dict[str, Any]], tc: TokenCounts | None, tokenizer: str | None,
                      rep: DatasetReport, stats: dict[str, Any]) -> None:
    """What the model's chat template does to these rows that the rows do not say: a default system prompt it
    adds, reasoning or tool calls it does not write (so they would not be trained on)."""
    reasoning = sum(1 for r in rows if any(m.get("reasoning_content") for m in _messages_of(r)))
    calls = sum(1 for r in rows if any(m.get("tool_calls") for m in _messages_of(r)))
    if tc is None:
        if reasoning:
            rep.notes.append(f"{reasoning:,} rows have reasoning parts, kept as `reasoning_content`: only chat "
                             "templates that write it (Qwen3, DeepSeek-R1 …) train on it — check with --model")
        if calls:
            rep.notes.append(f"{calls:,} rows have tool calls, kept as `tool_calls`: the chat template must write "
                             "them to train on them — check with --model")
        return
    if reasoning and not tc.renders.get("reasoning_content"):
        rep.warnings.append(f"{reasoning:,} rows have reasoning (reasoning_content) that the chat template of "
                            f"{tokenizer} does not write: it would not be trained on — put it in the answer text "
                            "(e.g. <think>…</think>) or use a model whose template writes it")
    if calls and not tc.renders.get("tool_calls"):
        rep.warnings.append(f"{calls:,} rows have tool calls, and the chat template of {tokenizer} has no tool-call "
                            "syntax: ftwizard writes each call into the answer as JSON ({\"name\", \"arguments\"}) "
                            "and trains it — a model whose template supports tools (Qwen2.5/3, Llama 3.1+) learns "
                            "its own tool-call format instead")
    schemas = sum(1 for r in rows if r.get("tools"))
    if schemas and not tc.renders.get("tools", True):
        rep.warnings.append(f"{schemas:,} rows have tool schemas (tools) that the chat template of {tokenizer} does "
                            "not write: the model would not see which tools exist — describe them in a system "
                            "message or use a model whose template supports tools")
    bare = sum(1 for r in rows if _no_system(r))
    if tc.default_system and bare:
        stats["default_system_prompt"] = {"text": tc.default_system, "rows": bare}
        every = "every row" if bare == len(rows) else f"{bare:,} of {len(rows):,} rows"
        rep.warnings.append(f"{every} will carry the model's default system prompt: '{tc.default_system}' (its chat "
                            "template adds it when a conversation has no system message). Add a system message to "
                            "your rows to replace it.")


_LABEL_FAMILIES = ("alpaca", "prompt_completion", "openai", "sharegpt")


def _labelled(family: str, rows: list[dict[str, Any]]) -> bool:
    """Answers that look like class labels: a one-answer SFT family (not preference, KTO, text or prompt-only
    data), no tool calls or tool definitions, and short one-line answers."""
    if family not in _LABEL_FAMILIES:
        return False
    for row in rows[:200]:
        if "tools" in row or any(isinstance(m, dict) and (m.get("tool_calls") or m.get("role") == "tool")
                                 for m in row.get("messages") or ()):
            return False
        target = formats.row_texts(row)[1].strip()
        if "\n" in target or len(target) > 40:
            return False
    return True


def _drop_other_formats(family: str, records: list[Record], rep: DatasetReport) -> list[Record]:
    """A folder with files of another format: one error per such file (its format vs the rest), not one per row;
    its rows are left out of validation."""
    if len({r.file for r in records}) < 2:
        return records
    by_file: dict[str, list[Record]] = {}
    for r in records:
        by_file.setdefault(r.file, []).append(r)
    keep: list[Record] = []
    for name, recs in by_file.items():
        own = formats.detect_family([r.data for r in recs])
        if own is not None and own != family:
            rep.errors.append(DataProblem(name, None, f"{len(recs):,} rows in {own} format, but the rest of the folder "
                                      f"is {family} format: convert this file to {family} or move it out"))
            continue
        keep += recs
    return keep


def _nothing_trained(row: dict[str, Any]) -> bool:
    """A conversation whose every assistant turn is context only (weight 0)."""
    answers = [m for m in row.get("messages") or () if isinstance(m, dict) and m.get("role") == "assistant"]
    return bool(answers) and all(m.get("weight") == 0 for m in answers)


def _histogram(sorted_lens: list[int], bins: int = 10) -> list[dict[str, int]]:
    """At most `bins` equal ranges from the shortest row to the longest; none past the longest (a narrow spread of
    lengths gets fewer, one length wide)."""
    if not sorted_lens:
        return []
    lo, hi = sorted_lens[0], sorted_lens[-1]
    width = max(1, (hi - lo + bins) // bins)
    bins = min(bins, (hi - lo) // width + 1)
    counts = [0] * bins
    for x in sorted_lens:
        counts[min(bins - 1, (x - lo) // width)] += 1
    return [{"from": lo + i * width, "to": min(hi, lo + (i + 1) * width - 1), "count": c}
            for i, c in enumerate(counts)]


# ---- split --------------------------------------------------------------------------------------------------
def make_split(rep: DatasetReport, ratios: tuple[float, float, float] = DEFAULT_RATIOS,
               seed: int = 42) -> tuple[dict[str, list[dict[str, Any]]], int]:
    """({split name: converted rows}, duplicates removed): exact duplicates go first, then a seeded split."""
    if rep.family is None:
        raise SplitError("cannot split a dataset whose format was not recognised")
    r = check_ratios(ratios)
    rows = formats.to_trl_rows(rep.family, [rec.data for rec in rep.valid])
    keep = unique_indices(rows)
    unique = [rows[i] for i in keep]
    if len(unique) < rows_needed(r):
        raise SplitError(f"only {len(unique)} usable unique rows: {describe_need(r)}")
    parts = assign(len(unique), r, seed)
    return {name: [unique[i] for i in parts[name]] for name in SPLITS}, len(rows) - len(unique)


def split_and_write(rep: DatasetReport, out_dir: str | Path, ratios: tuple[float, float, float] = DEFAULT_RATIOS,
                    seed: int = 42) -> dict[str, Any]:
    """Seeded split of the valid rows (exact duplicates removed first), converted to TRL shape, written as
    JSONL with SHA-256 hashes and a split.json manifest."""
    parts, removed = make_split(rep, ratios, seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {"source": rep.path, "format": rep.format, "family": rep.family, "seed": seed,
                                "ratios": list(ratios), "duplicates_removed": removed, "splits": {}}
    for name, rows in parts.items():
        path = out / f"{name}.jsonl"
        data = "".join(json.dumps(row, ensure_ascii=False, default=str) + "\n" for row in rows)
        path.write_text(data, encoding="utf-8")
        manifest["splits"][name] = {"file": path.name, "rows": len(rows),
                                    "sha256": hashlib.sha256(data.encode()).hexdigest()}
    src_hash = hashlib.sha256()
    for f in rep.stats.get("files", []):
        p = Path(f)
        if p.is_file():
            src_hash.update(p.read_bytes())
    manifest["source_sha256"] = src_hash.hexdigest()
    (out / "split.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return manifest
