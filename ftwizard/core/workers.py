"""The one place that names the subprocesses core starts (pure): every heavy job — training, the demo, token
counting, GGUF conversion, parameter counts, generation — runs as `python -m ftwizard.train[.<job>]` in a child
process, so the app and the CLI never import torch. Callers ask for a job by name; the module path lives here."""

from __future__ import annotations

import sys

TRAIN_PACKAGE = "ftwizard.train"  # `python -m ftwizard.train RUN` trains; the process-identity check looks for it
JOBS: dict[str, str] = {
    "train": TRAIN_PACKAGE,
    "demo": f"{TRAIN_PACKAGE}.demo",
    "tokcount": f"{TRAIN_PACKAGE}.tokcount",
    "gguf_convert": f"{TRAIN_PACKAGE}.gguf_convert",
    "meta_count": f"{TRAIN_PACKAGE}.meta_count",
    "generate": f"{TRAIN_PACKAGE}.generate",
}


def module_args(job: str, *args: str) -> list[str]:
    """`-m <module> ARGS…` for a job (what `accelerate launch` and `python` take after their own options)."""
    return ["-m", JOBS[job], *args]


def job_command(job: str, *args: str) -> list[str]:
    """The whole command line of a job in this Python: [python, -m, module, ARGS…]."""
    return [sys.executable, *module_args(job, *args)]
