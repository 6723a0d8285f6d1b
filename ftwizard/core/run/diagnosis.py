"""Failure diagnosis in plain words, with the fix to try (from the reference failure-mode tables)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class Diagnosis:
    kind: str
    summary: str
    fix: str
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def diagnose(exc_text: str, cfg: dict[str, Any] | None = None, estimate_gib: float | None = None) -> Diagnosis:
    """Map an exception's text (type + message) to a diagnosis."""
    t = exc_text.lower()
    cfg = cfg or {}
    mb = int(cfg.get("micro_batch", 1) or 1)
    ga = int(cfg.get("gradient_accumulation", 1) or 1)
    if "out of memory" in t or "outofmemoryerror" in t or "cuda error: out of memory" in t:
        need = f" (estimated ~{estimate_gib:.1f} GiB)" if estimate_gib else ""
        if mb > 1:
            fix = (f"micro-batch {mb}{need} does not fit: try micro-batch {max(1, mb // 2)} with gradient "
                   f"accumulation {ga * 2} (same effective batch), turn on gradient checkpointing, or use QLoRA.")
        elif not cfg.get("gradient_checkpointing"):
            fix = "Turn on gradient checkpointing; then an 8-bit optimizer (adamw_bnb_8bit); then QLoRA."
        elif cfg.get("method") != "qlora":
            fix = "Switch to QLoRA (4-bit base model), or shorten max_seq_length."
        else:
            fix = f"Shorten max_seq_length (now {cfg.get('max_seq_length')}), use a smaller model, or more GPUs."
        return Diagnosis("oom", "The GPU ran out of memory.", fix, exc_text[-2000:])
    if "nan" in t and ("loss" in t or "not finite" in t or "diverg" in t):
        return Diagnosis("nan", "The loss became NaN (not a number): training diverged.",
                         f"Lower the learning rate (now {cfg.get('learning_rate')}) by 2–10×, keep warmup, "
                         "and check the data for corrupt or extremely long rows. With fp16, prefer bf16 if the GPU has it.",
                         exc_text[-2000:])
    if "no space left" in t or "errno 28" in t:
        return Diagnosis("disk_full", "The disk is full: a checkpoint could not be written.",
                         "Free disk space or lower save_total_limit; checkpoints already saved are intact.", exc_text[-2000:])
    if ("repository not found" in t or "is not a local folder" in t or "does not appear to have a file named config.json" in t
            or "can't load" in t or "not a valid model identifier" in t or "no such file or directory" in t and "config" in t):
        return Diagnosis("bad_model", "The model could not be loaded.",
                         "Check the model path or Hub id; a Hub model must be downloaded first (or allow downloads).",
                         exc_text[-2000:])
    if "dataset" in t and ("error" in t or "invalid" in t) or "datasetproblem" in t:
        return Diagnosis("bad_data", "The dataset has problems.",
                         "Run `ftwizard data <path>` and fix the listed lines.", exc_text[-2000:])
    if "trust_remote_code" in t:
        return Diagnosis("remote_code", "This model needs custom code from its repository.",
                         "Only if you trust the model's authors: set trust_remote_code: true in config.yaml.",
                         exc_text[-2000:])
    if "killed" in t or "sigkill" in t or "signal 9" in t:
        return Diagnosis("killed", "The training process was killed (often the system ran out of RAM).",
                         "Resume with `ftwizard train --resume <run>`; if it recurs, lower micro-batch or "
                         "close other programs.", exc_text[-2000:])
    return Diagnosis("crash", "Training stopped with an unexpected error.",
                     "Read stdout.log in the run directory; checkpoints already saved are intact and "
                     "`ftwizard train --resume <run>` continues from the last one.", exc_text[-2000:])


def killed_process_diagnosis(returncode: int | None) -> Diagnosis:
    """For a trainer that died without writing its own status (SIGKILL, segfault)."""
    sig = -returncode if returncode is not None and returncode < 0 else None
    text = f"process ended with {'signal ' + str(sig) if sig else 'exit code ' + str(returncode)}"
    if sig == 9:
        text += " (SIGKILL: killed)"
    return diagnose(text)


def fix_changes(kind: str | None, cfg: dict[str, Any]) -> dict[str, Any] | None:
    """The config changes behind a diagnosis' fix, for "relaunch with the fix" (None: no automatic fix).
    OOM: half the micro-batch with twice the accumulation and gradient checkpointing; at micro-batch 1 with
    checkpointing already on, a LoRA/DoRA run moves to QLoRA. NaN: half the learning rate."""
    if kind == "oom":  # the remedy ladder (core/plan/remedies.py): the runtime rungs together, else the next one
        from ftwizard.core.plan import remedies

        values = dict(cfg)
        changes: dict[str, Any] = {}
        for _r, ch in remedies.applicable(values, runtime=True):
            changes.update(ch)
            values.update(ch)
        if not changes:
            for r, ch in remedies.applicable(values, relaunch=True):
                if r.id == "qlora" and cfg.get("method") == "full":
                    break  # full → QLoRA changes the objective: the user decides
                changes = ch
                break
    elif kind == "nan":
        changes = {"learning_rate": float(cfg.get("learning_rate") or 2e-4) / 2}
    else:
        return None
    return {k: v for k, v in changes.items() if cfg.get(k) != v} or None
