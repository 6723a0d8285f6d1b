"""Every check before a launch, in one list, for `ftwizard train` and the app's Launch step alike.

Two kinds of checks, each kept where it belongs and merged here:
- the config's sources (core/run/source_checks.py): the model folder or file, explicit target modules, the data;
- this machine (core/plan/launch_checks.py): a GPU plan without a GPU, weights not cached, RAM, disk.

A cause found by both (weights not cached, a gated model) is reported once. Blocking problems come first.
Pure and fast: no torch, no network, no model loaded (a GGUF file is not converted here).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ftwizard.core.plan.launch_checks import LaunchContext, LaunchProblem, check_launch
from ftwizard.core.run.config import RunConfig
from ftwizard.core.run.source_checks import SourceProblem, check_before_launch

# a source problem's id: the machine check's id where both name the same cause
_SOURCE_IDS = {"offline": "weights", "weights": "weights", "gated": "gated", "targets": "targets",
               "tokenizer": "tokenizer", "config": "model_config", "quantized": "quantized"}


def as_launch_problem(p: SourceProblem) -> LaunchProblem:
    """A config-source problem in the Launch step's shape (always blocking)."""
    pid = _SOURCE_IDS.get(p.kind, p.field)  # missing / unreadable: the field (model, data)
    return LaunchProblem(pid, p.message, p.fix, blocking=True, field=p.field)


def machine_context(cfg: RunConfig, run_dir: str | Path, local_gpus: int) -> LaunchContext | None:
    """What the machine checks need, read from a config alone (the CLI has no plan on screen): None when the model's
    size cannot be read without loading or converting it (a GGUF file not converted yet)."""
    from ftwizard.core.plan.memory import trainable_count
    from ftwizard.core.plan.model_facts import ModelFactsError, load_model_facts

    model = cfg.model.strip()
    if not model:
        return None
    if model.lower().endswith(".gguf"):  # its converted checkpoint, once converted (not converted here)
        from ftwizard.core.plan.gguf import find_converted

        folder = find_converted(model)
        if folder is None:
            return None
        model = str(folder)
    try:
        facts = load_model_facts(model, exact=False)
    except (ModelFactsError, OSError, ValueError):
        return None
    try:
        trainable = trainable_count(facts, cfg.method, cfg.rank, facts.resolve_targets(cfg.target_modules),
                                    cfg.virtual_tokens)
    except (KeyError, ValueError):  # target names the model does not have: the source checks name them
        trainable = 0
    return LaunchContext(
        model=cfg.model, planned_gpus=local_gpus, local_gpus=local_gpus, planned_gpu_name=None,
        peak_gib=(cfg.estimate_gib or 0.0) if local_gpus == 0 else 0.0, param_count=facts.param_count,
        trainable_params=trainable, method=cfg.method, run_dir=str(run_dir), allow_download=True,
        save_total_limit=cfg.save_total_limit)


def machine_problems_for(cfg: RunConfig, run_dir: str | Path, local_gpus: int, *, ram_gib: float | None = None,
                         disk_gib: float | None = None) -> list[LaunchProblem]:
    """The machine checks a config alone can answer: RAM (a CPU run) and disk for the checkpoints. Whether the
    weights are here is the source checks' question (online, the trainer downloads them)."""
    notes = cpu_notes(cfg) if local_gpus == 0 else []
    ctx = machine_context(cfg, run_dir, local_gpus)
    if ctx is None:
        return notes
    found = [p for p in check_launch(ctx, ram_gib=ram_gib, disk_gib=disk_gib, cached=True) if p.id in ("ram", "disk")]
    return found + notes


def resume_disk_problem(run: str | Path, disk_gib: float | None = None) -> LaunchProblem | None:
    """A resume onto a disk without room for one more checkpoint (the size of the newest one the run wrote): it would
    train up to its next save and fail there again, so it is refused before it starts. The checkpoints already
    written count in the whole run's need, which is why that figure is only a warning on a resume."""
    from ftwizard.core.plan.launch_checks import GiB, _size, free_disk_gib
    from ftwizard.core.run.layout import RunDir

    rd = RunDir(run)
    try:
        newest = max(rd.checkpoints.glob("checkpoint-*"), key=lambda p: p.stat().st_mtime, default=None)
        size = sum(f.stat().st_size for f in newest.rglob("*") if f.is_file()) / GiB if newest else 0.0
    except OSError:
        return None
    free = free_disk_gib(str(rd.path)) if disk_gib is None else disk_gib
    need = size * 1.05 + 2 / 1024  # the next checkpoint, and a little for the logs and events
    if not size or free is None or free >= need:
        return None
    full = "the disk is still full" if free < 0.001 else f"only {_size(free)} is free"
    return LaunchProblem("disk", f"{full} where the run is: the next checkpoint needs ~{_size(need)}, so the resumed "
                                 "run would fail at its next save",
                         "free some space (this run's checkpoints and logs are kept), then resume again")


def cpu_notes(cfg: RunConfig) -> list[LaunchProblem]:
    """Settings that run on a machine without a GPU, but not as their name suggests (warnings, not refusals)."""
    out = []
    if cfg.method == "qlora":
        out.append(LaunchProblem("cpu_qlora", "method: qlora on a machine without a GPU: bitsandbytes' 4-bit runs on "
                                 "the CPU, slower than 16-bit and with a kernel warning in the log",
                                 "on a CPU, method: lora on a small model (under ~0.5B) is faster", blocking=False,
                                 field="method"))
    if cfg.precision in ("bf16", "fp16"):
        out.append(LaunchProblem("cpu_precision", f"precision: {cfg.precision} on a machine without a GPU: the CPU "
                                 "computes it slowly unless it has native 16-bit units",
                                 "precision: auto (fp32 on the CPU) is the safe choice here", blocking=False,
                                 field="precision"))
    return out


def before_launch(cfg: RunConfig, *, machine: Sequence[LaunchProblem] = (), offline: bool | None = None,
                  run: str | Path | None = None) -> list[LaunchProblem]:
    """The config's source problems, then the machine's (given by the caller: the app's Launch step from its plan,
    the CLI from `machine_problems_for`), one per cause, blocking first: where both name a cause (weights not here,
    a gated model), the caller's words are kept, since they name its own switches. `run`: a resume (its own data
    split)."""
    mine = {p.id for p in machine}
    out = [p for p in (as_launch_problem(s) for s in check_before_launch(cfg, offline=offline, run=run))
           if p.id not in mine]
    return sorted([*out, *machine], key=lambda p: not p.blocking)


__all__ = ["as_launch_problem", "before_launch", "cpu_notes", "machine_context", "machine_problems_for",
           "resume_disk_problem"]
