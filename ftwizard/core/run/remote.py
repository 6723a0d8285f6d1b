"""The same run on rented or shared GPUs (pure, torch-free): a SkyPilot task, a Slurm `sbatch` script, or a
multi-machine accelerate config, generated from a RunConfig (`ftwizard export`).

What travels: the run config rewritten for the other machine (`<stem>.config.yaml`: data, model and other local
paths pointed at where they land, the GPU count, and gradient accumulation scaled so the effective batch stays the
planned one) and the accelerate config (`<stem>.accelerate.yaml`, from `core/run/accel.py`, the generator
`ftwizard train` uses for several GPUs, with `num_machines` set). The data split travels as it is: a run's
`<run>/data` (or the split made by the export), so every machine trains on the same rows.

One machine runs `ftwizard train CONFIG --out RUN` (which itself goes through `accelerate launch` for several GPUs,
with the shipped accelerate config). Several machines create the run directory from the config and run the trainer
through `accelerate launch --num_machines … --machine_rank … --main_process_ip …` on every machine, as
`ftwizard train` does on one.

Installing ftwizard on a SkyPilot cluster: a CUDA build of torch first, then ftwizard — by default from the local
source tree (uploaded with a file mount and `pip install`ed: what runs there is exactly the code that planned the
run), or any pip spec (`--install "ftwizard==X"`, `--install "git+https://…"`). Tokens are never written: SkyPilot
gets `secrets: {HF_TOKEN: null}` (pass it with `sky launch --secret HF_TOKEN`), Slurm passes the submitting shell's
environment (sbatch's default `--export=ALL`).
"""

from __future__ import annotations

import math
import shlex
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import yaml

from ftwizard.core.run.accel import accelerate_config
from ftwizard.core.run.config import RunConfig

Target = Literal["skypilot", "slurm", "accelerate"]
TARGETS: tuple[str, ...] = ("skypilot", "slurm", "accelerate")
PORT = 29500
JOB = "ftwizard-job"  # the remote folder (relative to the home directory) that holds the config, data and run
CUDA_TORCH = "pip install torch --index-url https://download.pytorch.org/whl/cu128"
SECRETS = ("HF_TOKEN",)  # passed by name, never by value
# RunConfig fields that may name a local file or folder the other machine needs
PATH_FIELDS = ("model", "init_from", "teacher_model", "deepspeed_config", "chat_template")


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings (setup, run) as YAML literal blocks, as people write them."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _str)


@dataclass
class Shape:
    gpu: str  # the accelerator name (SkyPilot's, e.g. A100-80GB)
    gpus: int = 1  # per machine
    nodes: int = 1

    @property
    def processes(self) -> int:
        return max(1, self.gpus) * max(1, self.nodes)


@dataclass
class Export:
    files: dict[str, str]  # file name (beside the main file) → text; the main file first
    mounts: dict[str, str] = field(default_factory=dict)  # remote path → local path (SkyPilot file_mounts)
    notes: list[str] = field(default_factory=list)


def time_limit(hours: float | None, default_h: float = 24.0) -> str:
    """Slurm `--time` (H:MM:SS) from the planned hours: twice the plan plus an hour (model download, preflight,
    evaluations, checkpoints), rounded up to 15 minutes; `default_h` without a plan."""
    h = default_h if not hours or hours <= 0 else 2 * hours + 1
    minutes = int(math.ceil(h * 60 / 15) * 15)
    return f"{minutes // 60}:{minutes % 60:02d}:00"


def scaled_accumulation(cfg: RunConfig, processes: int) -> tuple[int, str | None]:
    """Gradient accumulation that keeps the planned effective batch (micro × accumulation × GPUs) on `processes`
    GPUs, with a note when it changes or cannot be kept exactly."""
    before = cfg.micro_batch * cfg.gradient_accumulation * max(1, cfg.num_gpus)
    accum = max(1, round(before / (cfg.micro_batch * processes)))
    after = cfg.micro_batch * accum * processes
    if accum == cfg.gradient_accumulation and after == before:
        return accum, None
    same = "the same effective batch" if after == before else f"effective batch {before} → {after} (nearest)"
    return accum, (f"gradient accumulation {cfg.gradient_accumulation} → {accum} on {processes} GPUs: {same}")


