"""Plan: the recommendation, each value with its reason, editable; a stacked memory bar against the GPU
that updates on every edit; when it does not fit, one-key fixes (1–5, or alt+1–5 while typing in a box) or
ctrl+f to apply them in turn. The fixes stay visible at 80×24: the summary and fixes sit above a scrolling form.

The fix lines are a fixed set of widgets updated in place (never removed and re-mounted: re-mounting with the
same ids on every keystroke raced the removal and crashed with DuplicateIds)."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.events import Key
from textual.widgets import Button, Input, Label, Select, Static

from ftwizard.core.plan.model_facts import ModelFactsError
from ftwizard.core.trainers import TRAINERS, trainer_spec
from ftwizard.core.wizard import (
    ADAPTER_ONLY,
    CHOICES,
    FIELDS,
    TRAINER_FIELDS,
    PlanView,
    apply_fix,
    auto_fit,
    is_switch,
    menu,
    parse_value,
    set_override,
)
from ftwizard.ui.screens.base import StepScreen
from ftwizard.ui.widgets.bars import fmt_count, fmt_gib, part_style, stacked_bar

MAX_FIXES = 5
SHORT_PART = {"weights": "weights", "gradients": "grads", "optimizer": "optim", "activations": "activ",
              "logits": "logits", "overhead": "other", "optimizer_step": "step"}


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
        name = str(view.gpu_name).removeprefix("NVIDIA ").removeprefix("GeForce ")
        gpu = escape(f"{view.gpus}× {name}" if view.gpus > 1 else name)
        largest = f"micro-batch up to {view.max_micro_batch}" if view.max_micro_batch else "no micro-batch fits"
        head = f"peak [b]{e.peak_gib:.1f} GiB[/b] of {view.gpu_gib:.0f} GiB ({gpu}): {verdict} · {largest}"
        bar = stacked_bar(parts, view.gpu_gib, 40) + f" {view.gpu_gib:.0f} GiB"
    else:
        head = f"peak [b]{e.peak_gib:.1f} GiB[/b] of RAM (no GPU: CPU-only plan)"
        bar = stacked_bar(parts, e.peak_gib, 40)
    legend = " ".join(f"[{part_style(k)}]■[/]{SHORT_PART.get(k, k)} {fmt_gib(v)}" for k, v in parts.items()
                      if v >= 0.005) + " GiB"
    spec = trainer_spec(view.trainer)
    trainable = (f"[b]{view.trainer.upper()}[/b] ({spec.title.lower()}) · trainable {fmt_count(e.trainable_params)} "
                 f"of {fmt_count(e.params)} parameters")
    return f"{head}\n{bar}\n{legend}\n{trainable}"


class PlanScreen(StepScreen):
    STEP = "plan"
    AUTO_FOCUS = "#f-trainer"
    BINDINGS = [Binding("ctrl+f", "auto_fit", "Make it fit", id="plan.fit", priority=True),
                *[Binding(f"alt+{i}", f"fix('{i}')", f"fix {i}", show=False, priority=True)
                  for i in range(1, MAX_FIXES + 1)]]

    def __init__(self) -> None:
        super().__init__()
        self.view: PlanView | None = None
        self._syncing = False
        self._recounting: str | None = None  # the tokenizer a recount of the data runs with
        self._menus: dict[str, tuple[str, ...]] = {}  # a menu that holds a preset's name outside CHOICES
        self._invalid: dict[str, str] = {}  # field → why its box's text is not a value (Next waits for a fix)

    def compose_body(self) -> ComposeResult:
        with Vertical(id="plan-top"):
            yield Static(id="plan-summary")
            yield Static(id="plan-warnings")
            with Vertical(id="plan-fixes"):
                for i in range(1, MAX_FIXES + 1):
                    yield Static(id=f"fix-{i}", classes="fix")
        with VerticalScroll(id="plan-form"):
            with Horizontal(classes="plan-row", id="row-trainer"):
                yield Label("Trainer", classes="plan-label")
                yield Select([(n, n) for n in TRAINERS], id="f-trainer",
                             allow_blank=False, classes="plan-input", compact=True)
                yield Static(id="why-trainer", classes="plan-why")
            for key, label in FIELDS.items():
                with Horizontal(classes="plan-row", id=f"row-{key}"):
                    yield Label(label, classes="plan-label")
                    if key in CHOICES:
                        yield Select([(c, c) for c in CHOICES[key]], id=f"f-{key}", allow_blank=False,
                                     classes="plan-input", compact=True)
                    elif is_switch(key):
                        yield Select([("on", True), ("off", False)], id=f"f-{key}", allow_blank=False,
                                     classes="plan-input", compact=True)
                    else:
                        yield Input(id=f"f-{key}", classes="plan-input", compact=True)
                    yield Static(id=f"why-{key}", classes="plan-why")
            with Horizontal(classes="row"):
                yield Button("Reset to recommended", id="reset", compact=True)
        yield Static(id="plan-help")

    def on_mount(self) -> None:
        self.recompute(sync_widgets=True)

    def refresh_from_answers(self) -> None:
        self.recompute(sync_widgets=True)

    # ---- plan ------------------------------------------------------------------------------------
    def _cost_text(self, v: PlanView) -> str:
        from ftwizard.core.wizard import cost_line, plan_cost, plan_time

        try:
            cost = plan_cost(self.wizard.answers, v)
            return escape(cost_line(cost, plan_time(self.wizard.answers, v))) + _rent_line(v, self.wizard, cost.tokens)
        except (ValueError, KeyError, OSError) as exc:  # a broken user price file must not break the plan
            return f"[$warning]time and cost unavailable: {escape(str(exc))}[/]"

    def recompute(self, sync_widgets: bool = False) -> None:
        if sync_widgets:  # every box is rewritten from the plan: none holds a typo any more
            self._invalid.clear()
        summary = self.query_one("#plan-summary", Static)
        self.query_one("#plan-form").display = True
        try:
            self.view = self.wizard.plan_view()
        except (ModelFactsError, ValueError) as exc:
            self.view = None
            summary.update(f"[b $error]No plan yet[/]: {escape(str(exc))}")
            self._show_fixes()
            self.query_one("#plan-form").display = False
            return
        if self.view is None:
            summary.update("[b]No model chosen yet[/b]: choose one on the Model step (ctrl+p → Model).")
            self._show_fixes()
            self.query_one("#plan-form").display = False
            return
        v = self.view
        summary.update(summary_text(v) + "\n" + self._cost_text(v))
        warnings = [w for w in v.warnings if not w.startswith("Predicted peak")]
        box = self.query_one("#plan-warnings", Static)
        box.update("\n".join(f"[$warning]⚠[/] {escape(w)}" for w in warnings))
        box.display = bool(warnings)
        self._show_fixes()
        for key in FIELDS:
            self.query_one(f"#row-{key}").display = (key in v.values if key in TRAINER_FIELDS else
                                                     v.is_adapter or key not in ADAPTER_ONLY)
            why = v.reasons.get(key, "")
            mark = "[b $accent]✎[/] " if key in v.edited and key not in self.wizard.answers.fixed else ""
            bad = self._invalid.get(key)
            self.query_one(f"#why-{key}", Static).update(f"[b $error]{escape(bad)}[/]" if bad else mark + escape(why))
        auto = self.wizard.answers.trainer is None
        self.query_one("#why-trainer", Static).update(
            escape(f"{'from your data' if auto else 'you chose this'}: {trainer_spec(v.trainer).why}"))
        if sync_widgets:
            self.sync_widgets()
        self._show_help()
        self._recount_if_stale()

    # ---- token counts made before the model's tokenizer was here ------------------------------------------------
    def _recount_if_stale(self) -> None:
        """The data step counted tokens without this model's tokenizer (a GGUF is converted only when its plan is
        first made; the model changed after the data step): count again with it, chat template and default system
        prompt included, so the sequence length and the time are the model's. Runs once per tokenizer."""
        from ftwizard.core.wizard import tokenizer_source

        ans, rep = self.wizard.answers, self.wizard.last_report
        if not rep or rep.get("path") != ans.data or rep.get("error_count") or not ans.rows:
            return
        tok = tokenizer_source(ans.model)
        method = str(((rep.get("stats") or {}).get("tokens") or {}).get("method", ""))
        if tok is None or tok in method or self._recounting == tok:
            return
        self._recounting = tok
        self.notify("Counting your data's tokens again with the model's tokenizer and chat template …", timeout=4)
        self._recount(ans.data, tok)

    @work(thread=True, exclusive=True, group="recount", exit_on_error=False)
    def _recount(self, path: str, tokenizer: str) -> None:
        from ftwizard.core.data.report import analyze

        ans = self.wizard.answers
        try:
            rep = analyze(path, max_seq=int(ans.overrides.get("max_seq_length", 2048)), task=ans.task_kind,
                          tokenizer=tokenizer).to_dict()
        except Exception:  # noqa: BLE001 - the earlier counts stay; the data step shows any error
            return
        self.app.call_from_thread(self._recounted, rep)

    def _recounted(self, rep: dict[str, Any]) -> None:
        from ftwizard.core.wizard import apply_report

        ans = self.wizard.answers
        if rep.get("path") != ans.data or rep.get("error_count"):
            return
        self.wizard.last_report = rep
        apply_report(ans, rep)
        self.recompute(sync_widgets=True)

    def _show_help(self) -> None:
        """The focused setting's whole reason (the rows cut it to fit 80 columns)."""
        focused = self.focused
        key = (focused.id or "")[2:] if focused is not None and (focused.id or "").startswith("f-") else ""
        help_box = self.query_one("#plan-help", Static)
        if self.view is None or not key:
            help_box.update("" if self.view is None else
                            "[dim]Tab moves between settings; the focused one's reason shows here.[/dim]")
            return
        label = FIELDS.get(key, "Trainer")
        why = self.query_one(f"#why-{key}", Static).render()
        help_box.update(f"[b]{escape(label)}[/b]: {escape(str(why))}")

    def on_descendant_focus(self) -> None:
        self._show_help()

    def _show_fixes(self) -> None:
        fixes = self.view.fixes if self.view is not None else []
        for i in range(1, MAX_FIXES + 1):
            w = self.query_one(f"#fix-{i}", Static)
            f = fixes[i - 1] if i <= len(fixes) else None
            w.display = f is not None
            if f is not None:
                w.update(f"[@click=screen.fix('{f.key}')][b reverse] {f.key} [/b reverse] {escape(f.label)} → "
                         f"{f.peak_gib:.1f} GiB[/]")
        hint = self.query_one("#plan-fixes", Vertical)
        hint.border_title = "fixes: keys 1–5 (in a text box: alt+1–5) · ctrl+f applies them in turn" if fixes else ""
        hint.display = bool(fixes)

    def sync_widgets(self) -> None:
        if self.view is None:
            return
        self._syncing = True
        try:
            trainer = self.query_one("#f-trainer", Select)
            if trainer.value != self.view.trainer:
                trainer.value = self.view.trainer
            for key in FIELDS:
                val = self.view.values.get(key)
                w = self.query_one(f"#f-{key}")
                if isinstance(w, Select) and key in CHOICES:
                    names = menu(key, val)
                    if names != self._menus.get(key, CHOICES[key]):  # a preset's name outside the menu
                        self._menus[key] = names
                        w.set_options([(c, c) for c in names])
                    if val is not None and w.value != val:
                        w.value = val
                elif isinstance(w, Select):
                    if w.value != bool(val):
                        w.value = bool(val)
                elif isinstance(w, Input):
                    text = _fmt(val)
                    if key == "target_modules" and isinstance(val, list) and self._all_linear(val):
                        text = "all-linear"  # seven names do not fit the field at 80 columns; the config says the same
                    if w.value != text:
                        w.value = text
        finally:
            self.call_after_refresh(self._end_sync)

    def _all_linear(self, targets: list[Any]) -> bool:
        try:
            facts = self.wizard.model_facts()
        except (ModelFactsError, ValueError):
            return False
        return facts is not None and set(targets) == set(facts.resolve_targets("all-linear"))

    def _end_sync(self) -> None:
        self._syncing = False

    def _edit(self, key: str, raw: Any) -> None:
        if self._syncing or self.view is None:
            return
        if key == "trainer":
            if raw in TRAINERS and raw != self.view.trainer:
                self.wizard.answers.trainer = str(raw)
                self.wizard.answers.overrides.pop("learning_rate", None)  # the new objective's own starting point
                self.recompute(sync_widgets=True)
            return
        try:
            value = parse_value(key, raw)
        except ValueError as exc:
            self._invalid[key] = str(exc)
            self.query_one(f"#why-{key}", Static).update(f"[b $error]{escape(str(exc))}[/]")
            self._show_help()
            return
        if self._invalid.pop(key, None) is not None:
            self.recompute()  # the reason comes back in place of the error
        current = self.view.values.get(key)
        if value == current or (key == "target_modules" and value == "all-linear" and isinstance(current, list)
                                and self._all_linear(current)):  # the same modules, shown by their short name
            return
        set_override(self.wizard.answers, key, value)
        self.recompute(sync_widgets=key == "method")

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id and event.input.id.startswith("f-"):
            self._edit(event.input.id[2:], event.value)

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id and event.select.id.startswith("f-") and event.value is not Select.NULL:
            self._edit(event.select.id[2:], event.value)

    # ---- fixes -----------------------------------------------------------------------------------
    def on_key(self, event: Key) -> None:
        """1–5 apply a fix unless a text box has focus (there they type; alt+1–5 always apply)."""
        if event.key in {str(i) for i in range(1, MAX_FIXES + 1)} and not isinstance(self.focused, Input):
            if self.view is not None and self.view.fixes:
                event.stop()
                event.prevent_default()
                self.action_fix(event.key)

    def action_fix(self, key: str) -> None:
        if self.view is None:
            return
        for f in self.view.fixes:
            if f.key == key:
                apply_fix(self.wizard.answers, f)
                self.notify(f"Applied: {escape(f.label)}", timeout=3)
                self.recompute(sync_widgets=True)
                return

    def action_auto_fit(self) -> None:
        try:
            facts = self.wizard.model_facts()
        except ModelFactsError:
            facts = None
        if facts is None or self.view is None:
            self.notify("Choose a model first.", severity="warning")
            return
        if self.view.fits:
            self.notify("It already fits.", timeout=2)
            return
        auto_fit(self.wizard.answers, facts, self.wizard.probe_result)
        self.recompute(sync_widgets=True)
        ok = self.view is not None and self.view.fits
        self.notify("Fits now." if ok else "Still too big with every fix, so nothing was changed: pick a smaller "
                    "model or more GPUs.",
                    severity="information" if ok else "warning")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "reset":
            self.wizard.answers.overrides.clear()
            self.wizard.answers.fixed = []
            self.wizard.answers.trainer = None
            self.recompute(sync_widgets=True)

    def can_leave(self) -> str | None:
        if self.view is None:
            return "Choose a model first."
        for key, why in self._invalid.items():
            if self.query_one(f"#row-{key}").display:
                return f"{FIELDS.get(key, key)}: {why} — type a valid value (the plan still uses the last one)."
        return None


def _rent_line(view: PlanView, wizard: object, tokens: float) -> str:
    """One more line when the plan does not fit: the cheapest rented shape that does (core/plan/rent.py)."""
    if view.fits:
        return ""
    from ftwizard.core.plan.rent import plan_rent_shape

    try:
        facts = wizard.model_facts()  # type: ignore[attr-defined]
        shape = plan_rent_shape(view, facts, tokens) if facts is not None else None
    except (ModelFactsError, ValueError, OSError):
        return ""
    return "\n" + escape(shape.line(view.gpu_name)) if shape else ""
