"""Token lengths: with the model's own tokenizer and chat template when it is available locally
(counted in a subprocess, `python -m ftwizard.train.tokcount`, so this package never imports
transformers), else ~4 characters per token as a stated approximation."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftwizard.core.workers import job_command

APPROX_METHOD = "approximate: characters / 4"


class TokenCountError(RuntimeError):
    """The tokenizer could not be used (not local, broken, timed out)."""


def approx_tokens(text: str) -> int:
    """~4 characters per token for English with BPE tokenizers (stated as an approximation)."""
    return max(1, (len(text) + 3) // 4)


@dataclass
class TokenCounts:
    full: list[int]     # the whole row as trained (template applied)
    prompt: list[int]   # the prompt part (0 for plain text rows)
    method: str
    default_system: str | None = None  # the system prompt the chat template adds to rows without one
    renders: dict[str, bool] = field(default_factory=dict)  # reasoning_content / tool_calls: written by the template?


def count_with_tokenizer(tokenizer: str, rows: list[dict[str, Any]], timeout_s: float = 600) -> TokenCounts:
    """Count each TRL row with `tokenizer` (a local folder or a cached Hub id) and its chat template."""
    if tokenizer.startswith(("/", "~", ".")) and not Path(tokenizer).expanduser().exists():
        # a path that is not here: said at once, not after a process has imported transformers (~5 s)
        raise TokenCountError(f"cannot use tokenizer {tokenizer}: no such folder")
    with tempfile.TemporaryDirectory(prefix="ftwizard-tok-") as d:
        src, dst = Path(d) / "rows.jsonl", Path(d) / "counts.jsonl"
        with src.open("w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=False, default=str) + "\n")
        cmd = job_command("tokcount", tokenizer, str(src), str(dst))
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}  # local files only: never wait on the network
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False, env=env)
        except subprocess.TimeoutExpired as exc:
            raise TokenCountError(f"counting tokens with {tokenizer} took over {timeout_s:.0f} s") from exc
        if proc.returncode != 0 or not dst.exists():
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            if _not_local(tokenizer, last):
                raise TokenCountError(f"tokenizer {tokenizer} not found locally (not a folder here, not in the "
                                      "Hugging Face cache): pass a model folder, or download the model first")
            raise TokenCountError(f"cannot use tokenizer {tokenizer}: {last}")
        lines = dst.read_text(encoding="utf-8").splitlines()
    head = json.loads(lines[0])
    counts = [json.loads(x) for x in lines[1:]]
    if len(counts) != len(rows):
        raise TokenCountError(f"tokenizer {tokenizer} counted {len(counts)} of {len(rows)} rows")
    return TokenCounts([c[0] for c in counts], [c[1] for c in counts], head["method"], head.get("default_system"),
                       head.get("renders") or {})


def _not_local(tokenizer: str, error: str) -> bool:
    """The tokenizer is neither a folder nor cached (the library's message talks about connecting or the cache)."""
    if Path(tokenizer).expanduser().is_dir():
        return False
    low = error.lower()
    return any(k in low for k in ("cached files", "connect", "offline", "local_files_only", "not a valid model",
                                  "repository not found", "is not a local folder"))
