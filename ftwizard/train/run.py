"""The trainer process. Reads <run>/config.yaml, trains with TRL, writes events/status, never loses work.

- SIGTERM/SIGINT: finish the current step, save a checkpoint, state 'stopped'.
- `--resume`: continue from the last checkpoint; events keep appending.
- Any exception: state 'failed' with a diagnosis in plain words; events and checkpoints stay.

setup (data, tokenizer, model, PEFT) → the trainer module of `cfg.trainer` builds the TRL trainer → preflight →
train → save. Trainer modules live in `train/trainers/`.
"""

from __future__ import annotations

import os
import signal
import time
import traceback
from typing import Any

from ftwizard.core.run.config import RunConfig
from ftwizard.core.run.diagnosis import diagnose
from ftwizard.core.run.layout import RunDir
from ftwizard.train.callback import IS_MAIN, StopBeforeTraining, StopFlag, make_callback
from ftwizard.train.heartbeat import BEAT, rss_peak_gib

_IMPORTED = time.time()


def _install_signals(rd: RunDir) -> None:
    def handler(signum: int, _frame: Any) -> None:
        if not StopFlag.requested and IS_MAIN:
            rd.try_write_status(state="stopping", stop_signal=signal.Signals(signum).name)
        StopFlag.requested = True
        if not StopFlag.training:  # loading or preflight: nothing to save, so stop now, not after minutes of loading
            raise StopBeforeTraining

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def training_args(cfg: RunConfig, rd: RunDir, prec: str, has_eval: bool, torch: Any) -> dict[str, Any]:
    """The TrainingArguments fields every trainer shares, with the config's `trainer_args` passed through as is."""
    args = dict(
        output_dir=str(rd.checkpoints), per_device_train_batch_size=cfg.micro_batch,
        per_device_eval_batch_size=cfg.micro_batch, gradient_accumulation_steps=cfg.gradient_accumulation,
        learning_rate=cfg.learning_rate, num_train_epochs=cfg.epochs, max_steps=cfg.max_steps,
        warmup_steps=cfg.warmup_ratio, lr_scheduler_type=cfg.lr_scheduler, weight_decay=cfg.weight_decay,
        logging_steps=cfg.logging_steps, save_strategy="steps", save_steps=cfg.save_steps,
        save_total_limit=cfg.save_total_limit, eval_strategy="steps" if has_eval else "no",
        eval_steps=cfg.eval_steps, eval_on_start=cfg.eval_on_start and has_eval, bf16=prec == "bf16", fp16=prec == "fp16",
        gradient_checkpointing=cfg.gradient_checkpointing, optim=cfg.optimizer, report_to=list(cfg.report_to), seed=cfg.seed,
        disable_tqdm=True, include_num_input_tokens_seen=True, use_cpu=not torch.cuda.is_available(),
        dataloader_num_workers=0, max_length=cfg.max_seq_length, logging_nan_inf_filter=False,
    )
    args.update(cfg.trainer_args)  # checked against the TRL config class before the model loads
    return args


class Phases:
    """Seconds per phase of the trainer process, for the `done` event: where a run's wall time went besides the
    training itself. `startup` counts from when this module was imported (the interpreter's own start is before)."""

    def __init__(self) -> None:
        self.last = _IMPORTED
        self.seconds: dict[str, float] = {}

    def mark(self, name: str) -> None:
        now = time.time()
        self.seconds[name] = round(self.seconds.get(name, 0.0) + now - self.last, 3)
        self.last = now


