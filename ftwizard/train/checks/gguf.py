"""gguf: convert the merged (or fully fine-tuned) model to <run>/model.gguf with llama.cpp's converter, when
one is installed; otherwise say exactly how to get one."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from ftwizard.train.checks._base import Context

# True as of llama.cpp 2025–26: the converter is a script in the llama.cpp repository. The `gguf` pip package
# (gguf-py) only reads/edits GGUF files and `llama-cpp-python` runs them; neither installs convert_hf_to_gguf.py.
GGUF_HOW = ("needs llama.cpp's convert_hf_to_gguf.py, which no pip package ships: clone llama.cpp, set "
            "LLAMA_CPP_DIR to it and run `ftwizard check RUN --only gguf` again (README: 'Export to GGUF')")


def find_converter() -> list[str] | None:
    """The command that runs llama.cpp's HF→GGUF converter: $LLAMA_CPP_DIR/convert_hf_to_gguf.py, or one on PATH."""
    root = os.environ.get("LLAMA_CPP_DIR")
    if root and (Path(root) / "convert_hf_to_gguf.py").is_file():
        return [sys.executable, str(Path(root) / "convert_hf_to_gguf.py")]
    for name in ("convert_hf_to_gguf.py", "convert-hf-to-gguf", "llama-convert-hf-to-gguf"):
        exe = shutil.which(name)
        if exe:
            return [exe]
    return None


def run(ctx: Context) -> dict[str, Any]:
    rd = ctx.rd
    src = rd.merged if rd.merged.exists() else rd.full_model
    cmd = find_converter()
    if cmd is None:
        return {"gguf": {"skipped": GGUF_HOW}}
    if not src.exists():
        return {"gguf": {"skipped": "merge the adapter first (`ftwizard check RUN --only merge`)"}}
    proc = subprocess.run([*cmd, str(src), "--outfile", str(rd.gguf_path), "--outtype", "q8_0"],
                          capture_output=True, text=True)
    ok = proc.returncode == 0 and rd.gguf_path.exists()
    return {"gguf": {"ok": ok, "path": str(rd.gguf_path) if ok else None,
                     "log_tail": (proc.stdout + proc.stderr)[-1500:]}}


def summary(checks: dict[str, Any]) -> str:
    res = checks["gguf"]
    if "skipped" in res:
        return "skipped: " + res["skipped"]
    return f"written {res.get('path')}" if res.get("ok") else "converter failed (see log_tail in checks.json)"
