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
    lines += ["", "## Resources", memory_line(memory),
              time_line(rd.status(), rd.read_events(), memory, cfg.estimate_hours)]
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


def _gib(x: Any) -> str:
    return f"{x:.2f} GiB" if isinstance(x, (int, float)) else "?"


def memory_line(memory: dict[str, Any]) -> str:
    """Predicted vs measured peak memory, from memory.json (the preflight step on the longest batch)."""
    if not memory:
        return "- memory: not measured (no preflight step: preflight_steps was 0)"
    measured = memory.get("measured_peak_allocated_gib")
    parts = [f"predicted {_gib(memory['estimate_gib'])}" if memory.get("estimate_gib") is not None
             else "no prediction recorded (`ftwizard plan` writes one)",
             f"measured peak {_gib(measured)} allocated" if measured is not None else "peak not measured"]
    if memory.get("measured_peak_reserved_gib") is not None:
        parts.append(f"{_gib(memory['measured_peak_reserved_gib'])} reserved")
    if memory.get("measured_nvml_used_gib") is not None:
        parts.append(f"{_gib(memory['measured_nvml_used_gib'])} used on the card")
    if memory.get("estimate_error_pct") is not None:
        parts.append(f"estimate off by {memory['estimate_error_pct']:+.1f}%")
    where = f" on {memory['device']}" if memory.get("device") else ""
    return f"- memory{where}: " + ", ".join(parts)


def _duration(s: float) -> str:
    s = max(0.0, s)
    if s < 90:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


def predicted_seconds(events: list[dict[str, Any]], memory: dict[str, Any]) -> tuple[float, str] | None:
    """(predicted training seconds, how): from the speed of the first tenth of the steps (what the monitor's ETA
    said early on), else from the preflight step (the longest batch: an upper bound)."""
    logs = [e for e in events if e.get("type") in ("log", "eval") and isinstance(e.get("elapsed_s"), (int, float))
            and isinstance(e.get("step"), int) and e["step"] > 0 and e.get("max_steps")]
    if logs:
        total = int(logs[-1]["max_steps"])
        early = next((e for e in logs if e["step"] >= max(1, total // 10)), logs[0])
        first = "step" if early["step"] == 1 else f"{early['step']} steps"
        return early["elapsed_s"] / early["step"] * total, f"from the speed of the first {first}"
    steps = next((e.get("max_steps") for e in events if e.get("type") == "train_begin"), None)
    if memory.get("seconds") and steps:
        per_step = memory["seconds"] * max(1, int(memory.get("gradient_accumulation") or 1))
        return per_step * int(steps), "from the preflight step on the longest batch"
    return None


def time_line(status: dict[str, Any], events: list[dict[str, Any]], memory: dict[str, Any],
              planned_hours: float | None = None) -> str:
    """Planned (before launch), predicted (from the first steps) and actual training time."""
    pred = predicted_seconds(events, memory)
    start, end = status.get("started"), status.get("ended")
    steps_s = [e["elapsed_s"] for e in events if e.get("type") in ("log", "eval")
               and isinstance(e.get("elapsed_s"), (int, float))]
    took = f"took {_duration(steps_s[-1])} of training steps" if steps_s else "actual time not recorded"
    if isinstance(start, (int, float)) and isinstance(end, (int, float)):
        took += f", {_duration(end - start)} start to finish (loading and saving included)"
    said = f"predicted {_duration(pred[0])} ({pred[1]})" if pred else "no prediction recorded"
    if planned_hours is not None:
        said = f"planned {_duration(planned_hours * 3600)} before launch (FLOPs over the card's peak), " + said
    return f"- time: {said}, {took}"


def summary(checks: dict[str, Any]) -> str:
    return f"written {checks['card']['path']}"