def train(cfg: RunConfig, rd: RunDir, resume: bool) -> str:
    phases = Phases()
    import torch

    from ftwizard.train.data import load_splits, prepare_data
    from ftwizard.train.model import load_model, load_tokenizer, peft_config, precision
    from ftwizard.train.preflight import preflight
    from ftwizard.train.trainers import TrainContext, builder

    build = builder(cfg.trainer)
    check_before_load(cfg)
    from ftwizard.core.run.service import resolve_gguf

    cfg = resolve_gguf(cfg)  # a config.yaml written by hand with model: FILE.gguf (create_run converts it already)
    torch.manual_seed(cfg.seed)
    from ftwizard.train.threads import set_cpu_threads

    set_cpu_threads(torch)  # on the CPU: threads for the cores not already busy (FTWIZARD_CPU_THREADS overrides)
    import datasets  # noqa: F401 - every trainer needs them: imported here, the phases below time their own work
    import transformers  # noqa: F401
    import trl  # noqa: F401

    if cfg.is_adapter:
        import peft  # noqa: F401
    phases.mark("startup")
    files = prepare_data(cfg, rd)
    ds = load_splits(files)
    phases.mark("data")
    prec = precision(cfg, torch)
    tok = load_tokenizer(cfg)
    model = load_model(cfg, prec, torch, note=lambda m: rd.append_event({"type": "note", "message": m}) if IS_MAIN
                       else None)
    phases.mark("model")
    from trl.data_utils import is_conversational

    from ftwizard.train.templates import ensure_template

    template_source = ensure_template(tok, cfg.chat_template, is_conversational(ds["train"][0]))
    pad_token = tok.pad_token  # trainers may set it to EOS; the saved tokenizer keeps the model's own
    ctx = TrainContext(cfg=cfg, rd=rd, model=model, tokenizer=tok, peft_config=peft_config(cfg, model), datasets=ds,
                       args=training_args(cfg, rd, prec, "validation" in ds, torch),
                       callbacks=[make_callback(rd, cfg, torch)],
                       emit=lambda ev: rd.append_event(ev) if IS_MAIN else None, template_source=template_source)
    trainer = build(ctx)
    phases.mark("build")  # the TRL trainer: PEFT wrapping, tokenization
    if not resume:
        _preflight(trainer, cfg, rd, torch, preflight)
    phases.mark("preflight")
    if IS_MAIN:
        world = max(1, int(getattr(trainer.args, "world_size", 1) or 1))
        if world > 1:  # what a multi-process run really is (a launcher that starts one process would show 1)
            eff = cfg.micro_batch * cfg.gradient_accumulation * world
            backend = getattr(trainer.accelerator.state, "backend", None) or "?"
            rd.append_event({"type": "note", "kind": "processes", "processes": world, "backend": backend,
                             "effective_batch": eff,
                             "message": f"{world} processes ({backend}): effective batch {eff} = micro-batch "
                                        f"{cfg.micro_batch} × accumulation {cfg.gradient_accumulation} × {world}"})
        _export(trainer, ctx, prec, files)
        if not resume:  # the config as it runs (after any auto-fit) and the source data: what --resume compares with
            from ftwizard.core.run.fingerprint import write_fingerprint

            try:
                write_fingerprint(rd)
            except OSError:
                pass
    ckpt = rd.last_checkpoint() if resume else None  # main() validated it (bad newer ones moved aside)
    phases.mark("export")
    trainer.train(resume_from_checkpoint=str(ckpt) if ckpt else None)
    phases.mark("train")
    if StopFlag.requested:
        return "stopped"
    out = rd.adapter if cfg.is_adapter else rd.full_model
    _full_state_dict(trainer)
    trainer.save_model(str(out))
    if tok.pad_token != pad_token:
        tok.pad_token = pad_token
    tok.save_pretrained(str(out))
    phases.mark("save")
    if IS_MAIN:
        final = dict(trainer.state.log_history[-1]) if trainer.state.log_history else {}
        rd.append_event({"type": "done", "step": trainer.state.global_step, "output": str(out), **final,
                         **_whole_run_loss(rd, final), **_loss_ends(rd), "peak_rss_gib": rss_peak_gib(),
                         "phase_s": phases.seconds, "phases_from": round(_IMPORTED, 3)})
        if cfg.push_to_hub:
            _push(cfg, rd, out)
    return "done"


def _loss_ends(rd: RunDir) -> dict[str, Any]:
    """The training loss at the start and the end (first and last three logs) and the last validation loss: the
    Trainer's `train_loss` is the mean over the whole run (0.617 for a run that ended at 0.005)."""
    from ftwizard.core.eval.verdict import loss_ends

    events = rd.read_events()
    out: dict[str, Any] = {}
    ends = loss_ends(events)
    if ends is not None:
        out["loss_first"], out["loss_last"] = round(ends[0], 6), round(ends[1], 6)
    evals = [e["eval_loss"] for e in events if e.get("type") == "eval" and isinstance(e.get("eval_loss"), int | float)]
    if evals:
        out["eval_loss_last"] = evals[-1]
    return out


def _whole_run_loss(rd: RunDir, final: dict[str, Any]) -> dict[str, Any]:
    """A resumed run: `train_loss` over the whole run (the Trainer's covers only the last segment), the Trainer's
    own figure kept as `train_loss_segment`. A run never resumed keeps the Trainer's (every step, logged or not)."""
    from ftwizard.core.run.state import whole_run_loss

    events = rd.read_events()
    if not any(e.get("type") == "resume" for e in events):
        return {}
    loss = whole_run_loss(events)
    if loss is None:
        return {}
    out: dict[str, Any] = {"train_loss": loss}
    seg = final.get("train_loss")
    if isinstance(seg, int | float) and abs(float(seg) - loss) > 1e-9 * max(1.0, abs(loss)):
        out["train_loss_segment"] = seg
    return out


