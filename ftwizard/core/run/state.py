"""What the monitor shows, computed from events: series, progress, ETA, warnings — pure and O(1) per event.

All points are kept (memory ~ 16 bytes per point per series); `downsample` picks what is drawn, so a plot
of 100k points costs the same as one of 500.
"""

from __future__ import annotations

import json
import math
import time
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Series:
    xs: array = field(default_factory=lambda: array("d"))
    ys: array = field(default_factory=lambda: array("d"))

    def add(self, x: float, y: float) -> None:
        self.xs.append(x)
        self.ys.append(y)

    def __len__(self) -> int:
        return len(self.xs)

    def drop_after(self, x: float) -> None:
        """Forget the points past `x` (a resume restarts the log there: no step is counted twice)."""
        n = len(self.xs)
        while n and self.xs[n - 1] > x:
            n -= 1
        del self.xs[n:]
        del self.ys[n:]


def downsample(xs: Any, ys: Any, max_points: int = 600) -> tuple[list[float], list[float]]:
    """Min/max per bucket, in x order: spikes survive (a mean would hide a NaN-ish jump)."""
    n = len(xs)
    if n <= max_points:
        return list(xs), list(ys)
    buckets = max(1, max_points // 2)
    size = n / buckets
    ox: list[float] = []
    oy: list[float] = []
    for b in range(buckets):
        lo, hi = int(b * size), min(n, int((b + 1) * size))
        if hi <= lo:
            continue
        seg = range(lo, hi)
        i_min = min(seg, key=ys.__getitem__)
        i_max = max(seg, key=ys.__getitem__)
        for i in sorted({i_min, i_max}):
            ox.append(xs[i])
            oy.append(ys[i])
    return ox, oy


def ema(ys: list[float], weight: float = 0.9) -> list[float]:
    """TensorBoard-style exponential smoothing with debiasing."""
    out, last, num = [], 0.0, 0
    for y in ys:
        num += 1
        last = last * weight + (1 - weight) * y
        out.append(last / (1 - weight**num))
    return out


@dataclass
class RunState:
    loss: Series = field(default_factory=Series)
    eval_loss: Series = field(default_factory=Series)
    lr: Series = field(default_factory=Series)
    grad_norm: Series = field(default_factory=Series)
    metrics: dict[str, Series] = field(default_factory=dict)  # the objective's own (TrainerSpec.metrics): reward, kl…
    step: int = 0
    max_steps: int = 0
    epoch: float = 0.0
    tokens_per_s: float | None = None
    started: float | None = None  # wall time of the first event of this (possibly resumed) run
    last_time: float | None = None
    elapsed_s: float = 0.0  # training time over every attempt (a resume continues the count)
    ram_peak_gib: float | None = None  # the trainer process's peak RAM (heartbeat, done event)
    _elapsed_base: float = 0.0  # elapsed time of the attempts before the last resume
    gpu: dict[str, float] = field(default_factory=dict)
    preflight: dict[str, Any] | None = None
    warnings: list[dict[str, Any]] = field(default_factory=list)
    failure: dict[str, Any] | None = None
    done: dict[str, Any] | None = None
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    events: int = 0
    version: int = 0  # bumps when something changed (the UI redraws only then)
    _rate: list[tuple[float, int]] = field(default_factory=list)  # (time, step) for the ETA window
    beat_step: int = 0  # from heartbeat.json (every step, between the logs)
    beat_step_s: float | None = None  # the trainer's median step time
    time_left: tuple[float, float] | None = None  # (wall time of the `time` event, seconds left then)
    _segment_start: float | None = None  # wall time this attempt's training began (train_begin)

    def add(self, ev: dict[str, Any]) -> None:
        self.events += 1
        self.version += 1
        t = ev.get("type")
        now = ev.get("time")
        if isinstance(now, int | float):
            if self.started is None:
                self.started = now
            self.last_time = now
        step = ev.get("step")
        if isinstance(step, int):
            self.step = max(self.step, step) if t != "resume" else self.step
        if ev.get("max_steps"):
            self.max_steps = int(ev["max_steps"])
        if isinstance(ev.get("epoch"), int | float):
            self.epoch = float(ev["epoch"])
        if isinstance(ev.get("elapsed_s"), int | float):
            self.elapsed_s = self._elapsed_base + float(ev["elapsed_s"])
        gpu = {k: v for k, v in ev.items() if k.startswith("gpu_") and isinstance(v, int | float)}
        if gpu:
            self.gpu.update(gpu)
        if t == "log":
            s = float(ev.get("step", 0))
            if number(ev.get("loss")) is not None:
                self.loss.add(s, float(ev["loss"]))
            if number(ev.get("learning_rate")) is not None:
                self.lr.add(s, float(ev["learning_rate"]))
            if number(ev.get("grad_norm")) is not None:
                self.grad_norm.add(s, float(ev["grad_norm"]))
            if number(ev.get("tokens_per_s")) is not None:
                self.tokens_per_s = float(ev["tokens_per_s"])
            for key in _objective_metrics():
                if number(ev.get(key)) is not None:
                    self.metrics.setdefault(key, Series()).add(s, float(ev[key]))
            if isinstance(now, int | float) and isinstance(step, int):
                self._rate.append((now, step))
                if len(self._rate) > 20:
                    del self._rate[0]
        elif t == "eval" and number(ev.get("eval_loss")) is not None:
            self.eval_loss.add(float(ev.get("step", 0)), float(ev["eval_loss"]))
        elif t == "warning":
            self.warnings.append(ev)
        elif t == "failed":
            self.failure = ev
        elif t == "done":
            self.done = ev
            if number(ev.get("peak_rss_gib")) is not None:
                self.ram_peak_gib = max(self.ram_peak_gib or 0.0, float(ev["peak_rss_gib"]))
        elif t == "preflight":
            self.preflight = ev
        elif t == "time" and isinstance(now, int | float) and number(ev.get("total_seconds")) is not None:
            so_far = float((ev.get("parts") or {}).get("so_far") or 0.0)
            self.time_left = (float(now), max(0.0, float(ev["total_seconds"]) - so_far))
        elif t == "train_begin" and isinstance(now, int | float):
            self._segment_start = float(now)
        elif t == "checkpoint":
            self.checkpoints.append(ev)
        elif t == "resume":
            self._rate.clear()
            self.beat_step_s, self._segment_start = None, None
            self._elapsed_base = self.elapsed_s
            if isinstance(ev.get("from_step"), int):
                self.restart_at(ev["from_step"])

    def restart_at(self, step: int) -> None:
        """A resume from the checkpoint at `step`: values logged after it before the resume are dropped."""
        for series in (self.loss, self.eval_loss, self.lr, self.grad_norm, *self.metrics.values()):
            series.drop_after(float(step))
        self.checkpoints = [c for c in self.checkpoints if int(c.get("step") or 0) <= step]
        self.step = step
        self.failure = None
        self.done = None

    def add_many(self, events: list[dict[str, Any]]) -> None:
        for ev in events:
            self.add(ev)

    @property
    def steps_per_s(self) -> float | None:
        if len(self._rate) < 2:
            return None
        (t0, s0), (t1, s1) = self._rate[0], self._rate[-1]
        return (s1 - s0) / (t1 - t0) if t1 > t0 and s1 > s0 else None

    def beat(self, hb: dict[str, Any] | None) -> bool:
        """Take the trainer's heartbeat (step and median step time, written every step): the ETA from step 1,
        between the log lines. True when something shown changed."""
        if not hb:
            return False
        step = hb.get("step") if isinstance(hb.get("step"), int) else self.beat_step
        step_s = number(hb.get("step_s"))
        rss = number(hb.get("rss_peak_gib"))
        if rss is not None and rss > (self.ram_peak_gib or 0.0):
            self.ram_peak_gib = rss
        changed = (step, step_s) != (self.beat_step, self.beat_step_s)
        self.beat_step, self.beat_step_s = int(step or 0), step_s
        return changed

    def eta_s(self, now: float | None = None) -> float | None:
        """Seconds left: from the logged steps' rate; between logs and from the first step, the heartbeat's median
        step time × steps left; before the first step, the `time` event's estimate (the preflight's measured step)
        counting down."""
        if self.done:
            return 0.0
        step = max(self.step, self.beat_step)
        rate = self.steps_per_s
        if rate and self.max_steps:
            return max(0.0, (self.max_steps - step) / rate)
        if self.beat_step_s and self.max_steps and step > 0:
            return max(0.0, (self.max_steps - step) * self.beat_step_s)
        if self.time_left is not None:
            at, left = self.time_left
            return max(0.0, left - ((now if now is not None else at) - at))
        return None

    def elapsed_now(self, now: float, live: bool) -> float:
        """Training time over every attempt, ticking while the run is live (not frozen between log lines)."""
        if live and self._segment_start is not None:
            return self._elapsed_base + max(0.0, now - self._segment_start)
        return self.elapsed_s

    @property
    def best_eval(self) -> float | None:
        return min(self.eval_loss.ys) if len(self.eval_loss) else None

    def progress(self) -> float:
        return min(1.0, self.step / self.max_steps) if self.max_steps else 0.0


def _objective_metrics() -> tuple[str, ...]:
    """Every log key a trainer spec lists for the monitor (reward, kl, rewards/margins, …)."""
    global _OBJECTIVE_METRICS
    if _OBJECTIVE_METRICS is None:
        from ftwizard.core.trainers import TRAINERS

        _OBJECTIVE_METRICS = tuple(dict.fromkeys(k for spec in TRAINERS.values() for k in spec.metrics))
    return _OBJECTIVE_METRICS


_OBJECTIVE_METRICS: tuple[str, ...] | None = None


def one_value_per_step(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events with every log/eval/checkpoint that a later `resume` replays (logged after its `from_step`)
    left out: what a report or a plot of a whole run should read. Pure; one pass per resume."""
    out: list[dict[str, Any]] = []
    for ev in events:
        if ev.get("type") == "resume" and isinstance(ev.get("from_step"), int):
            cut = ev["from_step"]
            out = [e for e in out if e.get("type") not in ("log", "eval", "checkpoint")
                   or not isinstance(e.get("step"), int) or e["step"] <= cut]
        out.append(ev)
    return out


def whole_run_loss(events: list[dict[str, Any]]) -> float | None:
    """The training loss over the whole run, every segment of a resumed run included and each step counted once
    (a resume replays the steps after its checkpoint: the later value wins). Each logged loss is the mean over the
    steps since the previous log, so it weighs as many steps as it covers. None when no loss was logged."""
    total = weight = 0.0
    prev = 0
    for ev in one_value_per_step(events):
        if ev.get("type") == "resume" and isinstance(ev.get("from_step"), int):
            prev = ev["from_step"]
            continue
        if ev.get("type") != "log" or not isinstance(ev.get("step"), int):
            continue
        loss = number(ev.get("loss"))
        if loss is None or not math.isfinite(loss):
            continue
        w = max(1, ev["step"] - prev)
        prev = ev["step"]
        total += w * loss
        weight += w
    return total / weight if weight else None


def number(v: Any) -> float | None:
    """A JSON value as a float when it is a number (not a bool), else None."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    return float(v)


def fmt_duration(s: float | None) -> str:
    if s is None:
        return "—"
    s = int(s)
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else (f"{m}m{sec:02d}s" if m else f"{sec}s")


@dataclass
class RunSummary:
    path: str
    state: str
    model: str
    method: str
    trainer: str
    step: int
    max_steps: int
    best_eval: float | None
    updated: float
    liveness: str | None = None  # an active run whose trainer is stalled or gone: the line to show


def summarize_run(run: str | Path) -> RunSummary | None:
    """One row of the runs list, from config/status and a scan of eval events (small runs) — no tailing."""
    from ftwizard.core.run.layout import RunDir

    rd = RunDir(run)
    if not rd.config_path.exists():
        return None
    try:
        cfg = rd.config()
    except (OSError, ValueError, TypeError):
        return None
    st = rd.status()
    evals: list[tuple[int, float]] = []  # (step, eval loss); a resume drops those logged after its from_step
    try:
        with open(rd.events_path, "rb") as fh:
            for line in fh:
                if b'"eval_loss"' not in line and b'"from_step"' not in line:
                    continue
                try:
                    ev = json.loads(line)
                except ValueError:
                    continue
                if not isinstance(ev, dict):
                    continue
                if ev.get("type") == "resume" and isinstance(ev.get("from_step"), int):
                    evals = [(s, v) for s, v in evals if s <= ev["from_step"]]
                elif isinstance(v := ev.get("eval_loss"), int | float) and not isinstance(v, bool):
                    evals.append((int(ev.get("step") or 0), float(v)))
    except OSError:
        pass
    best = min((v for _, v in evals), default=None)
    from ftwizard.core.run.liveness import liveness

    lv = liveness(rd.path, st)
    shown = cfg.model_gguf or cfg.model  # the .gguf file the person picked, not its converted folder's hashed name
    return RunSummary(str(rd.path), str(st.get("state", "new")), Path(shown).name or shown, cfg.method,
                      cfg.trainer, int(st.get("last_step") or 0), int(st.get("max_steps") or 0), best,
                      float(st.get("updated") or rd.config_path.stat().st_mtime or time.time()),
                      lv.line if lv is not None and lv.kind != "alive" else None)


def list_runs(root: str | Path = "runs", limit: int = 50) -> list[RunSummary]:
    base = Path(root)
    if not base.is_dir():
        return []
    out = [s for p in base.iterdir() if p.is_dir() and (s := summarize_run(p)) is not None]
    return sorted(out, key=lambda s: -s.updated)[:limit]
