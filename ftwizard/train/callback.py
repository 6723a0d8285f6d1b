"""The Trainer callback: every log/eval becomes an event; NaN, divergence and overfitting are watched; a stop
request finishes the step and saves a checkpoint."""

from __future__ import annotations

import math
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from ftwizard.core.run.config import RunConfig
from ftwizard.core.run.layout import RunDir
from ftwizard.core.run.watch import RunSetup, TrainingWatch
from ftwizard.train.heartbeat import BEAT

IS_MAIN = int(os.environ.get("RANK", "0")) == 0


class StopFlag:
    """Set by the SIGTERM/SIGINT handler; the callback turns it into save + stop at the end of the step.
    `training`: the Trainer has begun (before that a stop has nothing to save and ends the process at once)."""

    requested = False
    training = False


class StopBeforeTraining(BaseException):  # noqa: N818 - a stop, not an error; BaseException: no `except Exception` eats it
    """A stop asked while the model loads or the preflight runs: nothing is saved because nothing was trained."""


def gpu_mem(torch: Any) -> dict[str, float]:
    if not torch.cuda.is_available():
        return {}
    g = 1024**3
    return {"gpu_allocated_gib": round(torch.cuda.memory_allocated() / g, 3),
            "gpu_reserved_gib": round(torch.cuda.memory_reserved() / g, 3),
            "gpu_peak_gib": round(torch.cuda.max_memory_allocated() / g, 3)}


def apply_resumed_args(args: Any, state: Any, optimizer: Any, scheduler: Any) -> list[str]:
    """A resume restores the checkpoint's logging/eval/save intervals (trainer_state.json) and its optimizer and LR
    schedule (their learning rate inside): put this run's config back in force. The intervals are recomputed from
    the arguments; a new learning rate rescales the restored schedule (its base rates, the optimizer's current and
    initial rates) by new / old, so the schedule's shape and position are kept and every later step uses the new
    peak. Returns what changed, in words."""
    notes: list[str] = []
    before = (state.logging_steps, state.eval_steps, state.save_steps)
    state.compute_steps(args, state.max_steps)
    after = (state.logging_steps, state.eval_steps, state.save_steps)
    if before != after:
        notes.append("logging/eval/save every {} / {} / {} steps (the checkpoint had {} / {} / {})".format(*after, *before))
    groups = getattr(optimizer, "param_groups", None)
    if not groups:
        return notes
    sched = getattr(scheduler, "scheduler", scheduler)  # accelerate wraps it
    base = list(getattr(sched, "base_lrs", None) or [])
    ref = max(base) if base else max(float(g.get("initial_lr", g["lr"])) for g in groups)
    if ref <= 0 or abs(args.learning_rate / ref - 1) < 1e-6:
        return notes
    ratio = args.learning_rate / ref
    for g in groups:
        g["lr"] *= ratio
        if "initial_lr" in g:
            g["initial_lr"] *= ratio
    if base:
        sched.base_lrs = [b * ratio for b in base]
    if hasattr(sched, "_last_lr"):
        sched._last_lr = [g["lr"] for g in groups]
    notes.append(f"learning rate {ref:g} → {args.learning_rate:g}: the restored optimizer and schedule are "
                 f"rescaled (the schedule goes on from step {state.global_step} with the new peak)")
    return notes


def run_setup(cfg: RunConfig, max_steps: int, model: Any) -> RunSetup:
    """The settings the watch's advice compares against: the config's, and the base model's parameter count."""
    params = None
    if model is not None:
        try:
            base = model.get_base_model() if hasattr(model, "get_base_model") else model
            # a 4-bit weight packs two parameters per element
            params = sum(p.numel() * (2 if type(p).__name__ == "Params4bit" else 1)
                         for n, p in base.named_parameters() if "lora_" not in n) or None
        except (AttributeError, RuntimeError):
            params = None
    targets = cfg.target_modules
    all_linear = targets in ("all-linear", "all_linear") if isinstance(targets, str) else None
    return RunSetup(method=cfg.method, learning_rate=cfg.learning_rate, rank=cfg.rank, all_linear=all_linear,
                    steps=max_steps or None, params=params, data=cfg.data or None)


