"""Shared by the commands: consoles, JSON output, model facts and GPU lookups, following a run."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

from rich.console import Console

from ftwizard.core.run.diagnosis import fill_in

# emoji off: `:100:` in a row, a path or a model name prints as typed. Markup stays on for our own styling, so
# every piece of user text that goes into a markup string passes through `esc()` (rich.markup.escape).
console = Console(emoji=False)
err_console = Console(stderr=True, soft_wrap=True, emoji=False)


def esc(value: Any) -> str:
    """User text (a path, a row, a model name, an error message) made safe for a rich markup string."""
    from rich.markup import escape

    return escape(str(value))


class CliError(Exception):
    """A known failure: printed as one line (`error: …`) plus an optional hint, exit code 2."""

    def __init__(self, message: str, hint: str | None = None, code: int = 2) -> None:
        super().__init__(message)
        self.hint, self.code = hint, code


def config_value(name: str) -> Any:
    """An argparse `type=` for a flag that sets a run-config field: read and checked by that field's own rule
    (`check_value`, the validator YAML, `--check` and the app's forms use), so `--batch 0` is refused with the same
    words as `micro_batch: 0` in a config."""
    from ftwizard.core.run.config import ConfigError, check_value

    def parse(text: str) -> Any:
        try:
            return check_value(name, text)
        except ConfigError as exc:
            out_of_range = exc.reason.startswith("must be")  # the same words `bounded` flags use
            raise argparse.ArgumentTypeError(f"{text} is out of range: {exc.short()}" if out_of_range
                                             else exc.short()) from None

    parse.__name__ = name
    return parse


def bounded(kind: type, lo: float, hi: float, what: str) -> Any:
    """An argparse `type=` that accepts `kind` values in [lo, hi]: `--batch -5` is refused with a line that says
    what is allowed (the estimator is never called with a size it cannot mean)."""
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not lo <= value <= hi:
            span = f"{int(lo)} to {int(hi)}" if kind is int else f"{lo:g} to {hi:g}"
            raise argparse.ArgumentTypeError(f"{text} is out of range: {what} from {span}")
        return value

    parse.__name__ = what
    return parse


def one_line_errors(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """A bad argument is one line (`error: …`) plus a hint, exit 2 — not the whole usage block."""
    def error(message: str) -> NoReturn:
        from rich.markup import escape

        err_console.print(f"[red]error:[/] {parser.prog}: {escape(message)}")
        err_console.print(f"[dim]hint:[/] {parser.prog} --help lists the options")
        raise SystemExit(2)

    parser.error = error  # type: ignore[method-assign]
    return parser


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str, ensure_ascii=False) + "\n")


MODEL_HELP = "local folder with config.json, a .gguf file, a preset name, or a cached Hub id"


def add_model_args(p: argparse.ArgumentParser) -> None:
    """MODEL as the first word (`ftwizard info MODEL`, like `ftwizard data FILE`) or as --model/-m (kept)."""
    p.add_argument("model_pos", nargs="?", metavar="MODEL", help=MODEL_HELP)
    p.add_argument("--model", "-m", help=f"the same as MODEL: {MODEL_HELP}")
    p.add_argument("--allow-download", action="store_true", help="fetch config.json from the Hub if not cached")


def resolve_model_arg(args: argparse.Namespace) -> None:
    """Merge MODEL and --model (one of them is needed; two different ones are an error)."""
    if not hasattr(args, "model_pos"):
        return
    pos, opt = args.model_pos, getattr(args, "model", None)
    if pos and opt and pos != opt:
        raise CliError(f"two models given: {pos} and --model {opt}", "give the model once")
    args.model = opt or pos
    if not args.model:
        raise CliError(f"ftwizard {args.cmd}: which model?",
                       f"ftwizard {args.cmd} MODEL (a folder, a .gguf file, a preset from `ftwizard models`, or a Hub id)")


def load_facts(model: str, allow_download: bool = False):  # noqa: ANN201
    from ftwizard.core.plan.model_facts import ModelFactsError, load_model_facts

    def progress(line: str) -> None:  # a .gguf file is converted once: say so on stderr
        err_console.print(line, markup=False, highlight=False)

    try:
        return load_model_facts(model, allow_download=allow_download, on_progress=progress)
    except ModelFactsError as exc:
        raise CliError(str(exc)) from None


def seq_warning(facts: Any, seq: int | None) -> str | None:
    """A line when the sequence length is above the model's max positions (config.json), else None."""
    limit = getattr(facts, "max_positions", None)
    if not seq or not limit or seq <= limit:
        return None
    return (f"sequence length {seq:,} is above what {facts.name} was built for ({limit:,} positions, "
            f"max_position_embeddings): use at most {limit:,}, or shorten the examples")


def gpu_gib(args: argparse.Namespace) -> tuple[str | None, float | None, int]:
    from ftwizard.core.plan.hardware import default_probe, gpu_from_name

    if getattr(args, "gpu", None):
        g = gpu_from_name(args.gpu)
        return g.name, g.total_gib, args.gpus or 1
    if getattr(args, "gpu_gib", None):
        return f"{args.gpu_gib} GiB GPU", float(args.gpu_gib), args.gpus or 1
    res = default_probe(getattr(args, "fake", None)).probe()
    if res.gpus:
        return res.gpus[0].name, res.min_total_gib, args.gpus or res.count
    return None, None, args.gpus or 1


def events_end(run: Path) -> int:
    """The byte offset after the last whole event written so far: a resume follows from there (its history is the
    earlier segments', shown by `ftwizard monitor`)."""
    from ftwizard.core.run.layout import RunDir

    try:
        data = RunDir(run).events_path.read_bytes()
    except OSError:
        return 0
    return data.rfind(b"\n") + 1


def follow(run: Path, proc: Any = None, quiet: bool = False, since: int = 0) -> dict:
    """Print events as they arrive (with a live progress bar on a terminal) until the run ends; `since`: start at
    this byte offset of events.jsonl. Ctrl-C detaches: training continues."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from ftwizard.core.run.events import TERMINAL, EventTail
    from ftwizard.core.run.launcher import current_status
    from ftwizard.core.run.layout import RunDir

    tail = EventTail(RunDir(run).events_path)
    tail.offset = since
    live = console.is_terminal and not quiet
    progress = Progress(TextColumn("[bold]training"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                        TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=True, disable=not live)
    task = progress.add_task("train", total=None, info="")

    held: list[dict] = []  # a `failed` event: said by report_end at the end, unless the run goes on (resumed)

    def show(events: list[dict]) -> None:
        for ev in events:
            if not quiet:
                if held:
                    print_event(held.pop(), progress.console)
                if ev.get("type") == "failed":
                    held.append(ev)
                else:
                    print_event(ev, progress.console)
            if ev.get("max_steps"):
                progress.update(task, total=ev["max_steps"])
            if isinstance(ev.get("step"), int) and ev.get("type") in ("log", "eval", "checkpoint"):
                info = f"loss {ev['loss']:.4f}" if isinstance(ev.get("loss"), int | float) else ""
                progress.update(task, completed=ev["step"], info=info)

    from ftwizard.core.run.liveness import liveness, read_heartbeat

    said = ""
    checked = beat_read = 0.0
    if proc is None and (lv := liveness(run)) is not None and lv.kind == "remote" and not quiet:
        console.print(esc(lv.line), highlight=False)  # say where the run is before its synced events
        said = f"remote:{'no news' in lv.line}"
    try:
        with progress:
            while True:
                show(tail.poll())
                _refused(run, proc)
                if time.monotonic() - beat_read > 1:  # the step between log lines: the bar's ETA from step 1
                    beat_read = time.monotonic()
                    hb = read_heartbeat(run) or {}
                    if isinstance(hb.get("step"), int) and hb["step"] > int(progress.tasks[0].completed or 0):
                        progress.update(task, completed=hb["step"])
                if time.monotonic() - checked > 5:  # a stalled trainer is said once (again when it moves on)
                    checked = time.monotonic()
                    lv = liveness(run)
                    kind = lv.kind if lv is not None else ""
                    line = lv.line if lv is not None else ""
                    # a stalled trainer is said once, a remote run once and again when its news goes quiet
                    if kind in ("stalled", "remote") and said != f"{kind}:{'no news' in line}" and not quiet:
                        progress.console.print(f"[yellow]{esc(line)}[/]")
                    said = f"{kind}:{'no news' in line}"
                st = current_status(run, proc)
                if st.get("state") in TERMINAL and (proc is None or proc.poll() is not None):
                    show(tail.poll())
                    if held and not quiet and (st.get("state") != "failed" or not (st.get("diagnosis") or {}).get("summary")):
                        print_event(held.pop(), progress.console)
                    return st
                time.sleep(0.3)
    except KeyboardInterrupt:
        console.print(f"\nDetached: training goes on in the background (ctrl+c leaves the run alone).\n"
                      f"  watch it:  ftwizard monitor {esc(run)}\n"
                      f"  stop it:   ftwizard stop {esc(run)}  (a checkpoint is saved; --resume continues it)")
        raise SystemExit(0) from None


def _refused(run: Path, proc: Any) -> None:
    """The trainer we started refused to run (another trainer holds the run, or it had finished): one line."""
    from ftwizard.core.run.launcher import FINISHED_EXIT, LOCKED_EXIT
    from ftwizard.core.run.lock import holder

    rc = proc.poll() if proc is not None else None
    if rc == LOCKED_EXIT:
        h = holder(run)
        raise CliError(f"{run} is in use by another trainer" + (f" (pid {h.pid})" if h else "") + "; nothing was changed",
                       f"watch it with `ftwizard monitor {run}`")
    if rc == FINISHED_EXIT:
        raise CliError(f"{run} has finished; nothing to resume", "start a new run to train more")


def print_event(ev: dict, out: Any = None) -> None:
    """One plain line per event worth showing; text that came from the run (messages, paths) is escaped."""
    out = out or console
    t = ev.get("type")
    if t == "log" and "loss" in ev:
        ms = ev.get("max_steps") or 0
        tps = f"  {ev['tokens_per_s']:.0f} tok/s" if ev.get("tokens_per_s") else ""
        rw = f"  reward {ev['reward']:.3f}" if isinstance(ev.get("reward"), int | float) else ""
        out.print(f"step {ev['step']}/{ms}  loss {ev['loss']:.4f}{rw}  lr {ev.get('learning_rate', 0):.2e}{tps}")
    elif t == "eval":
        out.print(f"[cyan]eval[/] step {ev['step']}  eval_loss {ev['eval_loss']:.4f}")
    elif t == "warning":
        out.print(f"[yellow]warning:[/] {esc(ev.get('message'))} → {esc(ev.get('fix'))}")
    elif t == "failed":
        out.print(f"[red]failed:[/] {esc(ev.get('message'))} → {esc(ev.get('fix'))}")
    elif t == "preflight":
        out.print(preflight_line(ev))
    elif t == "memory_fix":
        out.print(f"[yellow]memory fix:[/] {esc(ev.get('message'))}")
    elif t == "time":
        out.print(f"time: {esc(ev.get('message'))}")
    elif t == "note":
        out.print(f"[dim]note:[/] {esc(note_text(ev))}")
    elif t == "checkpoint_skipped":
        out.print(f"[yellow]skipped checkpoint[/] {esc(Path(str(ev.get('checkpoint'))).name)}: "
                  f"{esc(ev.get('message'))}" + (f" (moved to {esc(ev['path'])})" if ev.get("path") else ""))
    elif t == "config_changed":
        out.print(f"[yellow]config changed on resume:[/] {esc(ev.get('message'))}")
    elif t == "resume" and "from_step" in ev:
        where = f" ({Path(ev['checkpoint']).name})" if ev.get("checkpoint") else " (no checkpoint: from the start)"
        out.print(f"[dim]resume from step {ev['from_step']}{esc(where)}[/]")
    elif t == "train_begin":
        out.print(f"[dim]{esc(begin_text(ev))}[/]")
    elif t == "checkpoint":
        where = f" ({Path(str(ev['path'])).name})" if ev.get("path") else ""
        out.print(f"[dim]checkpoint saved at step {ev.get('step')}{esc(where)}[/]")
    elif t == "done":
        out.print(esc(done_text(ev)))
    elif t == "stopped":
        out.print(f"[yellow]{esc(ev.get('message'))}[/]")


def begin_text(ev: dict) -> str:
    """`train_begin` in words: how many steps, from where, on how many CPU threads."""
    steps, step = ev.get("max_steps"), ev.get("step") or 0
    text = f"training: {steps} steps" if not step else f"training on from step {step} of {steps}"
    if isinstance(ev.get("epochs"), int | float) and not step:
        text += f" ({ev['epochs']:g} epoch{'s' if ev['epochs'] != 1 else ''})"
    if ev.get("cpu_threads"):
        text += f" on the CPU, {ev['cpu_threads']} thread{'s' if ev['cpu_threads'] != 1 else ''}"
    return text


def done_text(ev: dict) -> str:
    """`done` in words: the step reached, the run's training loss and time, where the weights went."""
    text = f"finished at step {ev.get('step')}"
    first, last = ev.get("loss_first"), ev.get("loss_last")
    if isinstance(first, int | float) and isinstance(last, int | float):
        text += f": training loss {first:.3g} → {last:.3g}"  # train_loss is the run's mean, not where it ended
        if isinstance(ev.get("eval_loss_last"), int | float):
            text += f", validation loss {ev['eval_loss_last']:.3g}"
    elif isinstance(ev.get("train_loss"), int | float):
        text += f": training loss {ev['train_loss']:.4f} (mean over the run)"
    if isinstance(ev.get("train_runtime"), int | float):
        text += f", {duration(float(ev['train_runtime']))} of training"
    return text + (f"; saved to {ev['output']}" if ev.get("output") else "")


def duration(seconds: float) -> str:
    """12.3 s, 4 min 05 s, 2 h 03 min."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    m, s = divmod(int(round(seconds)), 60)
    return f"{m} min {s:02d} s" if m < 60 else f"{m // 60} h {m % 60:02d} min"


_VERDICT = {"fits": "[green]fits[/]", "out_of_memory": "[red]out of memory[/]",
            "unchecked": "ran (card size unknown: not checked against a limit)"}


def preflight_line(ev: dict) -> str:
    """The preflight verdict the event carries (`fits`, `out_of_memory`, `unchecked`), with the measured peak."""
    verdict = str(ev.get("verdict") or "unchecked")
    line = (f"preflight on the longest batch ({ev.get('longest_tokens')} tokens × {ev.get('micro_batch', '?')}): "
            f"{_VERDICT.get(verdict, esc(verdict))}")
    if isinstance(ev.get("measured_peak_allocated_gib"), int | float):
        line += f", peak {ev['measured_peak_allocated_gib']:.2f} GiB"
        if isinstance(ev.get("card_total_gib"), int | float):
            line += f" of {ev['card_total_gib']:.2f} GiB"
    if ev.get("fake_card"):
        line += " (fake card)"
    return line


def note_text(ev: dict) -> str:
    """A note in plain words: the chat-template note says what the loss is computed on."""
    msg = str(ev.get("message") or "")
    if ev.get("kind") == "chat_template" and ev.get("loss_on"):
        on = {"assistant_only": "the assistant's replies only", "completion_only": "the completion only",
              "full_text": "the whole text"}.get(str(ev["loss_on"]), str(ev["loss_on"]))
        src = f" (chat template: {ev['source']})" if ev.get("source") else ""
        return f"loss on: {on}{src}" + (f" — {msg}" if msg else "")
    return msg


def report_end(st: dict, run: Path) -> int:
    state = st.get("state")
    if state == "done":
        console.print(f"[green]done.[/] Output in {esc(run)}\n"
                      f"Next: ftwizard check {esc(run)}  (base vs tuned on the test split: did it learn the task?)")
        return 0
    if state == "stopped" and not isinstance(st.get("last_step"), int):
        console.print(f"[yellow]stopped[/] before training began (nothing to save). "
                      f"Start it again: ftwizard train --resume {esc(run)}")
        return 0
    if state == "stopped":
        console.print(f"[yellow]stopped[/] with a checkpoint. Resume: ftwizard train --resume {esc(run)}")
        return 0
    d = st.get("diagnosis") or {}
    console.print(f"[red]failed:[/] {esc(d.get('summary'))}\n[b]Try:[/] {esc(fill_in(str(d.get('fix')), run))}\n"
                  f"Log: {esc(run / 'stdout.log')}")
    if st.get("unsaved"):
        console.print("[dim](status.json could not be updated — the disk is full; the last saved status is kept)[/]")
    return 1


def known_error(exc: BaseException) -> tuple[str, str]:
    """One line and a hint for an exception no command caught."""
    from ftwizard.core.plan.model_facts import ModelFactsError

    if isinstance(exc, ModelFactsError):
        return str(exc), "check the model path, preset name (ftwizard models) or Hub id"
    if isinstance(exc, PermissionError):
        return f"permission denied: {exc.filename or exc}", "check the file's permissions"
    if isinstance(exc, FileNotFoundError):
        return f"no such file or folder: {exc.filename or exc}", "check the path"
    if isinstance(exc, OSError) and exc.errno == 28:
        return "the disk is full", "free some space (checkpoints and logs already written are kept)"
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc}: {exc.filename or ''}".strip(": "), "check the path and the disk"
    if isinstance(exc, ValueError) and str(exc).startswith("unknown GPU"):
        return str(exc), "name the card as nvidia-smi shows it, or add its memory; --help lists the options"
    if isinstance(exc, ValueError):
        return str(exc), "run the command with --help for the allowed values"
    return f"{type(exc).__name__}: {exc}", "run again with --debug for the traceback, and report it"
