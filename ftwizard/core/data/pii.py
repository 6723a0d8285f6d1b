"""A light PII scan: e-mail addresses, phone numbers, payment card numbers, API keys.

Card numbers are matched only in the shapes real cards are printed in (4-4-4-4 or Amex 4-6-5 with one
consistent separator, or an unbroken 13–19-digit run), must start with a card-network prefix (2221–2720,
3, 4, 5, 6) and pass the Luhn check; runs that read as dates (19xx/20xx then a month) are ignored, so a
list of dates is not a list of cards.
"""

from __future__ import annotations

import re
from typing import Any

PII_PATTERNS: dict[str, re.Pattern[str]] = {
    "email": re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b"),
    "phone": re.compile(r"(?<![\w.])(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?|\d{3}[ .-])\d{3}[ .-]\d{3,4}\b"),
    "credit_card": re.compile(
        r"(?<![\d-])\d{4}(?:([ -])\d{4}\1\d{4}\1\d{4}(?:\1\d{1,3})?"  # 4-4-4-4(-1..3), one separator
        r"|([ -])\d{6}\2\d{5}"                                           # Amex 4-6-5
        r"|\d{9,15})(?![\d-])"),                                        # unbroken 13-19 digits
    "api_key": re.compile(r"\b(?:sk-[A-Za-z0-9_-]{20,}|hf_[A-Za-z0-9]{30,}|AKIA[0-9A-Z]{16}|ghp_[A-Za-z0-9]{36}"
                          r"|xox[bap]-[A-Za-z0-9-]{10,})\b"),
}
# substrings without which a kind cannot match: skip its regex (most rows have no '@' and no key prefix)
_NEEDS: dict[str, tuple[str, ...]] = {"email": ("@",), "api_key": ("sk-", "hf_", "AKIA", "ghp_", "xox")}
_DATE_LIKE = re.compile(r"(?:19|20)\d\d(?:0[1-9]|1[0-2])")


def luhn(digits: str) -> bool:
    total, alt = 0, False
    for ch in reversed(digits):
        d = ord(ch) - 48
        if alt:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
        alt = not alt
    return total % 10 == 0


def is_card_number(match: str) -> bool:
    """A matched digit group that could be a real payment card number."""
    digits = re.sub(r"\D", "", match)
    if not 13 <= len(digits) <= 19:
        return False
    first = digits[0]
    if first == "2":
        if not 2221 <= int(digits[:4]) <= 2720:
            return False
    elif first not in "3456":
        return False
    if _DATE_LIKE.match(digits):
        return False
    return luhn(digits)


def mask(s: str) -> str:
    return s[:3] + "…" + s[-2:] if len(s) > 6 else "…"


class PiiScan:
    """Counts matches per kind over many texts, keeping up to 3 masked examples each."""

    def __init__(self) -> None:
        self.found: dict[str, dict[str, Any]] = {k: {"count": 0, "examples": []} for k in PII_PATTERNS}

    def scan(self, text: str, where: str) -> None:
        for kind, pat in PII_PATTERNS.items():
            needs = _NEEDS.get(kind)
            if needs and not any(n in text for n in needs):
                continue
            for m in pat.finditer(text):
                s = m.group(0)
                if kind == "credit_card" and not is_card_number(s):
                    continue
                entry = self.found[kind]
                entry["count"] += 1
                if len(entry["examples"]) < 3:
                    entry["examples"].append({"where": where, "match": mask(s)})