def check_before_load(cfg: RunConfig) -> None:
    """What must hold on this machine before minutes of loading: trackers/DeepSpeed installed, init_from present,
    and every `trainer_args` key a field of the real TRL config class."""
    import dataclasses
    import importlib

    from ftwizard.core.run.config import ConfigError
    from ftwizard.core.run.config_load import check_environment
    from ftwizard.core.run.trl_import import config_class_path, trainer_args_problem

    check_environment(cfg)
    if cfg.trainer_args:
        module, name = config_class_path(cfg.trainer).split(":")
        cls = getattr(importlib.import_module(module), name)
        known = frozenset(f.name for f in dataclasses.fields(cls) if f.init)
        problem = trainer_args_problem(cfg.trainer, cfg.trainer_args, known)
        if problem:
            raise ConfigError("trainer_args", sorted(cfg.trainer_args), problem)


def _preflight(trainer: Any, cfg: RunConfig, rd: RunDir, torch: Any, preflight: Any) -> None:
    """The preflight, leaving the random state as it was (dropout in it must not change the data order or the
    training itself); skipped under FSDP/DeepSpeed, where the model is wrapped only when training starts."""
    if getattr(trainer, "is_fsdp_enabled", False) or getattr(trainer, "is_deepspeed_enabled", False):
        if IS_MAIN:
            rd.append_event({"type": "note", "message": "preflight skipped: under FSDP/DeepSpeed the model is sharded "
                             "only when training starts; the first steps show the real memory"})
        return
    with torch.random.fork_rng(devices=range(torch.cuda.device_count()) if torch.cuda.is_available() else []):
        result = preflight(trainer, cfg, rd, torch)
    if IS_MAIN and result is not None:
        try:
            _time_estimate(trainer, cfg, rd, torch, result.info)
        except Exception as exc:  # noqa: BLE001 - a time estimate never stops a run
            rd.append_event({"type": "note", "kind": "time", "message": f"no time estimate: {exc}"})


def _time_estimate(trainer: Any, cfg: RunConfig, rd: RunDir, torch: Any, info: dict[str, Any]) -> None:
    """After the preflight: the time left from its measured step (core/plan/timing.py from_preflight), on the real
    split's rows and token lengths — a `time` event the CLI and the monitor show before the first step."""
    import statistics

    from ftwizard.core.plan.timing import Workload, from_preflight

    lens = sorted(len(x) for x in trainer.train_dataset["input_ids"])
    if not lens or not info.get("seconds") or not info.get("includes_optimizer_step"):
        return
    val = trainer.eval_dataset
    q = {k: float(lens[min(len(lens) - 1, int(f * len(lens)))]) for k, f in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99))}
    q["max"] = float(lens[-1])
    params = sum(p.numel() for p in trainer.model.parameters())
    trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    world = max(1, int(getattr(trainer.args, "world_size", 1) or 1))
    w = Workload(params=params, trainable=trainable, method=cfg.method, grad_ckpt=cfg.gradient_checkpointing,
                 model_bytes=0.0, rows=len(lens), tokens_per_row=statistics.fmean(lens), seq_quantiles=q,
                 max_seq_length=cfg.max_seq_length, micro_batch=cfg.micro_batch,
                 gradient_accumulation=cfg.gradient_accumulation, epochs=cfg.epochs, max_steps=cfg.max_steps,
                 gpus=world, eval_steps=cfg.eval_steps if val is not None else 0,
                 eval_on_start=bool(cfg.eval_on_start and val is not None), save_steps=cfg.save_steps,
                 exact_rows=(len(lens), len(val) if val is not None else 0))
    started = rd.status().get("started")
    elapsed = time.time() - float(started) if isinstance(started, int | float) else 0.0
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    threads = torch.get_num_threads()
    device = gpu or f"this CPU ({threads} thread{'s' * (threads != 1)})"
    steps = [float(x) for x in info.get("step_seconds") or []] or [float(info["seconds"])]
    # the first step includes warm-up (allocations, kernel choice); the CPU preflight runs only that one
    measured, n = (min(steps[1:]), 1) if len(steps) > 1 else (steps[0] / COLD_STEP_FACTOR, 1)
    est = from_preflight(w, measured_s=measured, measured_steps=n,
                         longest_tokens=int(info.get("longest_tokens") or q["max"]), device=device,
                         elapsed_s=elapsed + START_BEFORE_TRAINER_S, gpu=gpu)
    rd.append_event({"type": "time", **est.to_dict(), "message": est.line()})


