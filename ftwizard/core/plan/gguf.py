"""A `.gguf` file as the model: converted once to a local Hugging Face checkpoint, then used like any folder.

GGUF is what llama.cpp, Ollama and LM Studio users have on disk. transformers reads it (`gguf_file=`, weights
dequantized), so `python -m ftwizard.train.gguf_convert FILE OUT` (a subprocess: this module imports no torch)
loads it once and saves a bf16 safetensors checkpoint with its tokenizer and chat template under
`~/.cache/ftwizard/gguf/<name>-<key>/` (key: the file's resolved path, size and modification time). Every
later use finds that folder: planning, training, checks and exports all see an ordinary model folder, and the
run remembers the GGUF it came from (`model_gguf`) for the Ollama export at the end.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from ftwizard.core.workers import job_command

MARKER = "ftwizard_gguf.json"  # written last into a finished conversion: {source, size, mtime_ns, seconds}
TIMEOUT_S = 3600


class GGUFError(ValueError):
    """A GGUF file that cannot be converted; `str()` is the one line to show."""


def is_gguf(model: str | Path | None) -> bool:
    return bool(model) and str(model).lower().endswith(".gguf") and Path(str(model)).expanduser().is_file()


def cache_root() -> Path:
    base = Path(os.environ.get("FTWIZARD_CACHE", Path.home() / ".cache" / "ftwizard"))
    return base / "gguf"


def converted_dir(gguf: str | Path) -> Path:
    """Where the checkpoint converted from `gguf` lives (whether or not it exists yet)."""
    p = Path(gguf).expanduser().resolve()
    st = p.stat()
    key = hashlib.sha256(f"{p}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:12]
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in p.stem)[:80]
    return cache_root() / f"{stem}-{key}"


def find_converted(gguf: str | Path) -> Path | None:
    """The finished conversion of `gguf`, or None."""
    out = converted_dir(gguf)
    return out if (out / MARKER).is_file() and (out / "config.json").is_file() else None


def source_of(folder: str | Path) -> str | None:
    """The GGUF file a converted folder came from, or None for any other folder."""
    try:
        return str(json.loads((Path(folder) / MARKER).read_text(encoding="utf-8"))["source"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def convert(gguf: str | Path, on_progress: Callable[[str], None] | None = None, timeout: float = TIMEOUT_S) -> Path:
    """The converted checkpoint of `gguf` (converting it now if it is not cached). `on_progress` gets one line
    per stage. GGUFError with the converter's last line when it fails."""
    src = Path(gguf).expanduser()
    if not src.is_file():
        raise GGUFError(f"{src}: no such GGUF file")
    done = find_converted(src)
    if done is not None:
        return done
    out = converted_dir(src)
    out.parent.mkdir(parents=True, exist_ok=True)
    size = src.stat().st_size / 2**20
    if on_progress:
        on_progress(f"converting {src.name} ({size:,.0f} MiB) to a Hugging Face checkpoint, once: {out}")
    cmd = job_command("gguf_convert", str(src.resolve()), str(out))
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as errf:
        try:  # stderr to a file: transformers' progress bars would fill a pipe nobody reads
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errf, text=True, stdin=subprocess.DEVNULL)
        except OSError as exc:
            raise GGUFError(f"{src}: cannot start the converter ({exc})") from None
        last = ""
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.strip()
            if line:
                last = line
                if on_progress:
                    on_progress(line)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise GGUFError(f"{src}: the conversion took longer than {timeout:.0f} s") from None
        errf.seek(0)
        err = errf.read()[-20000:]
    if proc.returncode != 0 or find_converted(src) is None:
        tail = [ln for ln in (err or "").strip().splitlines() if ln.strip()]
        why = tail[-1] if tail else last or f"exit code {proc.returncode}"
        raise GGUFError(f"{src}: could not convert this GGUF file to a Hugging Face checkpoint: {why}")
    return out