def make_callback(rd: RunDir, cfg: RunConfig, torch: Any) -> Any:
    from transformers import TrainerCallback

    class EventCallback(TrainerCallback):
        """Writes every log/eval as an event, watches for NaN, divergence and overfitting, handles stop."""

        def __init__(self) -> None:
            self.t0 = time.time()
            self.last_t = self.t0
            self.last_tokens = 0
            self.watch = TrainingWatch(trainer=cfg.trainer)

        def _emit(self, **ev: Any) -> None:
            if IS_MAIN:
                rd.append_event(ev)

        def on_train_begin(self, args, state, control, **kw):  # noqa: ANN001, ANN201
            if state.global_step > 0:  # resumed: this config's values, not the checkpoint's (core/run/fingerprint.py)
                for note in apply_resumed_args(args, state, kw.get("optimizer"), kw.get("lr_scheduler")):
                    self._emit(type="note", kind="resume", step=state.global_step, message=note)
            StopFlag.training = True
            self.watch.setup = replace(run_setup(cfg, state.max_steps, kw.get("model")), resumed=state.global_step > 0)
            cpu = {} if torch.cuda.is_available() else {"cpu_threads": torch.get_num_threads()}  # in effect, not asked
            self._emit(type="train_begin", step=state.global_step, max_steps=state.max_steps,
                       epochs=args.num_train_epochs, **cpu, **gpu_mem(torch))
            if IS_MAIN:
                rd.write_status(state="running", max_steps=state.max_steps)
                BEAT.mark(phase="training", step=state.global_step)

        def on_log(self, args, state, control, logs=None, **kw):  # noqa: ANN001, ANN201
            logs = dict(logs or {})
            now = time.time()
            ev: dict[str, Any] = {"type": "eval" if "eval_loss" in logs else "log", "step": state.global_step,
                                  "epoch": state.epoch, "max_steps": state.max_steps, "elapsed_s": round(now - self.t0, 2)}
            tokens = getattr(state, "num_input_tokens_seen", 0) or 0
            if tokens and now > self.last_t and "loss" in logs:
                ev["tokens_per_s"] = round((tokens - self.last_tokens) / (now - self.last_t), 1)
                self.last_tokens, self.last_t = tokens, now
            ev.update(logs)
            ev.update(gpu_mem(torch))
            self._emit(**ev)
            if IS_MAIN:
                rd.write_status(last_step=state.global_step, max_steps=state.max_steps)
            loss = logs.get("loss")
            if loss is not None and not math.isfinite(float(loss)):
                raise FloatingPointError(f"loss is NaN/inf at step {state.global_step}: training diverged (not finite)")
            gn = logs.get("grad_norm")
            progress = state.global_step / state.max_steps if state.max_steps else None
            found = self.watch.on_log(float(loss) if loss is not None else None, float(gn) if gn is not None else None,
                                      progress)
            found += self.watch.on_metrics(logs)
            if "eval_loss" in logs:
                found += self.watch.on_eval(float(logs["eval_loss"]), state.global_step)
            for w in found:
                self._emit(**w.to_event(), step=state.global_step)

        def on_step_end(self, args, state, control, **kw):  # noqa: ANN001, ANN201
            if cfg.debug_sleep_per_step:
                time.sleep(cfg.debug_sleep_per_step)
            if cfg.debug_inject_nan_at_step and state.global_step == cfg.debug_inject_nan_at_step:
                model = kw.get("model")
                with torch.no_grad():
                    for p in model.parameters():
                        if p.requires_grad:
                            p.fill_(float("nan"))
            if cfg.debug_disk_full_at_step and state.global_step == cfg.debug_disk_full_at_step:
                import errno

                raise OSError(errno.ENOSPC, "No space left on device", str(rd.checkpoints))
            if IS_MAIN:
                BEAT.mark(step=state.global_step, step_end=True)
            if StopFlag.requested:
                control.should_save = True
                control.should_training_stop = True
                if IS_MAIN:
                    BEAT.mark(phase="saving")  # `ftwizard stop` waits for a save in progress
            return control

        def on_prediction_step(self, args, state, control, **kw):  # noqa: ANN001, ANN201
            if IS_MAIN:
                BEAT.mark()  # evaluation is progress too

        def on_save(self, args, state, control, **kw):  # noqa: ANN001, ANN201
            if IS_MAIN:
                BEAT.mark()
            self._emit(type="checkpoint", step=state.global_step,
                       path=str(Path(args.output_dir) / f"checkpoint-{state.global_step}"))

    return EventCallback()
