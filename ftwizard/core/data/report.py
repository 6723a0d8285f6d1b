"""The dataset report: validation, counts, token lengths, duplicates, short outputs, balance, PII,
a random sample — and the deterministic train/validation/test split written with hashes."""

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
from typing import Any

from ftwizard.core.data import formats
from ftwizard.core.data.reader import Problem, Record, read_records

MIN_ROWS = {"classification": 50, "extraction": 100, "style": 200, "domain": 500, "code": 1000}
MAX_ERRORS_LISTED = 200

PII_PATTERNS = {
    "email": re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b"),
    "phone": re.compile(r"(?<![\w.])(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?|\d{3}[ .-])\d{3}[ .-]\d{3,4}\b"),
    "credit_card": re.compile(r"\b(?:\d[ -]?){13,19}\b"),
    "api_key": re.compile(r"\b(?:sk-[A-Za-z0-9_-]{20,}|hf_[A-Za-z0-9]{30,}|AKIA[0-9A-Z]{16}|ghp_[A-Za-z0-9]{36}"
                          r"|xox[bap]-[A-Za-z0-9-]{10,})\b"),
}


def _luhn(digits: str) -> bool:
    total, alt = 0, False
    for ch in reversed(digits):
        d = ord(ch) - 48
        if alt:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
        alt = not alt
    return total % 10 == 0


def _mask(s: str) -> str:
    return s[:3] + "…" + s[-2:] if len(s) > 6 else "…"


@dataclass
class DatasetReport:
    path: str
    format: str | None
    family: str | None
    rows: int
    errors: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    valid: list[Record] = field(default_factory=list, repr=False)

    @property
    def usable(self) -> bool:
        return not self.errors and self.rows > 0

    def to_dict(self) -> dict[str, Any]:
        errs = [e.to_dict() for e in self.errors[:MAX_ERRORS_LISTED]]
        return {"path": self.path, "format": self.format, "family": self.family, "rows": self.rows,
                "errors": errs, "error_count": len(self.errors), "warnings": self.warnings, "stats": self.stats}


