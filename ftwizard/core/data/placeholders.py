"""Template placeholders left in a dataset ({{name}}, <name>, [NAME] …), which a model would learn literally.

LLaMA-Factory's identity.json ships with `{{name}}` and `{{author}}` for the user to replace; trained as they
are, the model answers "I am {{name}}". The report counts them with an example; `fill` replaces them
(`ftwizard data FILE --fill name=Wizzy --fill author=Acme --split-out DIR`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

# words a person-facing placeholder is made of: <name>, [YOUR NAME], <model_name>, [Company Name] …
_WHO = r"(?:(?:your|the|my|model|assistant|bot|ai|company|user)[ _-]?)?" \
       r"(?:name|author|company|organi[sz]ation|creator|developer|brand|product|owner)"
PATTERNS = (
    re.compile(r"\{\{\s*([A-Za-z_][\w-]{0,40})\s*\}\}"),          # {{name}} (LLaMA-Factory's identity.json)
    re.compile(r"<(" + _WHO + r")>", re.IGNORECASE),              # <name> (not an XML element: see _xml)
    re.compile(r"(?<![\w\])])\[(" + _WHO + r")\](?!\()", re.IGNORECASE),  # [NAME] (not x[name], not a link)
)


@dataclass
class PlaceholderScan:
    counts: dict[str, int] = field(default_factory=dict)  # placeholder as written → occurrences
    rows: int = 0
    example_where: str = ""
    example_text: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"counts": self.counts, "rows": self.rows, "example": {"where": self.example_where,
                                                                     "text": self.example_text}}

    def keys(self) -> list[str]:
        """The names to pass to --fill, e.g. ['name', 'author']."""
        out: list[str] = []
        for ph in self.counts:
            k = re.sub(r"^[{<\[]+\s*|\s*[}>\]]+$", "", ph).lower().replace(" ", "_")
            if k not in out:
                out.append(k)
        return out

    def warning(self) -> str:
        found = ", ".join(f"{k} ×{n:,}" for k, n in sorted(self.counts.items(), key=lambda kv: -kv[1])[:6])
        fills = " ".join(f"--fill {k}=…" for k in self.keys()[:4])
        return (f"placeholders left in {self.rows:,} row{'' if self.rows == 1 else 's'}: {found} (e.g. {self.example_where}: "
                f"\"{self.example_text}\"): the model would learn them literally — replace them with the real values "
                f"(`ftwizard data FILE {fills} --split-out DIR` writes the filled rows to train on)")


def _strings(v: Any, depth: int = 0):  # noqa: ANN202 - a generator of str
    if isinstance(v, str):
        yield v
    elif depth < 8 and isinstance(v, list):
        for x in v:
            yield from _strings(x, depth + 1)
    elif depth < 8 and isinstance(v, dict):
        for x in v.values():
            yield from _strings(x, depth + 1)


def _snippet(text: str, start: int, end: int, width: int = 60) -> str:
    a, b = max(0, start - width // 2), min(len(text), end + width // 2)
    s = text[a:b].replace("\n", " ")
    return ("…" if a else "") + s + ("…" if b < len(text) else "")


def scan(records: list[tuple[str, dict[str, Any]]]) -> PlaceholderScan:
    out = PlaceholderScan()
    for where, rec in records:
        hit = False
        for text in _strings(rec):
            if "{" not in text and "<" not in text and "[" not in text:
                continue
            code = "```" in text or "{%" in text  # {{ x }} in code (Jinja, Actions, Vue) is not a placeholder
            for pat in PATTERNS[1:] if code else PATTERNS:
                for m in pat.finditer(text):
                    if m.group(0).startswith("<") and f"</{m.group(1)}>" in text:
                        continue  # <name>…</name> is XML
                    out.counts[m.group(0)] = out.counts.get(m.group(0), 0) + 1
                    if not out.example_where:
                        out.example_where, out.example_text = where, _snippet(text, m.start(), m.end())
                    hit = True
        out.rows += hit
    return out


def parse_fill(items: list[str] | None) -> dict[str, str]:
    """`--fill name=Wizzy` items → {"name": "Wizzy"} (ValueError naming a malformed one)."""
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--fill {item!r}: expected NAME=VALUE, e.g. --fill name=Wizzy")
        out[key.strip()] = value
    return out


def _key_pattern(key: str) -> re.Pattern[str]:
    k = r"[ _-]?".join(re.escape(w) for w in re.split(r"[ _-]+", key.strip()))
    return re.compile(r"\{\{\s*" + k + r"\s*\}\}|<" + k + r">|\[" + k + r"\](?!\()", re.IGNORECASE)


def fill(rec: Any, values: dict[str, str]) -> tuple[Any, int]:
    """The record with each placeholder of `values` replaced in every string ({{name}}, <name>, [NAME] for
    `name`), and how many were replaced."""
    pats = [(_key_pattern(k), v) for k, v in values.items()]
    count = 0

    def sub(v: Any, depth: int = 0) -> Any:
        nonlocal count
        if isinstance(v, str):
            for pat, value in pats:
                v, n = pat.subn(value.replace("\\", "\\\\"), v)
                count += n
            return v
        if depth < 8 and isinstance(v, list):
            return [sub(x, depth + 1) for x in v]
        if depth < 8 and isinstance(v, dict):
            return {k: sub(x, depth + 1) for k, x in v.items()}
        return v

    return sub(rec), count