def multi_accelerate(cfg: RunConfig, shape: Shape, model_type: str | None = None) -> tuple[dict[str, Any], str | None]:
    """The accelerate config `ftwizard train` generates for several GPUs (core/run/accel.py), for `nodes` machines:
    `num_processes` counts every GPU of every machine; each machine passes its own --machine_rank."""
    acc, note = accelerate_config(cfg.engine, cfg.method, shape.processes, cfg.precision, model_type)
    acc["num_machines"] = max(1, shape.nodes)
    if shape.nodes > 1:
        acc["main_process_port"] = PORT
    return acc, note


def _local_path(value: str) -> Path | None:
    if not value:
        return None
    p = Path(value.split("#", 1)[0]).expanduser()
    return p.resolve() if p.exists() else None


def remote_config(cfg: RunConfig, shape: Shape, *, data_dir: Path | None, base: str,
                  accelerate_file: str | None) -> tuple[RunConfig, dict[str, str], list[str]]:
    """The config as the other machine runs it: local paths → `base/<name>` (and the mounts that put them there),
    the GPU count, the accumulation that keeps the effective batch. `data_dir` is a split folder (train.jsonl …)
    to use instead of the config's data."""
    mounts: dict[str, str] = {}
    notes: list[str] = []
    changes: dict[str, Any] = {"num_gpus": shape.processes}
    accum, note = scaled_accumulation(cfg, shape.processes)
    changes["gradient_accumulation"] = accum
    if note:
        notes.append(note)
    if data_dir is not None:
        mounts[f"{base}/data"] = str(data_dir)
        changes["data"] = f"{base}/data"
    else:
        src = _local_path(cfg.data)
        if src is not None:
            if "#" in cfg.data:  # a LLaMA-Factory dataset_info.json#NAME: its folder holds the files it names
                mounts[f"{base}/data-src"] = str(src.parent)
                changes["data"] = f"{base}/data-src/{src.name}#{cfg.data.split('#', 1)[1]}"
            else:
                mounts[f"{base}/data-src/{src.name}"] = str(src)
                changes["data"] = f"{base}/data-src/{src.name}"
            notes.append(f"the data split is made on the other machine from {src.name} (seed {cfg.seed}: the same "
                         "rows on every machine)")
        elif cfg.data:
            changes["data_allow_download"] = True
            notes.append(f"data {cfg.data}: a Hub dataset, downloaded there (data_allow_download: true)")
    for key in PATH_FIELDS:
        value = getattr(cfg, key)
        src = _local_path(value) if isinstance(value, str) else None
        if src is None or (key == "chat_template" and value in ("auto", "chatml")):
            continue
        mounts[f"{base}/{key}-{src.name}"] = str(src)
        changes[key] = f"{base}/{key}-{src.name}"
        if key == "model" and src.is_dir():
            notes.append(f"model {src} is a local folder: it is uploaded (its size counts); a Hub id downloads there")
    if cfg.model_gguf:
        changes["model_gguf"] = None  # the converted folder travels; the .gguf file stays here
    if cfg.accelerate_config:
        src = _local_path(cfg.accelerate_config)
        if src is not None:
            mounts[f"{base}/accelerate-own.yaml"] = str(src)
            changes["accelerate_config"] = f"{base}/accelerate-own.yaml"
            notes.append("your own accelerate_config is used as it is: check num_machines/num_processes in it")
    elif accelerate_file and shape.nodes == 1 and shape.processes > 1:
        changes["accelerate_config"] = accelerate_file
    return replace(cfg, **changes), mounts, notes


def _accel_launch(acc_file: str, processes: int, run: str, *, nodes_var: str, rank_var: str, ip_expr: str) -> str:
    return (f"accelerate launch --config_file {acc_file} --num_machines {nodes_var} --machine_rank {rank_var} "
            f"--main_process_ip {ip_expr} --main_process_port {PORT} --num_processes {processes} "
            f"-m ftwizard.train {run}")


