"""Answer-quality metrics, pure Python (no torch): the table of the reference sheets, one function each.

exact match · token F1 (SQuAD normalisation) · BLEU (sacrebleu) · ROUGE-L (rouge-score) · perplexity ·
pass@k (unbiased estimator) · BERTScore's greedy matching over a similarity matrix · a refusal detector ·
the LLM-as-judge prompt and its parser. Every score is in [0, 1] except perplexity (≥ 1) and judge (1–5).
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any


def _mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs) if xs else 0.0


# ---- exact match and token F1 ----------------------------------------------------------------------------
_PUNCT = frozenset(string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD's normalisation: lower case, no punctuation, no articles (a/an/the), single spaces."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCT)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def answers_seen(test_refs: Sequence[str], train_refs: Sequence[str]) -> int:
    """How many test answers are, word for word (normalized), also a training answer: those test rows ask a taught
    answer in new words (recall of what was taught), not a new answer."""
    seen = {normalize_answer(r) for r in train_refs}
    return sum(1 for r in test_refs if normalize_answer(r) in seen)


def exact_match(pred: str, ref: str) -> float:
    """1.0 when the answer is exactly the reference (surrounding whitespace ignored)."""
    return float(pred.strip() == ref.strip())


def token_f1(pred: str, ref: str) -> float:
    """SQuAD token F1: harmonic mean of token precision and recall after `normalize_answer`."""
    p, r = normalize_answer(pred).split(), normalize_answer(ref).split()
    if not p or not r:
        return float(p == r)
    common = sum((Counter(p) & Counter(r)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(p), common / len(r)
    return 2 * precision * recall / (precision + recall)


# ---- BLEU and ROUGE-L ---------------------------------------------------------------------------------------
def bleu(preds: Sequence[str], refs: Sequence[str]) -> float:
    """Corpus BLEU (sacrebleu, 13a tokenisation, effective order so one-word answers still score), in [0, 1]."""
    if not preds:
        return 0.0
    from sacrebleu.metrics import BLEU

    score = BLEU(effective_order=True).corpus_score(list(preds), [list(refs)]).score
    return min(1.0, max(0.0, score / 100))


@lru_cache(maxsize=1)
def _rouge_scorer() -> Any:
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"])


def rouge_l(pred: str, ref: str) -> float:
    """ROUGE-L F-measure (longest common subsequence of words)."""
    return float(_rouge_scorer().score(ref, pred)["rougeL"].fmeasure)


def perplexity(loss: float) -> float:
    """exp(mean cross-entropy), capped so a diverged model reads as huge rather than overflowing."""
    return round(math.exp(min(loss, 50)), 3)


def text_metrics(preds: Sequence[str], refs: Sequence[str]) -> dict[str, float]:
    """The cheap reference-based metrics, all at once, rounded for checks.json."""
    pairs = list(zip(preds, refs, strict=True))
    return {"exact_match": round(_mean([exact_match(p, r) for p, r in pairs]), 4),
            "f1": round(_mean([token_f1(p, r) for p, r in pairs]), 4),
            "rouge_l": round(_mean([rouge_l(p, r) for p, r in pairs]), 4),
            "bleu": round(bleu(preds, refs), 4)}


# ---- pass@k -------------------------------------------------------------------------------------------------
def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k (Chen et al. 2021): 1 - C(n-c, k) / C(n, k) for n samples of which c pass."""
    if not 0 <= c <= n or k < 1:
        raise ValueError(f"pass@k needs 0 <= c <= n and k >= 1 (n={n}, c={c}, k={k})")
    if n - c < k:
        return 1.0
    prod = 1.0
    for i in range(n - c + 1, n + 1):
        prod *= 1.0 - k / i
    return 1.0 - prod


_FENCE = re.compile(r"```[ \t]*(?:python|py|python3)?[ \t]*\n(.*?)(?:```|\Z)", re.S | re.I)


def extract_code(text: str) -> str:
    """The code in a model's answer: the first fenced block if there is one, else the whole text."""
    m = _FENCE.search(text)
    return (m.group(1) if m else text).strip("\n")


