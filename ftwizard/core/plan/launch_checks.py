"""Checks before launch: the dead ends a first run would otherwise hit ~a minute in ("unexpected error").

Pure and fast (no torch, no network): each check looks at the plan and this machine and returns a problem
with its fix, or nothing. The app shows them on the Launch step; a blocking one disables Launch.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ftwizard.core.hub_access import has_weights, hf_token_present, is_gated
from ftwizard.core.plan.cost import fmt_size
from ftwizard.core.plan.model_facts import find_cached_config

GiB = 2**30


@dataclass(frozen=True)
class LaunchProblem:
    id: str  # no_gpu, weights, ram, disk, gated; from the config's sources: model, data, targets, model_config …
    message: str  # what is wrong, in one line
    fix: str  # what to do about it
    blocking: bool = True
    field: str = ""  # the config field to change (model, data, target_modules), when the config is the cause

    def __str__(self) -> str:
        return f"{self.message}; {self.fix}"


@dataclass(frozen=True)
class LaunchContext:
    """What the checks need, gathered by the caller from the answers, the plan and the probe."""

    model: str  # a local folder or a Hub id
    planned_gpus: int  # GPUs the plan is for (0 = CPU plan)
    local_gpus: int  # GPUs this machine has
    planned_gpu_name: str | None
    peak_gib: float  # predicted peak (GPU memory; on a CPU plan: RAM)
    param_count: int
    trainable_params: int
    method: str
    run_dir: str
    allow_download: bool = False
    save_total_limit: int = 3


def weights_cached(model: str) -> bool:
    """A local folder with weight files, a local .gguf file (its weights are in it; converted at launch), or a Hub
    id whose cached snapshot has them (no network)."""
    path = Path(model).expanduser()
    if path.suffix.lower() == ".gguf":
        return path.is_file()
    if path.is_dir():
        return has_weights(path)
    cfg = find_cached_config(model)
    return cfg is not None and has_weights(cfg.parent)


def is_local_model(model: str) -> bool:
    """A folder or a model file (.gguf) on this machine, not a Hub id."""
    path = Path(model).expanduser()
    return path.is_dir() or (path.suffix.lower() == ".gguf" and path.is_file())


def download_gib(param_count: int) -> float:
    """The size of a 16-bit checkpoint: what a download of the weights costs."""
    return param_count * 2 / GiB


def total_ram_gib() -> float | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GiB
    except (ValueError, OSError, AttributeError):
        return None


def free_disk_gib(run_dir: str) -> float | None:
    p = Path(run_dir).expanduser().absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        return shutil.disk_usage(p).free / GiB
    except OSError:
        return None


def checkpoint_gib(ctx: LaunchContext) -> float:
    """Disk for the checkpoints kept plus the result: weights saved + AdamW state (8 bytes per trainable param)."""
    per = ctx.trainable_params * (2 + 8) / GiB
    if ctx.method == "full":
        per = ctx.param_count * 2 / GiB + ctx.trainable_params * 8 / GiB
    return per * (ctx.save_total_limit + 1)


def _size(gib: float) -> str:
    """1.5 GiB, 24 MiB: a tiny model's checkpoints are not "0.0 GiB"."""
    return fmt_size(gib, mib_below=1)


def check_launch(ctx: LaunchContext, ram_gib: float | None = None, disk_gib: float | None = None,
                 cached: bool | None = None, token: bool | None = None) -> list[LaunchProblem]:
    """Every problem found, blocking ones first. The optional arguments override the machine probes (tests)."""
    out: list[LaunchProblem] = []
    if ctx.planned_gpus > 0 and ctx.local_gpus == 0:
        out.append(LaunchProblem(
            "no_gpu", f"the plan is for {ctx.planned_gpus}× {ctx.planned_gpu_name or 'GPU'} but this machine has no GPU",
            "'Write the run folder only' below and run it on a GPU machine (launch.sh), or plan for CPU only "
            "on the Hardware step (tiny models only)"))
    elif 0 < ctx.local_gpus < ctx.planned_gpus:
        out.append(LaunchProblem(
            "no_gpu", f"the plan is for {ctx.planned_gpus} GPUs but this machine has {ctx.local_gpus}",
            "plan for this machine on the Hardware step, or launch on a machine with more GPUs"))
    is_local = is_local_model(ctx.model)
    if cached is None:
        cached = weights_cached(ctx.model)
    if not cached:
        size = f" (about {download_gib(ctx.param_count):.1f} GiB)" if ctx.param_count else ""
        if is_local:
            out.append(LaunchProblem("weights", f"{ctx.model} has a config.json but no weight files (*.safetensors)",
                                     "copy the weights into the folder, or pick a folder that has them"))
        elif not ctx.allow_download:
            out.append(LaunchProblem("weights", f"the weights of {ctx.model} are not in the local Hugging Face cache{size}",
                                     f"turn on 'allow download' below, or fetch them first: hf download {ctx.model}"))
        else:
            out.append(LaunchProblem("weights", f"the weights of {ctx.model} will be downloaded first{size}",
                                     "make sure the disk has room; the download resumes if interrupted", blocking=False))
    if not is_local and not cached and is_gated(ctx.model):
        if not (hf_token_present() if token is None else token):
            out.append(LaunchProblem(
                "gated", f"{ctx.model} is gated: the download needs an accepted licence and a Hugging Face token",
                "accept the licence on the model's Hub page, then `hf auth login` (or set HF_TOKEN)"))
    if ctx.planned_gpus == 0:
        ram = total_ram_gib() if ram_gib is None else ram_gib
        if ram is not None and ctx.peak_gib > ram * 0.9:
            out.append(LaunchProblem(
                "ram", f"the CPU plan needs ~{ctx.peak_gib:.1f} GiB of RAM; this machine has {ram:.1f} GiB",
                "pick a smaller model (under 1B parameters for a CPU), shorter sequences, or plan for a GPU"))
    need = checkpoint_gib(ctx)
    disk = free_disk_gib(ctx.run_dir) if disk_gib is None else disk_gib
    if not cached and ctx.allow_download:
        need += download_gib(ctx.param_count)
    if disk is not None and need > disk:
        full = "the disk is full where the run goes" if disk < 0.01 else f"{_size(disk)} is free where the run goes"
        out.append(LaunchProblem(
            "disk", f"checkpoints need ~{_size(need)} of disk; {full}",
            "free some space, or choose a run directory on a bigger disk"))
    return sorted(out, key=lambda p: not p.blocking)


__all__ = ["LaunchContext", "LaunchProblem", "check_launch", "download_gib", "weights_cached"]
