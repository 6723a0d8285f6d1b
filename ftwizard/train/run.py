"""The trainer process. Reads <run>/config.yaml, trains with TRL, writes events/status, never loses work.

- SIGTERM/SIGINT: finish the current step, save a checkpoint, state 'stopped'.
- `--resume`: continue from the last checkpoint; events keep appending.
- Any exception: state 'failed' with a diagnosis in plain words; events and checkpoints stay.
"""

from __future__ import annotations

import math
import os
import signal
import time
import traceback
from pathlib import Path
from typing import Any

from ftwizard.core.run.diagnosis import diagnose
from ftwizard.core.run.layout import RunConfig, RunDir
from ftwizard.core.run.watch import TrainingWatch

IS_MAIN = int(os.environ.get("RANK", "0")) == 0


class _StopFlag:
    requested = False


def _install_signals(rd: RunDir) -> None:
    def handler(signum: int, _frame: Any) -> None:
        if not _StopFlag.requested and IS_MAIN:
            rd.write_status(state="stopping", stop_signal=signal.Signals(signum).name)
        _StopFlag.requested = True

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def _prepare_data(cfg: RunConfig, rd: RunDir) -> dict[str, Path]:
    """Split files in <run>/data (reused on resume, so the split never changes under a run)."""
    src = Path(cfg.data)
    if src.is_dir() and (src / "train.jsonl").exists():
        base = src
    elif (rd.data_dir / "train.jsonl").exists():
        base = rd.data_dir
    else:
        from ftwizard.core.data.report import analyze, split_and_write

        rep = analyze(cfg.data, fmt=cfg.data_format, max_seq=cfg.max_seq_length)
        if not rep.usable:
            first = "; ".join(str(e) for e in rep.errors[:3])
            raise ValueError(f"dataset error: {len(rep.errors)} problem(s), e.g. {first}")
        split_and_write(rep, rd.data_dir, tuple(cfg.split), cfg.seed)  # type: ignore[arg-type]
        base = rd.data_dir
    return {k: base / f"{k}.jsonl" for k in ("train", "validation", "test") if (base / f"{k}.jsonl").exists()}


def _precision(cfg: RunConfig, torch: Any) -> str:
    if cfg.precision != "auto":
        return cfg.precision
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "fp32"


def _gpu_mem(torch: Any) -> dict[str, float]:
    if not torch.cuda.is_available():
        return {}
    g = 1024**3
    return {"gpu_allocated_gib": round(torch.cuda.memory_allocated() / g, 3),
            "gpu_reserved_gib": round(torch.cuda.memory_reserved() / g, 3),
            "gpu_peak_gib": round(torch.cuda.max_memory_allocated() / g, 3)}


def make_callback(rd: RunDir, cfg: RunConfig, torch: Any) -> Any:
    from transformers import TrainerCallback

    class EventCallback(TrainerCallback):
        """Writes every log/eval as an event, watches for NaN, divergence and overfitting, handles stop."""

        def __init__(self) -> None:
            self.t0 = time.time()
            self.last_t = self.t0
            self.last_tokens = 0
            self.watch = TrainingWatch()

        def _emit(self, **ev: Any) -> None:
            if IS_MAIN:
                rd.append_event(ev)

        def on_train_begin(self, args, state, control, **kw):  # noqa: ANN001, ANN201
            self._emit(type="train_begin", step=state.global_step, max_steps=state.max_steps,
                       epochs=args.num_train_epochs, **_gpu_mem(torch))
            if IS_MAIN:
                rd.write_status(state="running", max_steps=state.max_steps)

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
            ev.update(_gpu_mem(torch))
            self._emit(**ev)
            if IS_MAIN:
                rd.write_status(last_step=state.global_step, max_steps=state.max_steps)
            loss = logs.get("loss")
            if loss is not None and not math.isfinite(float(loss)):
                raise FloatingPointError(f"loss is NaN/inf at step {state.global_step}: training diverged (not finite)")
            gn = logs.get("grad_norm")
            found = self.watch.on_log(float(loss) if loss is not None else None, float(gn) if gn is not None else None)
            if "eval_loss" in logs:
                found += self.watch.on_eval(float(logs["eval_loss"]))
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
            if _StopFlag.requested:
                control.should_save = True
                control.should_training_stop = True
            return control

        def on_save(self, args, state, control, **kw):  # noqa: ANN001, ANN201
            self._emit(type="checkpoint", step=state.global_step,
                       path=str(Path(args.output_dir) / f"checkpoint-{state.global_step}"))

    return EventCallback()


