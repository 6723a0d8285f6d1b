"""Live training monitor: status banner, progress/ETA, GPU memory, loss/eval, LR and grad-norm plots,
warnings with their fix, Stop / Resume, and one-key relaunch after a failure.

The events are tailed by a worker the App owns (it survives switching screens); this screen only reads
the App's RunState on a timer and redraws when its version changed.
"""

from __future__ import annotations

import time
from typing import Any

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Footer, Header, ProgressBar, Static

from ftwizard.core.plan.cost import fmt_size
from ftwizard.core.run.layout import RunDir
from ftwizard.core.run.state import RunState, fmt_duration, number
from ftwizard.ui.screens.base import AppScreen
from ftwizard.ui.widgets.bars import usage_bar
from ftwizard.ui.widgets.plots import CurvePlot


def _style(color: str) -> str:
    return color.removeprefix("ansi_") if color else "white"


def banner_text(status: dict[str, Any], state: RunState, run: str, method: str | None = None,
                fixable: bool = False, checkpoint: str | None = None) -> tuple[str, str]:
    """(markup, css class) for the status banner. User and trainer text is escaped (no markup injection).
    `fixable`: the failure has an automatic fix (f relaunches with it); `checkpoint`: the newest one saved."""
    from ftwizard.core.run.diagnosis import fill_in

    s = status.get("state", "starting")
    run_e = escape(run)
    if s == "failed":
        d = status.get("diagnosis") or {}
        fail = state.failure or {}
        cause = d.get("summary") or fail.get("message") or "the trainer stopped with an error"
        fix = d.get("fix") or fail.get("fix")
        again = (f"r resumes from {escape(checkpoint)}" if checkpoint else
                 "r starts it again from the beginning (no checkpoint was saved)")
        keys = f"f relaunches with this fix (a new run beside it) · {again}" if fixable else f"after the fix: {again}"
        return (f"[b]FAILED[/b] — {escape(str(cause))}\n"
                + (f"[b]Try:[/b] {escape(fill_in(str(fix), run))}\n" if fix else "")
                + f"Full log: {run_e}/stdout.log · {keys}", "banner-error")
    if s == "done":
        what = "the fine-tuned model is saved in" if method == "full" else "the adapter is saved in"
        where = f"{run}/model" if method == "full" else f"{run}/adapter"
        return (f"[b]DONE[/b] — {what} {escape(where)}. Press c for the checklist, t to try it.", "banner-ok")
    if s == "stopped":
        if not checkpoint:
            return (f"[b]STOPPED[/b] — {run_e} stopped before it saved a checkpoint. Press r to start it again.",
                    "banner-warn")
        return f"[b]STOPPED[/b] — {run_e}: {escape(checkpoint)} saved. Press r to resume from it.", "banner-warn"
    if status.get("liveness_kind") == "remote":  # a folder synced from another machine (core/run/liveness.py)
        return (f"[b]{escape(str(s).upper())} ELSEWHERE[/b] — {escape(str(status['liveness']))}\n"
                "This screen follows the synced events; stop or resume it on that machine.", "banner-warn")
    if status.get("liveness"):  # active by its state, but the trainer is stalled or gone (core/run/liveness.py)
        dead = status.get("liveness_kind") == "dead"
        return (f"[b]{'DEAD' if dead else 'STALLED'}[/b] — {escape(str(status['liveness']))}\n"
                + ("Press r to resume from the last checkpoint." if dead else
                   f"Press x to stop, or `ftwizard stop {run_e}` (kills it if it does not exit)."),
                "banner-error" if dead else "banner-warn")
    if s == "stopping":
        return "[b]STOPPING[/b] — finishing the step and saving a checkpoint …", "banner-warn"
    text = f"[b]{escape(str(s).upper())}[/b] — {run_e}"
    if state.warnings:
        w = state.warnings[-1]
        text += f"\n[b]⚠ {escape(str(w.get('message')))}[/b]  {escape(str(w.get('fix') or ''))}"
        return text, "banner-warn"
    return text + "\nClosing the app does not stop training; reattach with `ftwizard monitor RUN`.", "banner-info"


