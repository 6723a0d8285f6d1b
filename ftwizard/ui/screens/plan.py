"""Plan: the recommendation, each value with its reason, editable; a stacked memory bar against the GPU
that updates on every edit; when it does not fit, one-key fixes (1–5) or ctrl+f to apply them in turn."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input, Label, Select, Static, Switch

from ftwizard.core.plan.model_facts import ModelFactsError
from ftwizard.core.plan.wizard import ADAPTER_ONLY, CHOICES, FIELDS, PlanView, apply_fix, auto_fit, parse_value
from ftwizard.ui.screens.base import StepScreen
from ftwizard.ui.widgets.bars import PART_STYLES, fmt_count, fmt_gib, stacked_bar


def _fmt(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def summary_text(view: PlanView) -> str:
    e = view.estimate
    parts = {k: v / 2**30 for k, v in e.parts_bytes.items()}
    if view.gpu_gib:
        verdict = "[b $success]fits[/]" if view.fits else "[b $error]does not fit[/]"
        head = (f"predicted peak [b]{e.peak_gib:.1f} GiB[/b] of {view.gpu_gib:.0f} GiB on {view.gpus}× {view.gpu_name}: "
                f"{verdict} · largest micro-batch that fits: {view.max_micro_batch}")
        bar = stacked_bar(parts, view.gpu_gib, 44) + f" {view.gpu_gib:.0f} GiB"
    else:
        head = f"predicted peak [b]{e.peak_gib:.1f} GiB[/b] (no GPU to compare with: CPU-only plan)"
        bar = stacked_bar(parts, e.peak_gib, 44)
    legend = "  ".join(f"[{PART_STYLES[k]}]■[/]{k} {fmt_gib(v)}" for k, v in parts.items())
    trainable = f"trainable {fmt_count(e.trainable_params)} of {fmt_count(e.params)} parameters"
    return f"{head}\n{bar}\n{legend}\n{trainable}"


class PlanScreen(StepScreen):
    STEP = "plan"
    AUTO_FOCUS = "#f-method"
    BINDINGS = [Binding("ctrl+f", "auto_fit", "Make it fit", id="plan.fit", priority=True),
                *[Binding(str(i), f"fix('{i}')", f"fix {i}", show=False) for i in range(1, 6)]]

    def __init__(self) -> None:
        super().__init__()
        self.view: PlanView | None = None
        self._syncing = False

    def compose_body(self) -> ComposeResult:
        with Vertical(id="plan-top"):
            yield Static(id="plan-summary")
            yield Static(id="plan-warnings")
            yield Horizontal(id="plan-fixes")
        with VerticalScroll(id="plan-form"):
            for key, (typ, label) in FIELDS.items():
                with Horizontal(classes="plan-row", id=f"row-{key}"):
                    yield Label(label, classes="plan-label")
                    if key in CHOICES:
                        yield Select([(c, c) for c in CHOICES[key]], id=f"f-{key}", allow_blank=False,
                                     classes="plan-input")
                    elif typ is bool:
                        yield Switch(id=f"f-{key}", classes="plan-input")
                    else:
                        yield Input(id=f"f-{key}", classes="plan-input")
                    yield Static(id=f"why-{key}", classes="plan-why")
            with Horizontal(classes="row"):
                yield Button("Reset to recommended", id="reset")

    def on_mount(self) -> None:
        self.recompute(sync_widgets=True)

    def refresh_from_answers(self) -> None:
        self.recompute(sync_widgets=True)

    # ---- plan ------------------------------------------------------------------------------------
    def recompute(self, sync_widgets: bool = False) -> None:
        try:
            self.view = self.wizard.plan_view()
        except ModelFactsError as exc:
            self.view = None
            self.query_one("#plan-summary", Static).update(f"[b $error]No plan yet[/]: {exc}")
            return
        if self.view is None:
            self.query_one("#plan-summary", Static).update("[b]No model chosen yet[/b]: go back to the Model step.")
            return
        v = self.view
        self.query_one("#plan-summary", Static).update(summary_text(v))
        self.query_one("#plan-warnings", Static).update("\n".join(f"[$warning]⚠[/] {w}" for w in v.warnings))
        fixes = self.query_one("#plan-fixes", Horizontal)
        fixes.remove_children()
        if v.fixes:
            fixes.mount_all([Button(f"{f.key}: {f.label} → {f.peak_gib:.1f} GiB", id=f"fix-{f.key}", variant="warning",
                                    classes="fix") for f in v.fixes])
        for key in FIELDS:
            row = self.query_one(f"#row-{key}")
            row.display = v.is_adapter or key not in ADAPTER_ONLY
            why = v.reasons.get(key, "")
            mark = "[b $accent]✎[/] " if key in v.edited else ""
            self.query_one(f"#why-{key}", Static).update(mark + why)
        if sync_widgets:
            self.sync_widgets()

    def sync_widgets(self) -> None:
        assert self.view is not None
        self._syncing = True
        try:
            for key in FIELDS:
                val = self.view.values.get(key)
                w = self.query_one(f"#f-{key}")
                if isinstance(w, Select):
                    if val in CHOICES[key]:
                        w.value = val
                elif isinstance(w, Switch):
                    w.value = bool(val)
                elif isinstance(w, Input):
                    w.value = _fmt(val)
        finally:
            self.call_after_refresh(self._end_sync)

    def _end_sync(self) -> None:
        self._syncing = False

    def _edit(self, key: str, raw: Any) -> None:
        if self._syncing or self.view is None:
            return
        try:
            value = parse_value(key, raw)
        except ValueError as exc:
            self.query_one(f"#why-{key}", Static).update(f"[b $error]{exc}[/]")
            return
        if value == self.view.values.get(key):
            return
        self.wizard.answers.overrides[key] = value
        self.recompute(sync_widgets=key == "method")

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id and event.input.id.startswith("f-"):
            self._edit(event.input.id[2:], event.value)

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id and event.select.id.startswith("f-"):
            self._edit(event.select.id[2:], event.value)

    def on_switch_changed(self, event: Switch.Changed) -> None:
        if event.switch.id and event.switch.id.startswith("f-"):
            self._edit(event.switch.id[2:], event.value)

    # ---- fixes -----------------------------------------------------------------------------------
    def action_fix(self, key: str) -> None:
        if self.view is None:
            return
        for f in self.view.fixes:
            if f.key == key:
                apply_fix(self.wizard.answers, f)
                self.notify(f"Applied: {f.label}", timeout=3)
                self.recompute(sync_widgets=True)
                return

    def action_auto_fit(self) -> None:
        facts = self.wizard.model_facts()
        if facts is None or self.view is None:
            return
        if self.view.fits:
            self.notify("It already fits.", timeout=2)
            return
        auto_fit(self.wizard.answers, facts, self.wizard.probe_result)
        self.recompute(sync_widgets=True)
        self.notify("Fits now." if self.view and self.view.fits else "Still too big: pick a smaller model or more GPUs.",
                    severity="information" if self.view and self.view.fits else "warning")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        bid = event.button.id or ""
        if bid.startswith("fix-"):
            self.action_fix(bid[4:])
        elif bid == "reset":
            self.wizard.answers.overrides.clear()
            self.recompute(sync_widgets=True)

    def can_leave(self) -> str | None:
        return "Choose a model first." if self.view is None else None