def skypilot_task(cfg: RunConfig, shape: Shape, *, stem: str, config_local: str, accelerate_local: str | None,
                  data_dir: Path | None = None, install: str | None = None, source_dir: Path | None = None,
                  model_type: str | None = None, name: str = "ftwizard") -> Export:
    """A SkyPilot task (`sky launch TASK.yaml --secret HF_TOKEN`) and the files it uploads."""
    base = f"~/{JOB}"
    rel = JOB  # the same folder, relative to the home directory where the commands run
    acc_remote = f"{rel}/accelerate.yaml" if accelerate_local else None
    rcfg, mounts, notes = remote_config(cfg, shape, data_dir=data_dir, base=rel, accelerate_file=acc_remote)
    files: dict[str, str] = {}
    acc, note = multi_accelerate(cfg, shape, model_type)
    if note:
        notes.append(note)
    mounts = {f"~/{k}": v for k, v in mounts.items()}
    mounts[f"{base}/config.yaml"] = config_local
    if accelerate_local and shape.processes > 1 and not cfg.accelerate_config:
        mounts[f"{base}/accelerate.yaml"] = accelerate_local
        files[Path(accelerate_local).name] = yaml.safe_dump(acc, sort_keys=False)
    files[Path(config_local).name] = rcfg.to_yaml()
    if install:
        pip = f"pip install {shlex.quote(install)}"
    elif source_dir is not None:
        mounts["~/ftwizard-src"] = str(source_dir)
        pip = "pip install ~/ftwizard-src"
    else:
        pip = "pip install ftwizard"
    setup = "\n".join(["set -e", CUDA_TORCH, pip, "pip install accelerate", ""])
    run_dir = f"{rel}/run"
    if shape.nodes > 1:
        acc_file = f"{rel}/accelerate-own.yaml" if cfg.accelerate_config else f"{rel}/accelerate.yaml"
        launch = _accel_launch(acc_file, shape.processes, run_dir, nodes_var="$SKYPILOT_NUM_NODES",
                               rank_var="$SKYPILOT_NODE_RANK", ip_expr='"$MAIN_IP"')
        run = "\n".join([
            "set -e", "cd ~",
            'MAIN_IP=$(echo "$SKYPILOT_NODE_IPS" | head -n1)',
            f"ftwizard train {rel}/config.yaml --check",
            f"mkdir -p {run_dir}", f"cp -n {rel}/config.yaml {run_dir}/config.yaml",
            launch, ""])
    else:
        run = "\n".join(["set -e", "cd ~", f"ftwizard train {rel}/config.yaml --out {run_dir}", ""])
    task: dict[str, Any] = {
        "name": name,
        "resources": {"accelerators": f"{shape.gpu}:{max(1, shape.gpus)}"},
        "num_nodes": max(1, shape.nodes),
        "envs": {"PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false"},
        "secrets": {k: None for k in SECRETS},
        "file_mounts": mounts,
        "setup": setup,
        "run": run,
    }
    head = (f"# SkyPilot task from `ftwizard export` ({cfg.trainer}, {cfg.method}, {cfg.model}).\n"
            f"# sky launch -c ftwizard {stem}.yaml --secret HF_TOKEN   (the token is read from your environment)\n"
            f"# The run directory is ~/{run_dir} on the first machine: sky rsync-down ftwizard ~/{run_dir} .\n")
    text = head + yaml.dump(task, Dumper=_BlockDumper, sort_keys=False, default_flow_style=False, width=200)
    return Export({f"{stem}.yaml": text, **files}, mounts, notes)


SBATCH_OPTIONS = ("job-name", "nodes", "ntasks-per-node", "gpus-per-node", "cpus-per-task", "time", "output")


