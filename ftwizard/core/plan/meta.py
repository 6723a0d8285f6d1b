"""Exact parameter counts from the model built on the meta device, in a subprocess, cached per config.

`exact_count(cfg)` runs `python -m ftwizard.train.meta_count` (transformers stays out of this process) and
caches its answer under ~/.cache/ftwizard/meta/<sha256 of the config and the transformers version>.json.
It returns {} when transformers cannot build the model (unknown architecture, remote code only, …);
that answer is cached too, for the same transformers version.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

from ftwizard.core.workers import job_command

TIMEOUT_S = 120
SCHEMA = "2"  # what a cached answer holds: 2 = block linears of every block, with the number of blocks each is in


def cache_dir() -> Path:
    base = Path(os.environ.get("FTWIZARD_CACHE", Path.home() / ".cache" / "ftwizard"))
    return base / "meta"


def _transformers_version() -> str:
    try:
        return metadata.version("transformers")
    except metadata.PackageNotFoundError:
        return ""


def config_key(cfg: dict[str, Any]) -> str:
    """Cache key: the config (without bookkeeping keys such as _name_or_path) and the transformers version."""
    body = {k: v for k, v in cfg.items() if not k.startswith("_")}
    text = json.dumps(body, sort_keys=True, default=str) + "|" + _transformers_version() + "|" + SCHEMA
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def run_meta_count(paths: list[str], timeout: float = TIMEOUT_S) -> list[dict[str, Any]]:
    """Run the counter on config files/folders in one subprocess; one result dict per path."""
    if not _transformers_version():
        return [{"config": p, "error": "transformers is not installed"} for p in paths]
    try:
        proc = subprocess.run(job_command("meta_count", *paths),
                              capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return [{"config": p, "error": f"meta-device count timed out after {timeout:.0f} s"} for p in paths]
    results: dict[str, dict[str, Any]] = {}
    for line in proc.stdout.splitlines():
        try:
            d = json.loads(line)
        except ValueError:
            continue
        if isinstance(d, dict) and "config" in d:
            results[d["config"]] = d
    tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return [results.get(p, {"config": p, "error": tail}) for p in paths]


def exact_count(cfg: dict[str, Any], use_cache: bool = True) -> dict[str, Any]:
    """The meta-device description of `cfg` (see ftwizard.train.meta_count), or {} when it cannot be built."""
    key = config_key(cfg)
    cached = cache_dir() / f"{key}.json"
    if use_cache and cached.exists():
        try:
            hit = json.loads(cached.read_text(encoding="utf-8"))
            return {} if "error" in hit else hit
        except ValueError:
            pass
    with tempfile.TemporaryDirectory(prefix="ftwizard-meta-") as tmp:
        path = Path(tmp) / "config.json"
        path.write_text(json.dumps(cfg), encoding="utf-8")
        res = run_meta_count([str(path)])[0]
    res.pop("config", None)
    if "error" in res and "timed out" in res["error"]:
        return {}  # not cached: a later try may finish
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        cached.write_text(json.dumps(res), encoding="utf-8")  # "cannot build" is cached too (same version)
    except OSError:
        pass  # a read-only home still gets the answer, just not cached
    return {} if "error" in res else res


def count_error(cfg: dict[str, Any]) -> str | None:
    """Why the last `exact_count(cfg)` could not build the model (from the cache), or None."""
    cached = cache_dir() / f"{config_key(cfg)}.json"
    try:
        hit = json.loads(cached.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return str(hit["error"]) if isinstance(hit, dict) and "error" in hit else None


def type_info(model_type: str) -> dict[str, Any]:
    """What the installed transformers knows of a model type (ftwizard.train.meta_count --type): its config class's
    scalar defaults and whether AutoModelForCausalLM builds it; {} when that cannot be told. Cached per type and
    transformers version."""
    version = _transformers_version()
    if not model_type or not version or not re.fullmatch(r"[\w.-]+", model_type):
        return {}
    cached = cache_dir() / f"type-{model_type}-{version}-{SCHEMA}.json"
    try:
        return dict(json.loads(cached.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        pass
    try:
        proc = subprocess.run(job_command("meta_count", "--type", model_type), capture_output=True, text=True,
                              timeout=TIMEOUT_S, check=False)
        res = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 and proc.stdout.strip() else {}
    except (subprocess.TimeoutExpired, ValueError, IndexError):
        return {}
    if isinstance(res, dict) and res:
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            cached.write_text(json.dumps(res), encoding="utf-8")
        except OSError:
            pass
    return res if isinstance(res, dict) else {}
