"""Estimator: model × method × rank × batch × sequence × GPU → stacked memory bar and max batch, live.
Opens on the wizard's model and GPU; numbers below 1 are refused (with the field named), never clamped."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from rich.markup import escape
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Footer, Header, Input, Label, Select, Static

from ftwizard.core.plan.catalog import load_catalog
from ftwizard.core.plan.hardware import KNOWN_GPUS
from ftwizard.core.plan.launch_checks import total_ram_gib
from ftwizard.core.plan.memory import Estimate, EstimateInput, estimate, fit_advice, max_micro_batch
from ftwizard.core.plan.model_facts import ModelFacts, ModelFactsError
from ftwizard.core.wizard import planning_probe
from ftwizard.ui.screens.base import AppScreen
from ftwizard.ui.widgets.bars import part_style, stacked_bar

WIZARD_MODEL = "__wizard__"
LOCAL_GPU = "__local__"
CPU = "__cpu__"
LIMITS = {"rank": ("LoRA rank", 1024), "batch": ("Micro-batch", 4096), "seq": ("Sequence length", 1_048_576)}


def positive_int(text: str, label: str, most: int) -> int:
    """A whole number from 1 to `most`; ValueError naming the field otherwise."""
    try:
        n = int(text.strip())
    except ValueError:
        raise ValueError(f"{label}: '{text}' is not a whole number") from None
    if not 1 <= n <= most:
        raise ValueError(f"{label}: {n} is not allowed — from 1 to {most:,}")
    return n


class EstimatorScreen(AppScreen):
    def __init__(self) -> None:
        super().__init__()
        self.last_estimate: Estimate | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        app = self.wizard
        res = app.probe_result
        ans = app.answers
        cat = load_catalog()
        models = [(k, k) for k in cat]
        model_default = "llama-3.1-8b"
        if ans.model in cat:
            model_default = ans.model
        elif ans.model:
            models.insert(0, (f"your model: {ans.model}"[:40], WIZARD_MODEL))
            model_default = WIZARD_MODEL
        gpus = [(f"{n} ({g:.0f} GiB)", n) for n, (g, _) in KNOWN_GPUS.items()]
        gpu_default = "NVIDIA GeForce RTX 4090"
        ram = total_ram_gib()
        if ram:  # a CPU-only plan: its RAM, in fp32
            gpus.insert(0, (f"no GPU: this CPU's RAM ({ram:.0f} GiB, fp32)", CPU))
        if res.gpus:
            gpus.insert(0, (f"this machine: {res.gpus[0].name} ({res.gpus[0].total_gib:.0f} GiB)", LOCAL_GPU))
            gpu_default = LOCAL_GPU
        if ans.gpu in KNOWN_GPUS:
            gpu_default = ans.gpu
        elif ram and ans.model and not planning_probe(ans, res).gpus:  # the wizard plans for this CPU
            gpu_default = CPU
        start = dict(ans.overrides)  # the plan's own values (its method, batch, length), else what was typed
        try:
            view = self.wizard.plan_view() if ans.model else None
        except (ModelFactsError, ValueError):
            view = None
        if view is not None:
            start = {**view.values, **start}
        method = str(start.get("method") or "lora")
        if method not in ("lora", "qlora", "dora", "full"):
            method = "lora"
        with Horizontal():
            with VerticalScroll(id="estimator-form"):
                yield Label("Model")
                yield Select(models, value=model_default, id="model", allow_blank=False, compact=True)
                yield Label("Method")
                yield Select([(m, m) for m in ("lora", "qlora", "dora", "full")], value=method, id="method",
                             allow_blank=False, compact=True)
                yield Label("LoRA rank")
                yield Input(str(start.get("rank", 16)), id="rank", type="integer", compact=True)
                yield Label("Micro-batch")
                yield Input(str(start.get("micro_batch", 1)), id="batch", type="integer", compact=True)
                yield Label("Sequence length (tokens)")
                yield Input(str(start.get("max_seq_length", 2048)), id="seq", type="integer", compact=True)
                yield Label("Gradient checkpointing")
                yield Select([("on", True), ("off", False)], value=bool(start.get("gradient_checkpointing", True)),
                             id="ckpt", allow_blank=False, compact=True)
                yield Label("GPU")
                yield Select(gpus, value=gpu_default, id="gpu", allow_blank=False, compact=True)
            with VerticalScroll(id="estimator-result"):
                yield Static(id="summary")
                yield Static(id="bar")
                yield Static(id="parts")
                yield Static(id="advice", classes="why")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.recompute()

    def on_input_changed(self, _event: Input.Changed) -> None:
        self.recompute()

    def on_select_changed(self, _event: Select.Changed) -> None:
        self.recompute()

    def gpu_gib(self) -> tuple[str, float]:
        val = self.query_one("#gpu", Select).value
        if val == CPU:
            return "this CPU (RAM)", total_ram_gib() or 0.0
        if val == LOCAL_GPU:
            g = self.wizard.probe_result.gpus[0]
            return g.name, g.total_gib
        return str(val), KNOWN_GPUS[str(val)][0]

    def facts(self) -> ModelFacts:
        key = str(self.query_one("#model", Select).value)
        if key == WIZARD_MODEL:
            facts = self.wizard.model_facts()
            if facts is None:
                raise ModelFactsError("no model chosen in the wizard")
            return facts
        return load_catalog()[key].facts

    def current_input(self) -> tuple[ModelFacts, EstimateInput]:
        facts = self.facts()
        method = str(self.query_one("#method", Select).value)
        nums = {k: positive_int(self.query_one(f"#{k}", Input).value, label, most) for k, (label, most) in LIMITS.items()}
        inp = EstimateInput(
            method=method, rank=nums["rank"], targets=tuple(facts.resolve_targets("all-linear")) if method != "full" else (),
            batch=nums["batch"], seq=nums["seq"], grad_ckpt=bool(self.query_one("#ckpt", Select).value),
            optim="paged_adamw_8bit" if method == "qlora" else "adamw_torch")
        if self.query_one("#gpu", Select).value == CPU:
            inp = replace(inp, precision="fp32", device="cpu")
        return facts, inp

    def recompute(self) -> None:
        summary = self.query_one("#summary", Static)
        try:
            facts, inp = self.current_input()
        except (ValueError, ModelFactsError) as exc:
            summary.update(f"[b $error]{escape(str(exc))}[/]")
            for wid in ("#bar", "#parts", "#advice"):
                self.query_one(wid, Static).update("")
            return
        est = estimate(facts, inp)
        name, gib = self.gpu_gib()
        parts = {k: v / 2**30 for k, v in est.parts_bytes.items()}
        fits = est.fits(gib)
        mb = max_micro_batch(facts, inp, gib)
        if fits:
            verdict = "[b $success]fits[/]"
        elif est.peak_gib <= gib:  # under the card, over it with the estimate's own uncertainty
            verdict = (f"[b $warning]too tight[/]: the estimate is ±{est.margin:.0%}, so it may need up to "
                       f"{est.high_gib:.1f} GiB")
        else:
            verdict = "[b $error]does not fit[/]"
        short = Path(facts.name).name or facts.name  # a model's folder or file path wrapped mid-name at 80 columns
        summary.update(
            f"[b]{escape(short)}[/b] · {inp.method} · peak [b]{est.peak_gib:.1f} GiB[/b] of {gib:.0f} GiB on "
            f"{escape(name)}: {verdict}\n" + (f"largest micro-batch that fits: {mb}" if mb else
                                             "not even micro-batch 1 fits: see the fixes below"))
        self.query_one("#bar", Static).update(stacked_bar(parts, gib, 30) + f"  {gib:.0f} GiB")
        self.query_one("#parts", Static).update("\n".join(
            f"[{part_style(k)}]■[/] {k:14} {v:7.2f} GiB" for k, v in parts.items() if v >= 0.005))
        adv = fit_advice(facts, inp, gib)
        self.query_one("#advice", Static).update(
            "" if adv.fits else "To make it fit, in order:\n" + "\n".join(f"→ {escape(c)}: {p:.1f} GiB" for c, p in adv.steps))
        self.last_estimate = est