def progress_text(state: RunState, status: dict[str, Any], now: float | None = None) -> str:
    """The progress line: step, speed, elapsed (ticking) and the ETA — from the first step on (the heartbeat), and
    before it from the preflight's time estimate."""
    import time

    now = time.time() if now is None else now
    total = state.max_steps or 0
    tps = f" · {state.tokens_per_s:,.0f} tok/s" if state.tokens_per_s else ""
    live = status.get("state") in ("starting", "running")
    rate = state.steps_per_s or (1 / state.beat_step_s if state.beat_step_s else None)
    sps = f" · {rate:.2f} step/s" if rate and live else ""
    eta = f" · ETA {fmt_duration(state.eta_s(now))}" if live else ""  # a stopped or failed run has no ETA
    step = max(state.step, state.beat_step) if live else state.step
    return (f" step {step}/{total or '?'} · epoch {state.epoch:.2f}{sps}{tps if live else ''} · "
            f"{elapsed_text(state, status, now, live)}{eta}")


def elapsed_text(state: RunState, status: dict[str, Any], now: float, live: bool) -> str:
    """The wall time of this attempt (loading and the preflight count: a first-timer watching a model load for two
    minutes saw "elapsed 0s"), with the training time beside it when they differ."""
    train = state.elapsed_now(now, live)
    started, ended = number(status.get("started")), number(status.get("ended"))
    end = now if live else ended
    if started is None or end is None or end < started:
        return f"elapsed {fmt_duration(train)}"
    wall = end - started
    if live and state.step == 0 and not state.beat_step and train < 1:
        return f"starting (loading, preflight) {fmt_duration(wall)}"
    if train > wall + 5:  # a resumed run: earlier attempts trained too
        return f"elapsed {fmt_duration(wall)} since the resume (training {fmt_duration(train)} in all)"
    return f"elapsed {fmt_duration(wall)}" + (f" (training {fmt_duration(train)})" if wall - train >= 5 else "")


def _size(gib: float) -> str:
    """0.03 GiB of a tiny model's tensors reads as 31 MiB."""
    return fmt_size(gib, digits=2)


def run_on_gpu(state: RunState, machine_has_gpu: bool) -> bool:
    """Whether the run trains on a GPU: the preflight says which device; before it, GPU numbers from the trainer
    or a GPU on this machine. CUDA wording is for GPU runs only."""
    device = (state.preflight or {}).get("device")
    if device:
        return device != "cpu"
    return bool(state.gpu) or machine_has_gpu


