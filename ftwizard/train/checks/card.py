"""card: RUN_CARD.md + run_card.json — config, data hashes, results, memory, versions."""

from __future__ import annotations

import json
import platform
from importlib import metadata
from typing import Any

from ftwizard.train.checks._base import Context

PACKAGES = ("ftwizard", "torch", "transformers", "peft", "trl", "datasets", "accelerate", "bitsandbytes")


def _json(path: Any) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def run(ctx: Context) -> dict[str, Any]:
    rd, cfg = ctx.rd, ctx.cfg
    versions: dict[str, str | None] = {}
    for pkg in PACKAGES:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    split, checks, memory = _json(rd.split_manifest), _json(rd.checks_path), _json(rd.memory_path)
    card = {"config": cfg.__dict__, "data": split, "results": {k: v for k, v in checks.items() if k != "samples"},
            "memory": memory, "status": rd.status(), "versions": versions,
            "python": platform.python_version(), "platform": platform.platform()}
    rd.card_json.write_text(json.dumps(card, indent=2, default=str), encoding="utf-8")
    method = f"- method: {cfg.method} (rank {cfg.rank}, alpha {cfg.alpha})" if cfg.method != "full" else \
        f"- method: {cfg.method}"
    lines = [f"# Run card: {rd.path.name}", "", f"- base model: `{cfg.model}`", f"- trainer: {cfg.trainer}", method,
             f"- data: `{cfg.data}` ({split.get('format', '?')}); split seed {split.get('seed', cfg.seed)}"]
    for name, sp in (split.get("splits") or {}).items():
        lines.append(f"  - {name}: {sp['rows']} rows, sha256 {sp['sha256'][:16]}…")
    lines += ["", "## Results"]
    if isinstance(checks.get("task"), dict):
        lines.append(f"- task: {checks['task'].get('kind')} ({checks['task'].get('source')})")
    for k in ("baseline", "tuned", "merged"):
        if isinstance(checks.get(k), dict):
            lines.append(f"- {k}: " + ", ".join(f"{m} {v}" for m, v in checks[k].items()
                                                if isinstance(v, (int, float)) and not isinstance(v, bool)))
    lines += ["", "## Environment", *(f"- {k} {v}" for k, v in versions.items()), f"- python {platform.python_version()}"]
    rd.card_md.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"card": {"path": str(rd.card_md)}}


def summary(checks: dict[str, Any]) -> str:
    return f"written {checks['card']['path']}"
