"""`ftwizard export RUN_OR_CONFIG --to skypilot|slurm|accelerate`: the same training on rented GPUs (a SkyPilot
task), a Slurm cluster (an sbatch script) or several machines (an accelerate config). Generation is
`core/run/remote.py`; the GPU type and count default to the cheapest rented shape that fits (`core/plan/rent.py`)."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import Any

from ftwizard.cli._common import CliError, bounded, config_value, console, err_console, esc


def register(sub: Any) -> None:
    from ftwizard.core.run.remote import TARGETS

    p = sub.add_parser("export", help="write a SkyPilot task, a Slurm script or a multi-machine accelerate config "
                                      "for a run or a config")
    p.add_argument("source", metavar="RUN_OR_CONFIG", help="a run directory or a config.yaml")
    p.add_argument("--to", required=True, choices=TARGETS, help="what to write")
    p.add_argument("--out", metavar="FILE", help="the main file (default ftwizard-<target>.yaml/.sbatch here); the "
                                                  "config and accelerate config it uses are written beside it")
    p.add_argument("--gpu", help="GPU type, SkyPilot's name (A100-80GB, H100, L4 …); default: the cheapest rented "
                                 "card that fits")
    p.add_argument("--gpus", type=config_value("num_gpus"), help="GPUs per machine")
    p.add_argument("--nodes", type=bounded(int, 1, 1024, "a number of machines"), default=1, help="machines")
    p.add_argument("--install", metavar="PIP_SPEC", help="SkyPilot: install ftwizard with this pip spec "
                                                          "(ftwizard==X, git+https://…) instead of uploading this source")
    p.set_defaults(func=cmd_export)


def _load(source: str) -> tuple[Any, Path | None, str]:
    """(RunConfig, the run's split folder or None, a name)."""
    from ftwizard.core.run.config_load import load_any
    from ftwizard.core.run.layout import RunDir

    path = Path(source)
    try:
        if path.is_dir():
            rd = RunDir(path)
            if not rd.config_path.exists():
                raise CliError(f"{source}: not a run directory (no config.yaml)", "give a run directory or a config.yaml")
            cfg = rd.config()
            split = rd.data_dir if rd.split_file("train").exists() else None
            return cfg, split, path.resolve().name
        cfg, _ = load_any(path)
        return cfg, None, path.stem
    except FileNotFoundError:
        raise CliError(f"{source}: no such file or folder", "give a run directory or a config.yaml") from None
    except ValueError as exc:
        raise CliError(f"{source}: {exc}") from None


def _split_here(cfg: Any, out_dir: Path) -> Path | None:
    """A local data file is split here once (as the trainer would, same seed), so every machine trains on the same
    rows and no two ranks split into one folder at the same time. None: nothing local to split."""
    src = Path(cfg.data.split("#", 1)[0]).expanduser() if cfg.data else None
    if src is None or not src.exists() or (src.is_dir() and (src / "train.jsonl").exists()):
        return src.resolve() if src is not None and src.is_dir() and (src / "train.jsonl").exists() else None
    from ftwizard.core.data.report import analyze, split_and_write

    rep = analyze(cfg.data, fmt=cfg.data_format, max_seq=cfg.max_seq_length,
                  split_ratios=(cfg.split[0], cfg.split[1], cfg.split[2]))
    if not rep.usable:
        first = "; ".join(str(e) for e in rep.errors[:3])
        raise CliError(f"{cfg.data}: {len(rep.errors)} problem(s) in the data, e.g. {first}",
                       f"ftwizard data {cfg.data} lists them all")
    split_and_write(rep, out_dir, (cfg.split[0], cfg.split[1], cfg.split[2]), cfg.seed)
    return out_dir.resolve()


def _facts(model: str) -> Any:
    from ftwizard.core.plan.model_facts import ModelFactsError, load_model_facts

    try:
        return load_model_facts(model, allow_download=False)
    except (ModelFactsError, OSError, ValueError):
        return None


def _source_tree() -> Path | None:
    import ftwizard

    root = Path(ftwizard.__file__).resolve().parent.parent
    return root if (root / "pyproject.toml").exists() else None


def cmd_export(args: argparse.Namespace) -> int:
    from ftwizard.core.plan.rent import config_rent_shape, sky_name
    from ftwizard.core.run import remote

    cfg, split, name = _load(args.source)
    facts = _facts(cfg.model)
    gpu, gpus = args.gpu, args.gpus
    if facts is not None:
        shape = config_rent_shape(cfg.to_dict(), facts, gpu=gpu, gpus=gpus)
        if shape is not None:
            gpu, gpus = gpu or shape.accelerator, gpus or shape.gpus
            err_console.print(esc(f"shape: {shape.gpus}× {shape.accelerator} ({shape.peak_gib:.1f} GiB predicted per "
                                  f"GPU of {shape.memory_gib:.0f})" + ("" if args.gpu and args.gpus else
                                                                       " — the cheapest rented shape that fits")),
                              highlight=False)
            changes: dict[str, Any] = {}
            if shape.gpus > 1 and cfg.engine == "auto" and shape.engine == "fsdp":
                changes["engine"] = "fsdp"  # auto would pick DDP for adapters: the shape fits only sharded
            if shape.turns_on_checkpointing:
                changes["gradient_checkpointing"] = True
            if changes:
                err_console.print(esc("set for it: " + ", ".join(f"{k}: {v}" for k, v in changes.items())),
                                  highlight=False)
                cfg = replace(cfg, **changes)
        else:
            err_console.print(esc(f"no {gpu or 'rented card'} in the price table fits {gpus or 'up to 8'} GPU(s) of "
                                  "this run by the estimate: check --gpu/--gpus"), highlight=False)
    if gpu is None:
        gpu = "A100-80GB"
        err_console.print(esc(f"GPU type: {gpu} (the model's size is not known here; --gpu to choose)"),
                          highlight=False)
    gpus = gpus or max(1, cfg.num_gpus)
    target = remote.Shape(sky_name(gpu), gpus, args.nodes)
    default = {"skypilot": "ftwizard-sky.yaml", "slurm": "ftwizard.sbatch", "accelerate": "ftwizard-accelerate.yaml"}
    out = Path(args.out or default[args.to])
    stem = out.stem
    folder = out.parent
    model_type = getattr(facts, "model_type", None)
    config_local = str((folder / f"{stem}.config.yaml").resolve())
    acc_local = str((folder / f"{stem}.accelerate.yaml").resolve())
    job = f"ftwizard-{name}".lower().replace("_", "-")[:60]
    if args.to == "accelerate":
        exp = remote.accelerate_export(cfg, target, stem=stem, model_type=model_type)
    else:
        folder.mkdir(parents=True, exist_ok=True)
        if split is None:
            split = _split_here(cfg, folder / f"{stem}-data")
        if args.to == "skypilot":
            exp = remote.skypilot_task(cfg, target, stem=stem, config_local=config_local, accelerate_local=acc_local,
                                       data_dir=split, install=args.install,
                                       source_dir=None if args.install else _source_tree(), model_type=model_type,
                                       name=job)
        else:
            exp = remote.slurm_script(cfg, target, stem=stem, config_local=config_local, accelerate_local=acc_local,
                                      data_dir=split, model_type=model_type, name=job)
    folder.mkdir(parents=True, exist_ok=True)
    main_name = next(iter(exp.files))
    try:
        for fname, text in exp.files.items():
            dest = out if fname == main_name else folder / fname
            dest.write_text(text, encoding="utf-8")
            console.print(f"wrote {esc(str(dest))}", highlight=False)
    except OSError as exc:
        raise CliError(f"{out}: cannot write it ({exc})") from None
    for note in exp.notes:
        console.print(f"note: {esc(note)}", highlight=False)
    nxt = {"skypilot": f"sky launch -c ftwizard {out} --secret HF_TOKEN",
           "slurm": f"sbatch {out}",
           "accelerate": f"accelerate launch --config_file {out} --machine_rank R --main_process_ip IP -m "
                         "ftwizard.train RUN"}[args.to]
    console.print(f"next: {esc(nxt)}", highlight=False)
    return 0