class MonitorScreen(AppScreen):
    AUTO_FOCUS = "#stop"
    BINDINGS = [
        # x, r, c and l are on the buttons ("Stop (x)" …): the footer keeps the keys that have no button
        Binding("x", "stop_run", "Stop", id="monitor.stop", priority=True, show=False),
        Binding("r", "resume_run", "Resume", id="monitor.resume", priority=True, show=False),
        Binding("s", "toggle_smooth", "Smooth", id="monitor.smooth", priority=True),
        Binding("f", "relaunch_fix", "Relaunch with fix", id="monitor.fix", priority=True),
        Binding("c", "checklist", "Checklist", id="monitor.checklist", priority=True, show=False),
        Binding("l", "runs", "Runs", id="monitor.runs", priority=True, show=False),
        Binding("p", "cycle_plots", "Plots", id="monitor.plots", priority=True),
        Binding("t", "try_it", "Try it", id="monitor.try", priority=True, show=False),  # its button says it
    ]

    def __init__(self) -> None:
        super().__init__()
        self.smooth = False
        self.show_small = False  # on short terminals: loss plot, or LR + grad-norm plots (p switches)
        self._drawn_version = -1
        self._last_gpu_poll = 0.0
        self._gpu_text = ""

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="banner", classes="banner-info")
        with Horizontal(id="progress-row"):
            yield ProgressBar(total=100, show_eta=False, id="progress")
            yield Static(id="progress-text")
        yield Static(id="memory-text")
        with Vertical(id="plots"):
            yield CurvePlot("loss", id="plot-loss")
            with Horizontal(id="small-plots"):
                yield CurvePlot("learning rate", id="plot-lr")
                yield CurvePlot("grad norm", id="plot-grad")
        with Horizontal(classes="row", id="monitor-buttons"):
            yield Button("Stop (x)", id="stop", variant="error", compact=True)
            yield Button("Resume (r)", id="resume", variant="primary", compact=True)
            yield Button("Checklist (c)", id="checklist", compact=True)
            yield Button("Runs (l)", id="runs", compact=True)
            yield Button("Try it (t)", id="try", compact=True)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.set_interval(0.5, self.redraw)
        self.redraw()

    def on_resize(self) -> None:
        self._layout_plots()

    def _layout_plots(self) -> None:
        roomy = self.size.height >= 30
        self.query_one("#plot-loss").display = roomy or not self.show_small
        self.query_one("#small-plots").display = roomy or self.show_small
        self.query_one("#small-plots").styles.height = "40%" if roomy else "1fr"

    def action_cycle_plots(self) -> None:
        self.show_small = not self.show_small
        self._layout_plots()

    def on_screen_resume(self) -> None:
        self._drawn_version = -1
        self.redraw()

    def redraw(self) -> None:
        app = self.wizard
        state: RunState | None = app.run_state
        run = str(app.active_run) if app.active_run else ""
        if state is None or (app.demo_note and app.active_run is None):
            self.query_one("#banner", Static).update(escape(app.demo_note) if app.demo_note else
                "No run selected. Launch one from the wizard, open one from Runs (l), or "
                "`ftwizard monitor RUN`. Esc goes back.")
            return
        # the tail worker bumps the version on every event batch and status change; read it before the status
        version = state.version
        if version == self._drawn_version:
            self._poll_gpu(state)
            if app.run_status.get("state") in ("starting", "running") and app.active_run is not None:
                from ftwizard.core.run.liveness import read_heartbeat

                state.beat(read_heartbeat(app.active_run))  # the step and ETA between log lines
                self.query_one("#progress", ProgressBar).update(progress=max(state.step, state.beat_step))
                self.query_one("#progress-text", Static).update(progress_text(state, dict(app.run_status)))
            return
        self._drawn_version = version
        status: dict[str, Any] = dict(app.run_status)
        with self.app.batch_update():
            method = app.run_config.method if app.run_config else None
            fixable, ckpt = self._after_failure(run, status.get("state"))
            text, cls = banner_text(status, state, run, method, fixable, ckpt)
            banner = self.query_one("#banner", Static)
            banner.update(text)
            banner.set_classes(cls)
            total = state.max_steps or 0
            bar = self.query_one("#progress", ProgressBar)
            bar.update(total=total or None, progress=state.step)
            self.query_one("#progress-text", Static).update(progress_text(state, status))
            self._poll_gpu(state, force=True)
            theme = self.app.current_theme
            primary, accent = _style(theme.primary), _style(theme.accent or "yellow")
            self.query_one("#plot-loss", CurvePlot).draw(
                [("train", state.loss, primary), ("eval", state.eval_loss, accent)], smooth=self.smooth)
            self.query_one("#plot-lr", CurvePlot).draw([("lr", state.lr, _style(theme.secondary or "green"))])
            self.query_one("#plot-grad", CurvePlot).draw([("grad", state.grad_norm, _style(theme.warning or "yellow"))])
            s = status.get("state")
            # a button that would only answer "not now" is not shown: Stop while it runs, Resume once it stopped
            stop, resume = self.query_one("#stop", Button), self.query_one("#resume", Button)
            stop.disabled = s not in ("starting", "running")
            resume.disabled = s not in ("stopped", "failed")
            stop.display, resume.display = not stop.disabled, not resume.disabled

    def _after_failure(self, run: str, state: str | None) -> tuple[bool, str | None]:
        """For a stopped or failed run: whether its failure has an automatic fix, and its newest checkpoint."""
        self._fixable = False
        if state not in ("failed", "stopped"):
            self.refresh_bindings()
            return False, None
        from ftwizard.core.run.service import RunError, fixed_config

        if state == "failed":
            try:
                self._fixable = bool(fixed_config(run)[1])
            except (RunError, OSError, ValueError, TypeError):
                self._fixable = False
        self.refresh_bindings()  # f shows only when it would do something
        ckpt = RunDir(run).last_checkpoint()
        return self._fixable, ckpt.name if ckpt else None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Footer keys that would do nothing are hidden: f without a fix, smoothing and plots without a run."""
        if not super().check_action(action, parameters):
            return False
        if action == "relaunch_fix":
            return getattr(self, "_fixable", False)
        if action in ("toggle_smooth", "cycle_plots"):
            return self.wizard.active_run is not None
        return True

    def _poll_gpu(self, state: RunState, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_gpu_poll < 2.0:
            return
        self._last_gpu_poll = now
        app = self.wizard
        lines = []
        cfg = app.run_config
        est = getattr(cfg, "estimate_gib", None) if cfg else None
        measured = (state.preflight or {}).get("measured_peak_allocated_gib") or state.gpu.get("gpu_peak_gib")
        gpu_run = run_on_gpu(state, bool(app.probe_result.gpus))
        ram = getattr(cfg, "estimate_ram_gib", None) if cfg else None
        if not gpu_run and (ram or state.ram_peak_gib):  # a CPU run: the trainer process's RAM is what runs out
            lines.append(f"RAM of the trainer: predicted {_size(ram) if ram else '—'} · peak "
                         f"{_size(state.ram_peak_gib) if state.ram_peak_gib else '—'}"
                         + (f" (tensors: predicted {_size(est)}, measured {_size(measured)})" if est and measured
                            else ""))
        elif est or measured:
            what = "peak allocated memory" if gpu_run else "peak memory of the tensors (RAM)"
            lines.append(f"{what}: predicted {_size(est) if est is not None else '—'} · measured "
                         f"{_size(measured) if measured is not None else '— (not on a GPU)'}"
                         + (" (the Plan adds CUDA's reserve)" if est and gpu_run else ""))
        if state.gpu:
            lines.append(f"trainer: allocated {state.gpu.get('gpu_allocated_gib', 0):.1f} GiB · reserved "
                         f"{state.gpu.get('gpu_reserved_gib', 0):.1f} GiB")
        res = app.probe_backend.probe() if app.probe_result.gpus else None
        for g in (res.gpus if res else []):
            util = f" · util {g.utilization_pct}%" if g.utilization_pct is not None else ""
            lines.append(f"GPU {g.index} {usage_bar(g.used_bytes / max(g.total_bytes, 1), 20)} "
                         f"{g.used_bytes / 2**30:.1f}/{g.total_gib:.0f} GiB{util}")
        text = "\n".join(lines)
        if text != self._gpu_text:
            self._gpu_text = text
            self.query_one("#memory-text", Static).update(text)

    # ---- actions ---------------------------------------------------------------------------------
    def action_toggle_smooth(self) -> None:
        self.smooth = not self.smooth
        self._drawn_version = -1
        self.notify("smoothing on" if self.smooth else "smoothing off", timeout=1.5)
        self.redraw()

    def action_stop_run(self) -> None:
        self.wizard.stop_active_run()

    def action_resume_run(self) -> None:
        self.wizard.resume_active_run()

    def action_relaunch_fix(self) -> None:
        self.wizard.relaunch_with_fix()

    def action_checklist(self) -> None:
        self.app.switch_mode("checklist")

    def action_runs(self) -> None:
        self.app.switch_mode("runs")

    def action_try_it(self) -> None:
        self.app.switch_mode("tryit")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        match event.button.id:
            case "stop":
                self.action_stop_run()
            case "resume":
                self.action_resume_run()
            case "checklist":
                self.action_checklist()
            case "runs":
                self.action_runs()
            case "try":
                self.action_try_it()
