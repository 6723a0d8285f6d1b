"""Failure diagnosis in plain words, with the fix to try (from the reference failure-mode tables)."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path
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
    if "out of memory" in t or "outofmemoryerror" in t or "cuda error: out of memory" in t:
        need = f" (estimated ~{estimate_gib:.1f} GiB)" if estimate_gib else ""
        from ftwizard.core.plan import remedies  # the one remedy ladder, in its order

        steps = [r.label(cfg) for r, _ch in remedies.applicable(cfg)] if cfg else []
        fix = (f"This setup{need} does not fit the GPU. Try: " + "; then ".join(steps[:3]) + "."
               if steps else "Use a smaller model, shorter sequences, or a GPU with more memory.")
        return Diagnosis("oom", "The GPU ran out of memory.", fix, exc_text[-2000:])
    if "num_samples should be a positive integer" in t or "num_samples=0" in t or "no training rows left" in t:
        return Diagnosis("bad_data", "No training rows were left after tokenization (every example was dropped as "
                                     "too long for max_seq_length, or the train split is empty).",
                         f"Raise max_seq_length (now {cfg.get('max_seq_length')}) — the chat template adds tokens "
                         "to every row — or check the split with `ftwizard data <path>`.", exc_text[-2000:])
    if "configchanged:" in t:  # core/run/fingerprint.py: an edit a resume cannot honour
        line = exc_text[t.index("configchanged:") + len("configchanged:"):].strip().splitlines()[0]
        return Diagnosis("config_changed", f"Not resumed: {line}.",
                         "Undo that edit in config.yaml and resume, or train the new config as a new run: "
                         "ftwizard train CONFIG.yaml", exc_text[-2000:])
    if "rewardfailure:" in t:  # train/rewards.py: a GRPO reward returned NaN/inf or never returned
        line = exc_text[t.index("rewardfailure:") + len("rewardfailure:"):].strip().splitlines()[0]
        slow = "took longer than" in line
        fix = (f"Make the reward return faster (a network call needs its own timeout), or raise grpo_reward_timeout "
               f"(now {cfg.get('grpo_reward_timeout')} s) in config.yaml; then `ftwizard train --resume <run>`."
               if slow else "Make the reward return a finite number for every completion (None skips one); try it "
               "by hand on a few completions, then `ftwizard train --resume <run>`.")
        return Diagnosis("bad_reward", f"GRPO stopped: {line[:1].upper()}{line[1:]}.", fix, exc_text[-2000:])
    if "nan" in t and ("loss" in t or "not finite" in t or "diverg" in t):
        return Diagnosis("nan", "The loss became NaN (not a number): training diverged.",
                         f"Lower the learning rate (now {cfg.get('learning_rate')}) by 2–10×, keep warmup, "
                         "and check the data for corrupt or extremely long rows. With fp16, prefer bf16 if the GPU has it.",
                         exc_text[-2000:])
    if is_disk_full(t):
        return Diagnosis("disk_full", "The disk is full: the run could not write its checkpoint or logs.",
                         "Free disk space or lower save_total_limit, then `ftwizard train --resume <run>`; "
                         "checkpoints already saved are kept (a partial one is set aside on resume).", exc_text[-2000:])
    if "nomatchingpeftmoduleerror" in t or "target modules" in t and "not found in the base model" in t:
        return Diagnosis("bad_targets", "LoRA's target_modules name no layer of this model.",
                         "Set target_modules: all-linear (or attention / minimal), or names from "
                         "`ftwizard info <model>`; `ftwizard train --check` lists the model's layers.", exc_text[-2000:])
    if "gatedrepoerror" in t or "gated repo" in t or "access to model" in t and "restricted" in t:
        return Diagnosis("gated_model", "The model is gated: its license must be accepted and a token given.",
                         "Accept the license on the model's Hub page, then `hf auth login` (or set HF_TOKEN) and resume.",
                         exc_text[-2000:])
    if "localentrynotfounderror" in t or "offline mode" in t or "outgoing traffic has been disabled" in t:
        return Diagnosis("bad_model", "The model is not downloaded and the Hub cannot be reached (offline).",
                         "Download it first (`hf download <id>`) on a machine with network, or point model: at a local folder.",
                         exc_text[-2000:])
    if "tokenizer" in t and ("can't load" in t or "couldn't instantiate" in t or "not found" in t
                             or "does not appear to have" in t):
        return Diagnosis("bad_model", "The model's tokenizer could not be loaded (tokenizer files missing?).",
                         "Put tokenizer.json / tokenizer_config.json in the model folder (copy them from the base model).",
                         exc_text[-2000:])
    if "dataerror" in t or "dataset" in t and ("no such file" in t or "not found" in t or "doesn't exist" in t):
        return Diagnosis("bad_data", "The dataset could not be read (missing, unreadable or unusable).",
                         "Check the path in config.yaml (data:) with `ftwizard data <path>`, fix it, then resume.",
                         exc_text[-2000:])
    if "does not appear to have a file named" in t or "no file named" in t and "found in directory" in t:
        return Diagnosis("bad_model", "The model folder is incomplete (a weights or config file is missing).",
                         "Point model: at a complete model folder (config.json, *.safetensors, tokenizer files).",
                         exc_text[-2000:])
    if "couldn't connect to" in t or "max retries exceeded" in t and "huggingface" in t:
        return Diagnosis("bad_model", "The Hugging Face Hub could not be reached to download the model.",
                         "Check the network, or download the model first (`hf download <id>`) and use the folder.",
                         exc_text[-2000:])
    if ("repository not found" in t or "is not a local folder" in t or "does not appear to have a file named config.json" in t
            or "can't load" in t or "not a valid model identifier" in t or "no such file or directory" in t and "config" in t):
        return Diagnosis("bad_model", "The model could not be loaded.",
                         "Check the model path or Hub id; a Hub model must be downloaded first (or allow downloads).",
                         exc_text[-2000:])
    said = re.search(r"dataset error: ([^\n]+)", exc_text)
    if said:  # the trainer's own words: what does not fit and, after the dash, what to do
        what, _, todo = said.group(1).strip().partition(" — ")
        return Diagnosis("bad_data", f"The dataset does not suit this run: {what.rstrip('.')}.",
                         (todo[:1].upper() + todo[1:]) if todo else
                         "Run `ftwizard data <path>` and fix the listed lines.", exc_text[-2000:])
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


DISK_FULL_MARKERS = ("no space left", "errno 28", "enospc", "unexpected pos", "pytorchstreamwriter failed",
                     "file write failed", "storagefull", "code: 28", "disk quota exceeded")


def is_disk_full(text: str) -> bool:
    """ENOSPC in any of its spellings: Python's, torch's zip writer ("unexpected pos …", "PytorchStreamWriter
    failed writing file"), safetensors' Rust IoError (`StorageFull`, `code: 28`)."""
    t = text.lower()
    return any(m in t for m in DISK_FULL_MARKERS)


def killed_process_diagnosis(returncode: int | None, log_tail: str = "") -> Diagnosis:
    """For a trainer that died without writing its own status: a signal (SIGKILL: killed, often out of RAM),
    or an exit code ≥ 1 whose cause is looked for in the end of its log (disk full, …) — never "killed"."""
    sig = -returncode if returncode is not None and returncode < 0 else None
    text = f"process ended with {'signal ' + str(sig) if sig else 'exit code ' + str(returncode)}"
    if sig == 9:
        return diagnose(text + " (SIGKILL: killed)")
    if sig is None and log_tail:
        d = diagnose(log_tail)
        if d.kind != "crash":
            d.detail = f"{text}\n{d.detail}"
            return d
    d = diagnose(text)
    if sig:
        d.summary = f"The training process ended with signal {sig}."
    elif returncode not in (None, 0):
        d.summary = f"The training process exited with code {returncode} without saying why."
    return d


def disk_note(run: str | Path) -> str:
    """How much space a checkpoint needs (the size of the newest complete one) and how much is free."""
    import shutil

    from ftwizard.core.run.layout import RunDir

    rd = RunDir(run)
    need = 0
    if rd.checkpoints.is_dir():
        done = [p for p in rd.checkpoints.glob("checkpoint-*") if (p / "trainer_state.json").is_file()]
        if done:
            last = max(done, key=lambda p: p.stat().st_mtime)
            need = sum(f.stat().st_size for f in last.rglob("*") if f.is_file())
    try:
        free = shutil.disk_usage(rd.path).free
    except OSError:
        free = None
    parts = []
    if need:
        parts.append(f"a checkpoint needs about {_human(need)}")
    if free is not None:
        parts.append(f"{_human(free)} free on the run's disk")
    text = "; ".join(parts)
    return (text[0].upper() + text[1:] + ".") if parts else ""


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


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


def fill_in(text: str, run: str | Path) -> str:
    """A diagnosis's `<run>` and `<path>` with this run's directory and data (the diagnosis is written without them)."""
    text = text.replace("<run>", str(run))
    if "<path>" in text:
        try:
            from ftwizard.core.run.layout import RunDir

            text = text.replace("<path>", RunDir(run).config().data or "<path>")
        except (OSError, ValueError, TypeError):
            pass
    return text