def approx_tokens(text: str) -> int:
    """~4 characters per token for English with BPE tokenizers (stated as an approximation)."""
    return max(1, (len(text) + 3) // 4)


def _norm_near(text: str) -> str:
    return re.sub(r"[\W_]+", " ", text.lower()).strip()


def _pctl(sorted_vals: list[int], p: float) -> int:
    if not sorted_vals:
        return 0
    k = min(len(sorted_vals) - 1, max(0, int(round(p / 100 * (len(sorted_vals) - 1)))))
    return sorted_vals[k]


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
) -> DatasetReport:
    res = read_records(source, allow_download=allow_download)
    recs = [r.data for r in res.records]
    family = fmt or formats.detect_family(recs)
    if family is not None and family not in formats.FAMILIES:
        raise ValueError(f"unknown format '{family}'; choose from {', '.join(formats.FAMILIES)}")
    rep = DatasetReport(path=source, format=None, family=family, rows=0, errors=list(res.problems))
    if family is None:
        if recs:
            keys = sorted({k for r in recs[:20] for k in r})
            rep.errors.append(Problem(source, None, "could not recognise the format from the fields "
                                      f"({', '.join(keys)}); expected e.g. instruction/output (Alpaca), "
                                      "messages (OpenAI), conversations (ShareGPT), prompt/chosen/rejected"))
        elif not rep.errors:
            rep.errors.append(Problem(source, None, "no records found"))
        return rep
    valid: list[Record] = []
    for r in res.records:
        problems = formats.validate(family, r.data)
        for msg in problems:
            rep.errors.append(Problem(r.file, r.loc, msg, r.loc_kind))
        if not problems:
            valid.append(r)
    rep.errors.sort(key=lambda e: (e.file, e.loc or 0))
    rep.valid = valid
    rep.rows = len(valid)
    rep.format = formats.format_name(family, valid[0].data) if valid else family
    counter = count_tokens or approx_tokens
    lengths: list[int] = []
    target_lens: list[int] = []
    exact: Counter[str] = Counter()
    near: Counter[str] = Counter()
    outputs: Counter[str] = Counter()
    short: list[str] = []
    pii: dict[str, dict[str, Any]] = {k: {"count": 0, "examples": []} for k in PII_PATTERNS}
    for r in valid:
        prompt, target = formats.texts(family, r.data)
        full = f"{prompt}\n{target}"
        lengths.append(counter(full))
        target_lens.append(counter(target) if target else 0)
        exact[hashlib.sha1(full.encode()).hexdigest()] += 1
        near[hashlib.sha1(_norm_near(full).encode()).hexdigest()] += 1
        if family != "text":
            outputs[target.strip()[:200]] += 1
            if not re.search(r"\w", target):
                short.append(r.where)
        for kind, pat in PII_PATTERNS.items():
            for m in pat.finditer(full):
                s = m.group(0)
                if kind == "credit_card":
                    digits = re.sub(r"\D", "", s)
                    if not (13 <= len(digits) <= 19 and _luhn(digits)):
                        continue
                pii[kind]["count"] += 1
                if len(pii[kind]["examples"]) < 3:
                    pii[kind]["examples"].append({"where": r.where, "match": _mask(s)})
    s_len = sorted(lengths)
    over = sum(1 for x in lengths if x > max_seq)
    dup_exact = sum(c - 1 for c in exact.values() if c > 1)
    dup_near = sum(c - 1 for c in near.values() if c > 1)
    stats: dict[str, Any] = {
        "files": res.files,
        "valid_rows": len(valid),
        "invalid_rows": len({(e.file, e.loc) for e in rep.errors if e.loc is not None}),
        "tokens": {
            "method": f"tokenizer: {tokenizer_name}" if count_tokens else "approximate: characters / 4",
            "min": s_len[0] if s_len else 0, "mean": round(statistics.fmean(s_len), 1) if s_len else 0,
            "p50": _pctl(s_len, 50), "p90": _pctl(s_len, 90), "p99": _pctl(s_len, 99),
            "max": s_len[-1] if s_len else 0, "total": sum(s_len),
            "over_max_seq": over, "max_seq": max_seq,
            "histogram": _histogram(s_len),
        },
        "duplicates": {"exact": dup_exact, "near": dup_near},
        "short_outputs": {"count": len(short), "examples": short[:5]},
        "pii": pii,
    }
    if family != "text" and len(valid) >= 20 and len(outputs) <= max(2, min(20, len(valid) // 5)):
        stats["class_balance"] = dict(outputs.most_common())
        top = outputs.most_common(1)[0][1] / len(valid)
        if top > 0.7:
            rep.warnings.append(f"one output is {top:.0%} of the data: the classes are unbalanced")
    rng = random.Random(seed)
    pick = rng.sample(valid, min(sample_size, len(valid)))
    stats["sample"] = [{"where": r.where, "record": formats.to_trl(family, r.data)} for r in pick]
    kind_min = {"alpaca": 200, "openai": 200, "sharegpt": 200, "preference": 500, "kto": 500,
                "prompt_completion": 200, "text": 1000}
    want = MIN_ROWS.get(task or "", kind_min[family])
    stats["min_rows_suggested"] = want
    if 0 < len(valid) < want:
        rep.warnings.append(f"{len(valid):,} usable rows; about {want:,}+ is suggested for this kind of data")
    if over:
        rep.warnings.append(f"{over:,} rows are longer than {max_seq} tokens and would be truncated")
    if dup_exact:
        rep.warnings.append(f"{dup_exact:,} exact duplicate rows (the model will memorise them)")
    elif dup_near:
        rep.warnings.append(f"{dup_near:,} near-duplicate rows (same text up to case/punctuation)")
    if short:
        rep.warnings.append(f"{len(short):,} rows have an answer with no letters or digits")
    for kind, v in pii.items():
        if v["count"]:
            rep.warnings.append(f"possible PII: {v['count']} {kind.replace('_', ' ')} match(es), "
                                f"e.g. {v['examples'][0]['where']}")
    rep.stats = stats
    return rep


def _histogram(sorted_lens: list[int], bins: int = 10) -> list[dict[str, int]]:
    if not sorted_lens:
        return []
    lo, hi = sorted_lens[0], sorted_lens[-1]
    width = max(1, (hi - lo + bins) // bins)
    counts = [0] * bins
    for x in sorted_lens:
        counts[min(bins - 1, (x - lo) // width)] += 1
    return [{"from": lo + i * width, "to": lo + (i + 1) * width - 1, "count": c} for i, c in enumerate(counts)]


# ---- split --------------------------------------------------------------------------------------------------
def split_and_write(rep: DatasetReport, out_dir: str | Path, ratios: tuple[float, float, float] = (0.8, 0.1, 0.1),
                    seed: int = 42) -> dict[str, Any]:
    """Seeded split of the valid rows, converted to TRL shape, written as JSONL with SHA-256 hashes."""
    if rep.family is None:
        raise ValueError("cannot split a dataset whose format was not recognised")
    if abs(sum(ratios) - 1.0) > 1e-6:
        raise ValueError(f"split ratios must add up to 1, got {ratios}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = [formats.to_trl(rep.family, r.data) for r in rep.valid]
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    n = len(rows)
    n_val = int(round(n * ratios[1])) if ratios[1] else 0
    n_test = int(round(n * ratios[2])) if ratios[2] else 0
    if n >= 3:
        n_val = max(n_val, 1 if ratios[1] else 0)
        n_test = max(n_test, 1 if ratios[2] else 0)
    parts = {"test": order[:n_test], "validation": order[n_test:n_test + n_val], "train": order[n_test + n_val:]}
    manifest: dict[str, Any] = {"source": rep.path, "format": rep.format, "family": rep.family, "seed": seed,
                                "ratios": list(ratios), "splits": {}}
    for name, idx in parts.items():
        path = out / f"{name}.jsonl"
        data = "".join(json.dumps(rows[i], ensure_ascii=False) + "\n" for i in sorted(idx))
        path.write_text(data, encoding="utf-8")
        manifest["splits"][name] = {"file": path.name, "rows": len(idx),
                                    "sha256": hashlib.sha256(data.encode()).hexdigest()}
    src_hash = hashlib.sha256()
    for f in rep.stats.get("files", []):
        p = Path(f)
        if p.is_file():
            src_hash.update(p.read_bytes())
    manifest["source_sha256"] = src_hash.hexdigest()
    (out / "split.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return manifest