def _preflight(trainer: Any, cfg: RunConfig, rd: RunDir, torch: Any) -> None:
    """Forward+backward on the longest examples first, so an OOM shows in seconds; record memory."""
    ds = trainer.train_dataset
    if cfg.preflight_steps <= 0 or ds is None or "input_ids" not in ds.column_names:
        return
    lens = [len(x) for x in ds["input_ids"]]
    order = sorted(range(len(lens)), key=lambda i: -lens[i])[: cfg.micro_batch]
    batch = trainer.data_collator([ds[i] for i in order])
    model = trainer.model
    dev = next(p for p in model.parameters()).device
    batch = {k: v.to(dev) for k, v in batch.items() if hasattr(v, "to")}
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    t = time.time()
    model.train()
    for _ in range(cfg.preflight_steps):
        out = model(**{k: v for k, v in batch.items() if k in ("input_ids", "attention_mask", "labels")})
        out.loss.backward()
    model.zero_grad(set_to_none=True)
    measured = torch.cuda.max_memory_allocated() / 1024**3 if torch.cuda.is_available() else None
    info = {"device": "cuda" if torch.cuda.is_available() else "cpu", "longest_tokens": max(lens),
            "micro_batch": cfg.micro_batch, "estimate_gib": cfg.estimate_gib,
            "measured_peak_allocated_gib": round(measured, 3) if measured is not None else None,
            "note": None if measured is not None else "no GPU: memory is not measured on the CPU",
            "seconds": round(time.time() - t, 2)}
    import json

    rd.memory_path.write_text(json.dumps(info, indent=2), encoding="utf-8")
    rd.append_event({"type": "preflight", **info})


def train(cfg: RunConfig, rd: RunDir, resume: bool) -> str:
    import torch
    from datasets import load_dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(cfg.seed)
    files = _prepare_data(cfg, rd)
    ds = load_dataset("json", data_files={k: str(v) for k, v in files.items()})
    prec = _precision(cfg, torch)
    tok = AutoTokenizer.from_pretrained(cfg.model, trust_remote_code=cfg.trust_remote_code)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(prec, torch.float32)
    load_kw: dict[str, Any] = {"trust_remote_code": cfg.trust_remote_code, "dtype": dtype}
    if cfg.method == "qlora":
        from transformers import BitsAndBytesConfig

        compute = dtype if dtype != torch.float32 else torch.bfloat16
        load_kw["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=compute)
        load_kw["dtype"] = compute
    model = AutoModelForCausalLM.from_pretrained(cfg.model, **load_kw)
    peft_config = None
    if cfg.method in ("lora", "qlora", "dora"):
        from peft import LoraConfig

        peft_config = LoraConfig(r=cfg.rank, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout,
                                 target_modules=cfg.target_modules, use_dora=cfg.method == "dora",
                                 task_type="CAUSAL_LM", bias="none")
    common = dict(
        output_dir=str(rd.checkpoints), per_device_train_batch_size=cfg.micro_batch,
        per_device_eval_batch_size=cfg.micro_batch, gradient_accumulation_steps=cfg.gradient_accumulation,
        learning_rate=cfg.learning_rate, num_train_epochs=cfg.epochs, max_steps=cfg.max_steps,
        warmup_steps=cfg.warmup_ratio, lr_scheduler_type=cfg.lr_scheduler, weight_decay=cfg.weight_decay,
        logging_steps=cfg.logging_steps, save_strategy="steps", save_steps=cfg.save_steps,
        save_total_limit=cfg.save_total_limit, eval_strategy="steps" if "validation" in ds else "no",
        eval_steps=cfg.eval_steps, bf16=prec == "bf16", fp16=prec == "fp16",
        gradient_checkpointing=cfg.gradient_checkpointing, optim=cfg.optimizer, report_to=[], seed=cfg.seed,
        disable_tqdm=True, include_num_input_tokens_seen=True, use_cpu=not torch.cuda.is_available(),
        dataloader_num_workers=0, max_length=cfg.max_seq_length, logging_nan_inf_filter=False,
    )
    callback = make_callback(rd, cfg, torch)
    if cfg.trainer == "dpo":
        from trl import DPOConfig, DPOTrainer

        args = DPOConfig(**common, beta=cfg.dpo_beta, loss_type=cfg.dpo_loss_type)
        trainer = DPOTrainer(model=model, args=args, train_dataset=ds["train"], eval_dataset=ds.get("validation"),
                             processing_class=tok, peft_config=peft_config, callbacks=[callback])
    else:
        from trl import SFTConfig, SFTTrainer

        template = getattr(tok, "chat_template", None) or ""
        is_chat = "messages" in ds["train"].column_names
        assistant_only = cfg.assistant_only_loss and is_chat and "generation" in template
        if cfg.assistant_only_loss and is_chat and not assistant_only and IS_MAIN:
            rd.append_event({"type": "warning", "kind": "loss_on_prompt",
                             "message": "The chat template does not mark assistant turns ({% generation %}), so the loss "
                                        "is computed on the whole conversation.",
                             "fix": "Use a model whose chat template supports assistant masks, or convert the data "
                                    "to prompt/completion."})
        args = SFTConfig(**common, packing=cfg.packing, assistant_only_loss=assistant_only)
        trainer = SFTTrainer(model=model, args=args, train_dataset=ds["train"], eval_dataset=ds.get("validation"),
                             processing_class=tok, peft_config=peft_config, callbacks=[callback])
    if not resume:
        _preflight(trainer, cfg, rd, torch)
    ckpt = rd.last_checkpoint() if resume else None
    if resume and IS_MAIN:
        rd.append_event({"type": "resume", "checkpoint": str(ckpt) if ckpt else None})
    trainer.train(resume_from_checkpoint=str(ckpt) if ckpt else None)
    if _StopFlag.requested:
        return "stopped"
    out = rd.adapter if peft_config is not None else rd.path / "model"
    trainer.save_model(str(out))
    tok.save_pretrained(str(out))
    if IS_MAIN:
        final = {k: v for k, v in (trainer.state.log_history[-1] if trainer.state.log_history else {}).items()}
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
        cfg_dict = cfg.__dict__
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