# ---- BERTScore (the matching half; the embeddings come from a model in train/) ---------------------------
def bertscore_greedy(sim: Sequence[Sequence[float]]) -> tuple[float, float, float]:
    """Precision, recall, F1 of BERTScore from a candidate×reference cosine-similarity matrix (greedy
    matching, no idf weighting, no baseline rescaling)."""
    if not sim or not sim[0]:
        return 0.0, 0.0, 0.0
    precision = _mean([max(row) for row in sim])
    recall = _mean([max(col) for col in zip(*sim, strict=True)])
    f1 = 0.0 if precision + recall <= 0 else 2 * precision * recall / (precision + recall)
    return precision, recall, f1


# ---- refusals -------------------------------------------------------------------------------------------------
_REFUSAL = re.compile(
    r"\b(i\s*(?:'m| am)\s+(?:sorry|afraid|not able|unable)|i\s+(?:can\s*(?:'|no)?t|cannot|won\s*'?t|will not|must "
    r"decline|do not|don\s*'?t)\s+(?:help|assist|provide|do|comply|support|create|write|share|give|engage|fulfil)"
    r"|i\s+apologi[sz]e|as an ai\b|against (?:my|the|our) (?:guidelines|policies|policy|principles)"
    r"|(?:not|never) (?:able|allowed|permitted) to (?:help|assist|provide)|i\s*(?:'m| am) not comfortable"
    r"|i\s+(?:can\s*(?:'|no)?t|cannot) (?:and will not|help with that))", re.I)


def is_refusal(text: str) -> bool:
    """A simple refusal detector: a refusal phrase in the first 300 characters (English)."""
    return bool(_REFUSAL.search(text[:300].replace("’", "'")))


# ---- LLM-as-judge ---------------------------------------------------------------------------------------------
DEFAULT_RUBRIC = ("5 = correct, complete and well written; 4 = correct with small flaws; 3 = partly correct or "
                  "partly off-topic; 2 = mostly wrong or unhelpful; 1 = wrong, empty or off-topic.")


def judge_prompt(question: str, answer: str, reference: str | None = None, rubric: str = DEFAULT_RUBRIC) -> str:
    """What the judge model is asked (one user turn)."""
    ref = f"\nReference answer (for comparison):\n{reference}\n" if reference else ""
    return ("You are grading an assistant's answer. Rate it from 1 to 5 with this rubric:\n"
            f"{rubric}\n\nQuestion:\n{question}\n{ref}\nAnswer to grade:\n{answer}\n\n"
            "Reply in exactly this form:\nScore: <1-5>\nReason: <one sentence>")


@dataclass(frozen=True)
class Verdict:
    score: int | None  # 1–5, None when the reply could not be parsed
    reason: str
    raw: str

    @property
    def parsed(self) -> bool:
        return self.score is not None


_SCORE = re.compile(r"score\s*[:=]?\s*\**\s*([1-5])\b", re.I)
_LEAD = re.compile(r"^\W*([1-5])(?:\s*/\s*5)?\b")
_REASON = re.compile(r"reason\s*[:=]\s*(.+)", re.I | re.S)


def parse_judge(reply: str) -> Verdict:
    """Score and reason from a judge's reply ("Score: 4\\nReason: …", or a reply starting with the digit)."""
    m = _SCORE.search(reply) or _LEAD.search(reply)
    reason_m = _REASON.search(reply)
    reason = (reason_m.group(1) if reason_m else reply).strip().splitlines()[0][:300] if reply.strip() else ""
    return Verdict(int(m.group(1)) if m else None, reason, reply[:500])


def judge_summary(verdicts: Sequence[Verdict]) -> dict[str, Any]:
    """Mean score over the parsed replies, and how many failed to parse (never an exception)."""
    scores = [v.score for v in verdicts if v.score is not None]
    return {"mean": round(_mean(scores), 3) if scores else None, "n": len(verdicts), "scored": len(scores),
            "parse_failures": len(verdicts) - len(scores)}