def slurm_script(cfg: RunConfig, shape: Shape, *, stem: str, config_local: str, accelerate_local: str | None,
                 data_dir: Path | None = None, model_type: str | None = None, name: str = "ftwizard") -> Export:
    """An sbatch script for a cluster whose machines share a filesystem (paths stay absolute: run the export
    where the cluster sees the files, or copy them to the same paths)."""
    rcfg, _mounts, notes = remote_config(cfg, shape, data_dir=data_dir, base="", accelerate_file=accelerate_local)
    # on a shared filesystem nothing moves: the paths stay the local ones
    keep: dict[str, Any] = {"data": str(data_dir) if data_dir is not None else _abs(cfg.data)}
    for key in PATH_FIELDS:
        value = getattr(cfg, key)
        if isinstance(value, str) and _local_path(value) is not None:
            keep[key] = _abs(value)
    rcfg = replace(rcfg, **keep)
    if cfg.accelerate_config:
        rcfg = replace(rcfg, accelerate_config=_abs(cfg.accelerate_config))
    if cfg.model_gguf:
        rcfg = replace(rcfg, model_gguf=cfg.model_gguf)
    acc, note = multi_accelerate(cfg, shape, model_type)
    if note:
        notes.append(note)
    files: dict[str, str] = {Path(config_local).name: rcfg.to_yaml()}
    multi = shape.processes > 1 and not cfg.accelerate_config
    if multi and accelerate_local:
        files[Path(accelerate_local).name] = yaml.safe_dump(acc, sort_keys=False)
    q = shlex.quote
    sb = {"job-name": name, "nodes": str(max(1, shape.nodes)), "ntasks-per-node": "1",
          "gpus-per-node": str(max(1, shape.gpus)),
          "cpus-per-task": str(8 * max(1, shape.gpus)), "time": time_limit(cfg.estimate_hours), "output": "%x-%j.out"}
    lines = ["#!/bin/bash", *(f"#SBATCH --{k}={v}" for k, v in sb.items()),
             f"# from `ftwizard export` ({cfg.trainer}, {cfg.method}, {cfg.model}); --time is twice the planned "
             f"{cfg.estimate_hours or '?'} h plus an hour.",
             f"# GPU type planned: {shape.gpu} (your cluster's name for it: --gpus-per-node=TYPE:N, or --constraint).",
             "# Needs ftwizard, accelerate and a CUDA torch in the environment the job starts in (module load / conda",
             "# activate / source venv here). HF_TOKEN: export it before sbatch (sbatch passes your environment).",
             "set -euo pipefail", 'export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false',
             f"CONFIG={q(config_local)}",
             'RUN="${FTWIZARD_RUN:-$PWD/runs/ftwizard-$SLURM_JOB_ID}"']
    if shape.nodes > 1:
        acc_file = q(_abs(cfg.accelerate_config)) if cfg.accelerate_config else q(accelerate_local or "")
        launch = _accel_launch(acc_file, shape.processes, '"$RUN"', nodes_var="$SLURM_NNODES",
                               rank_var="$SLURM_NODEID", ip_expr='"$MAIN_IP"')
        lines += ['MAIN_IP=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)',
                  'ftwizard train "$CONFIG" --check',
                  'mkdir -p "$RUN" && cp "$CONFIG" "$RUN/config.yaml"',
                  "export MAIN_IP RUN",
                  "# one task per machine; each starts its GPUs' processes with its own machine rank",
                  f"srun --ntasks-per-node=1 bash -c {q(launch)}"]
    else:
        lines += ['ftwizard train "$CONFIG" --out "$RUN"']
    return Export({f"{stem}.sbatch": "\n".join(lines) + "\n", **files}, {}, notes)


def accelerate_export(cfg: RunConfig, shape: Shape, *, stem: str, model_type: str | None = None) -> Export:
    """The multi-GPU / multi-machine accelerate config and the line each machine runs."""
    acc, note = multi_accelerate(cfg, shape, model_type)
    notes = [note] if note else []
    accum, n2 = scaled_accumulation(cfg, shape.processes)
    if n2:
        notes.append(n2 + f": set gradient_accumulation: {accum} in the run's config.yaml")
    head = (f"# accelerate config from `ftwizard export` ({acc['distributed_type']}, {shape.processes} processes on "
            f"{max(1, shape.nodes)} machine(s)). On each machine, with the run directory RUN holding config.yaml:\n"
            f"#   accelerate launch --config_file {stem}.yaml --machine_rank R --main_process_ip IP_OF_RANK_0 "
            f"-m ftwizard.train RUN\n")
    return Export({f"{stem}.yaml": head + yaml.safe_dump(acc, sort_keys=False)}, {}, notes)


def _abs(value: str) -> str:
    p = _local_path(value)
    if p is None:
        return value
    return str(p) + ("#" + value.split("#", 1)[1] if "#" in value else "")
