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
from ftwizard.train.callback import IS_MAIN, StopFlag, make_callback


def _install_signals(rd: RunDir) -> None:
    def handler(signum: int, _frame: Any) -> None:
        if not StopFlag.requested and IS_MAIN:
            rd.write_status(state="stopping", stop_signal=signal.Signals(signum).name)
        StopFlag.requested = True

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def training_args(cfg: RunConfig, rd: RunDir, prec: str, has_eval: bool, torch: Any) -> dict[str, Any]:
    """The TrainingArguments fields every trainer shares."""
    return dict(
        output_dir=str(rd.checkpoints), per_device_train_batch_size=cfg.micro_batch,
        per_device_eval_batch_size=cfg.micro_batch, gradient_accumulation_steps=cfg.gradient_accumulation,
        learning_rate=cfg.learning_rate, num_train_epochs=cfg.epochs, max_steps=cfg.max_steps,
        warmup_steps=cfg.warmup_ratio, lr_scheduler_type=cfg.lr_scheduler, weight_decay=cfg.weight_decay,
        logging_steps=cfg.logging_steps, save_strategy="steps", save_steps=cfg.save_steps,
        save_total_limit=cfg.save_total_limit, eval_strategy="steps" if has_eval else "no",
        eval_steps=cfg.eval_steps, bf16=prec == "bf16", fp16=prec == "fp16",
        gradient_checkpointing=cfg.gradient_checkpointing, optim=cfg.optimizer, report_to=[], seed=cfg.seed,
        disable_tqdm=True, include_num_input_tokens_seen=True, use_cpu=not torch.cuda.is_available(),
        dataloader_num_workers=0, max_length=cfg.max_seq_length, logging_nan_inf_filter=False,
    )


def train(cfg: RunConfig, rd: RunDir, resume: bool) -> str:
    import torch
    from datasets import load_dataset

    from ftwizard.train.data import prepare_data
    from ftwizard.train.model import load_model, load_tokenizer, peft_config, precision
    from ftwizard.train.preflight import preflight
    from ftwizard.train.trainers import TrainContext, builder

    build = builder(cfg.trainer)
    torch.manual_seed(cfg.seed)
    files = prepare_data(cfg, rd)
    ds = load_dataset("json", data_files={k: str(v) for k, v in files.items()})
    prec = precision(cfg, torch)
    tok = load_tokenizer(cfg)
    model = load_model(cfg, prec, torch)
    ctx = TrainContext(cfg=cfg, rd=rd, model=model, tokenizer=tok, peft_config=peft_config(cfg), datasets=ds,
                       args=training_args(cfg, rd, prec, "validation" in ds, torch),
                       callbacks=[make_callback(rd, cfg, torch)],
                       emit=lambda ev: rd.append_event(ev) if IS_MAIN else None)
    trainer = build(ctx)
    if not resume:
        preflight(trainer, cfg, rd, torch)
    ckpt = rd.last_checkpoint() if resume else None
    if resume and IS_MAIN:
        rd.append_event({"type": "resume", "checkpoint": str(ckpt) if ckpt else None})
    trainer.train(resume_from_checkpoint=str(ckpt) if ckpt else None)
    if StopFlag.requested:
        return "stopped"
    out = rd.adapter if ctx.peft_config is not None else rd.full_model
    trainer.save_model(str(out))
    tok.save_pretrained(str(out))
    if IS_MAIN:
        final = dict(trainer.state.log_history[-1]) if trainer.state.log_history else {}
        rd.append_event({"type": "done", "step": trainer.state.global_step, "output": str(out), **final})
    return "done"


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m ftwizard.train RUN [--resume]")
        return 2
    rd = RunDir(argv[0])
    resume = "--resume" in argv
    cfg_dict: dict[str, Any] = {}
    if IS_MAIN:
        rd.write_status(state="starting", pid=os.getpid(), started=time.time(), ended=None, diagnosis=None)
    _install_signals(rd)
    try:
        cfg = rd.config()
        cfg_dict = cfg.to_dict()
        state = train(cfg, rd, resume)
        if IS_MAIN:
            rd.write_status(state=state, ended=time.time())
        return 0
    except BaseException as exc:  # noqa: BLE001 - every failure must end in a diagnosis
        text = f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"
        print(text, flush=True)
        if IS_MAIN:
            diag = diagnose(f"{type(exc).__name__}: {exc}", cfg_dict, cfg_dict.get("estimate_gib"))
            rd.append_event({"type": "failed", "kind": diag.kind, "message": diag.summary, "fix": diag.fix})
            rd.write_status(state="failed", ended=time.time(), diagnosis=diag.to_dict())
        return 1