COLD_STEP_FACTOR = 1.38  # a first (cold) step over a warm one: 4.27 s vs 3.09 s, SmolLM2-135M LoRA on this CPU
START_BEFORE_TRAINER_S = 1.5  # `ftwizard train`: reading and checking the config, starting the trainer process


def _export(trainer: Any, ctx: Any, prec: str, files: dict[str, Any]) -> None:
    """Rewrite trl_<trainer>.yaml and launch.sh from the trainer's real config (never fails the run)."""
    from ftwizard.core.run.exports import write_trl_export
    from ftwizard.train.exports import caveats, trl_cli_config

    try:
        data_dir = str(files["train"].parent.resolve())
        trl = trl_cli_config(trainer, ctx.cfg, ctx.rd, prec, data_dir, ctx.peft_config, "validation" in files)
        write_trl_export(ctx.rd, ctx.cfg, trl, caveats(ctx.cfg) + ctx.export_notes)
    except Exception as exc:  # noqa: BLE001 - the export is a convenience; training goes on
        ctx.rd.append_event({"type": "warning", "kind": "export", "message": f"could not write the TRL export: {exc}"})


def _full_state_dict(trainer: Any) -> None:
    """FSDP: gather a full state dict for the final save, so the adapter/model loads anywhere (a sharded one
    needs the same world size to load)."""
    if getattr(trainer, "is_fsdp_enabled", False):
        trainer.accelerator.state.fsdp_plugin.set_state_dict_type("FULL_STATE_DICT")


def _push(cfg: RunConfig, rd: RunDir, out: Any) -> None:
    """Upload the final adapter/model to the Hub (private by default). The token is read the usual huggingface_hub
    way (HF_TOKEN, or `hf auth login`) and never written. A failed upload is a warning: the result is saved."""
    from huggingface_hub import HfApi

    try:
        api = HfApi()
        repo = api.create_repo(str(cfg.hub_model_id), private=cfg.hub_private, exist_ok=True)
        api.upload_folder(repo_id=repo.repo_id, folder_path=str(out), commit_message="ftwizard: trained result")
        rd.append_event({"type": "note", "message": f"pushed {out.name}/ to https://huggingface.co/{repo.repo_id}"
                         f"{' (private)' if cfg.hub_private else ''}"})
    except Exception as exc:  # noqa: BLE001 - saved locally already
        rd.append_event({"type": "warning", "kind": "push_to_hub", "message": f"could not push to the Hub: "
                         f"{type(exc).__name__}: {str(exc)[:200]}", "fix": "log in with `hf auth login` (or set "
                         f"HF_TOKEN), then: hf upload {cfg.hub_model_id} {out}"})


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m ftwizard.train RUN [--resume]")
        return 2
    from ftwizard.core.run import lock

    rd = RunDir(argv[0])
    resume = "--resume" in argv
    cfg_dict: dict[str, Any] = {}
    if IS_MAIN:
        try:  # one trainer per run: a second one touches nothing
            lock.acquire(rd.path)
        except lock.RunLocked as exc:
            print(f"refused: {exc}", flush=True)
            return 3  # launcher.LOCKED_EXIT
        if resume and _finished(rd):
            print(f"{rd.path} has finished; nothing to resume. Start a new run to train more.", flush=True)
            rd.try_write_status(state="done", pid=None)
            lock.release(rd.path)
            return 4  # launcher.FINISHED_EXIT
    _install_signals(rd)
    try:
        if IS_MAIN:
            rd.write_status(state="starting", pid=os.getpid(), pid_started=lock.process_start(os.getpid()),
                            host=lock.this_host(), started=time.time(), ended=None, diagnosis=None, stop_signal=None,
                            exit_code=None)
            BEAT.start(rd)  # the pulse `ftwizard monitor` and `ftwizard stop` read (stall detection)
        cfg = rd.config()
        cfg_dict = cfg.to_dict()
        if resume and IS_MAIN:
            _announce_resume(rd)
        state = train(cfg, rd, resume)
        if IS_MAIN:
            rd.write_status(state=state, ended=time.time(), exit_code=0)
        return 0
    except StopBeforeTraining:
        if IS_MAIN:
            rd.append_event({"type": "stopped", "before_training": True,
                             "message": "stopped before training began: nothing was trained, so nothing was saved"})
            rd.try_write_status(state="stopped", ended=time.time(), exit_code=0)
        return 0
    except BaseException as exc:  # noqa: BLE001 - every failure must end in a diagnosis
        if IS_MAIN:
            _record_failure(rd, exc, cfg_dict)
        else:
            print(f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}", flush=True)
        return 1
    finally:
        if IS_MAIN:
            BEAT.stop()
            lock.release(rd.path)


