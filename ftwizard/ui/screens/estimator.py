"""Estimator: model × method × rank × batch × sequence × GPU → stacked memory bar and max batch, live."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Label, Select, Static, Switch

from ftwizard.core.plan.catalog import load_catalog
from ftwizard.core.plan.hardware import KNOWN_GPUS
from ftwizard.core.plan.memory import EstimateInput, estimate, fit_advice, max_micro_batch
from ftwizard.ui.widgets.bars import PART_STYLES, stacked_bar


def _int(text: str, default: int) -> int:
    try:
        return max(1, int(text))
    except ValueError:
        return default


class EstimatorScreen(Screen[None]):
    def compose(self) -> ComposeResult:
        yield Header()
        res = self.app.probe_result  # type: ignore[attr-defined]
        gpus = [(f"{n} ({g:.0f} GiB)", n) for n, (g, _) in KNOWN_GPUS.items()]
        default_gpu = "NVIDIA GeForce RTX 4090"
        if res.gpus:
            gpus.insert(0, (f"this machine: {res.gpus[0].name} ({res.gpus[0].total_gib:.0f} GiB)", "__local__"))
            default_gpu = "__local__"
        with Horizontal():
            with VerticalScroll(id="estimator-form"):
                yield Label("Model")
                yield Select([(k, k) for k in load_catalog()], value="llama-3.1-8b", id="model", allow_blank=False)
                yield Label("Method")
                yield Select([(m, m) for m in ("lora", "qlora", "dora", "full")], value="lora", id="method",
                             allow_blank=False)
                yield Label("LoRA rank")
                yield Input("16", id="rank", type="integer")
                yield Label("Micro-batch")
                yield Input("1", id="batch", type="integer")
                yield Label("Sequence length (tokens)")
                yield Input("2048", id="seq", type="integer")
                yield Label("Gradient checkpointing")
                yield Switch(value=True, id="ckpt")
                yield Label("GPU")
                yield Select(gpus, value=default_gpu, id="gpu", allow_blank=False)
            with Vertical(id="estimator-result"):
                yield Static(id="summary")
                yield Static(id="bar")
                yield Static(id="parts")
                yield Static(id="advice", classes="why")
        yield Footer()

    def on_mount(self) -> None:
        self.recompute()

    def on_input_changed(self, _event: Input.Changed) -> None:
        self.recompute()

    def on_select_changed(self, _event: Select.Changed) -> None:
        self.recompute()

    def on_switch_changed(self, _event: Switch.Changed) -> None:
        self.recompute()

    def gpu_gib(self) -> tuple[str, float]:
        val = self.query_one("#gpu", Select).value
        if val == "__local__":
            g = self.app.probe_result.gpus[0]  # type: ignore[attr-defined]
            return g.name, g.total_gib
        return str(val), KNOWN_GPUS[str(val)][0]

    def current_input(self) -> tuple[object, EstimateInput]:
        facts = load_catalog()[str(self.query_one("#model", Select).value)].facts
        method = str(self.query_one("#method", Select).value)
        inp = EstimateInput(
            method=method, rank=_int(self.query_one("#rank", Input).value, 16),
            targets=tuple(facts.resolve_targets("all-linear")) if method != "full" else (),
            batch=_int(self.query_one("#batch", Input).value, 1), seq=_int(self.query_one("#seq", Input).value, 2048),
            grad_ckpt=self.query_one("#ckpt", Switch).value,
            optim="paged_adamw_8bit" if method == "qlora" else "adamw_torch")
        return facts, inp

    def recompute(self) -> None:
        try:
            facts, inp = self.current_input()
        except Exception:  # a half-built form while mounting
            return
        est = estimate(facts, inp)  # type: ignore[arg-type]
        name, gib = self.gpu_gib()
        parts = {k: v / 2**30 for k, v in est.parts_bytes.items()}
        fits = est.peak_gib <= gib * 0.9
        mb = max_micro_batch(facts, inp, gib)  # type: ignore[arg-type]
        verdict = "[b green]fits[/]" if fits else "[b red]does not fit[/]"
        self.query_one("#summary", Static).update(
            f"[b]{facts.name}[/b] · {inp.method} · peak [b]{est.peak_gib:.1f} GiB[/b] of {gib:.0f} GiB on {name}: "  # type: ignore[attr-defined]
            f"{verdict}\nlargest micro-batch that fits: {mb}")
        self.query_one("#bar", Static).update(stacked_bar(parts, gib, 50) + f"  {gib:.0f} GiB")
        self.query_one("#parts", Static).update("\n".join(
            f"[{PART_STYLES[k]}]■[/] {k:12} {v:7.2f} GiB" for k, v in parts.items()))
        adv = fit_advice(facts, inp, gib)  # type: ignore[arg-type]
        self.query_one("#advice", Static).update(
            "" if adv.fits else "To make it fit, in order:\n" + "\n".join(f"→ {c}: {p:.1f} GiB" for c, p in adv.steps))
        self.last_estimate = est