def _finished(rd: RunDir) -> bool:
    """The run already trained to the end (status done, or a `done` event with its result saved)."""
    if rd.status().get("state") == "done":
        return True
    return rd.has_result() and any(e.get("type") == "done" for e in rd.read_events())


def _announce_resume(rd: RunDir) -> None:
    """Validate the checkpoints (bad newer ones moved aside, each with an event), then the `resume` event with
    the step the log restarts from: readers drop values logged after it before the resume (no double steps)."""
    from ftwizard.train.checkpoints import choose_checkpoint, step_of

    changes = _config_changes(rd)
    ckpt = choose_checkpoint(rd, emit=rd.append_event)
    from_step = step_of(ckpt) if ckpt else 0
    rd.append_event({"type": "resume", "checkpoint": str(ckpt) if ckpt else None, "from_step": from_step})
    if changes.applied:
        rd.append_event({"type": "config_changed", "step": from_step,
                         "changes": {k: [old, new] for k, (old, new) in changes.applied.items()},
                         "message": "applied from step " + str(from_step) + ": " + ", ".join(
                             f"{k} {old} → {new}" for k, (old, new) in changes.applied.items())})


def _config_changes(rd: RunDir) -> Any:
    """config.yaml against fingerprint.json (core/run/fingerprint.py): ConfigChanged for an edit the checkpoint
    cannot honour; a warning per data change; the fingerprint then follows the config that resumes."""
    from ftwizard.core.run.fingerprint import ConfigChanged, compare, write_fingerprint

    changes = compare(rd)
    refusal = changes.refusal()
    if refusal:
        raise ConfigChanged(refusal)
    for text in changes.warnings:
        rd.append_event({"type": "warning", "kind": "data_changed", "message": text,
                         "fix": "to train on the new data, start a new run"})
    if changes.no_fingerprint:
        rd.append_event({"type": "note", "message": "no fingerprint.json (a run from an older ftwizard): edits to "
                         "config.yaml since the start cannot be checked; this config is the reference from now on"})
    try:
        write_fingerprint(rd)
    except OSError:
        pass
    return changes


def _record_failure(rd: RunDir, exc: BaseException, cfg_dict: dict[str, Any]) -> None:
    """State 'failed' with a diagnosis. Must not fail itself: on a full disk the last good status.json stays,
    and the failure goes to stderr as one JSON line (reconcile reads the log and the exit code)."""
    import json
    import sys

    text = f"{type(exc).__name__}: {exc}"
    try:
        print(f"{text}\n{traceback.format_exc()}", flush=True)
    except OSError:
        pass
    diag = diagnose(text, cfg_dict, cfg_dict.get("estimate_gib"))
    try:
        diag = _refine(diag, rd, cfg_dict)
    except Exception:  # noqa: BLE001 - the diagnosis as it is beats none
        pass
    ok = rd.try_append_event({"type": "failed", "kind": diag.kind, "message": diag.summary, "fix": diag.fix})
    st = rd.try_write_status(state="failed", ended=time.time(), diagnosis=diag.to_dict(), exit_code=1)
    if not ok or st.get("unsaved"):
        try:
            sys.stderr.write(json.dumps({"ftwizard_failed": diag.kind, "summary": diag.summary, "fix": diag.fix}) + "\n")
            sys.stderr.flush()
        except OSError:
            pass


def _refine(diag: Any, rd: RunDir, cfg: dict[str, Any]) -> Any:
    """Add what only the run directory knows: a checkpoint's size on a full disk; a dataset that is gone."""
    from pathlib import Path

    from ftwizard.core.run.diagnosis import Diagnosis, disk_note

    if diag.kind == "disk_full":
        diag.fix = f"{diag.fix} {disk_note(rd.path)}".strip()
    data = str(cfg.get("data") or "")
    local_suffixes = (".jsonl", ".json", ".csv", ".tsv", ".parquet", ".txt", ".ndjson")
    looks_local = data.startswith((".", "/", "~")) or Path(data).suffix in local_suffixes
    if diag.kind == "crash" and data and looks_local and not Path(data).expanduser().exists() \
            and not rd.split_file("train").exists():
        return Diagnosis("bad_data", f"The dataset {data} is gone (moved or deleted after the launch).",
                         "Put it back (or fix data: in config.yaml), then `ftwizard train --resume <run>`.", diag.detail)
    return diag
