"""Hardware: the probed GPUs as cards; with no GPU, say so kindly and offer the demo, a GPU to plan for,
or CPU-only."""

from __future__ import annotations

from rich.markup import escape
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Input, Label, Select, Static

from ftwizard.core.plan.hardware import KNOWN_GPUS
from ftwizard.ui.screens.base import StepScreen
from ftwizard.ui.widgets.bars import usage_bar


class HardwareScreen(StepScreen):
    STEP = "hardware"
    AUTO_FOCUS = "#plan-gpu"

    def compose_body(self) -> ComposeResult:
        res = self.wizard.probe_result
        ans = self.wizard.answers
        with VerticalScroll():
            if not res.gpus:
                yield Static("No GPU found", classes="title")
                yield Static(f"{escape(str(res.reason))}\n\nThat is fine. You can plan for a GPU you will rent or buy (pick it "
                             "below), go CPU-only (tiny models only), or watch the offline demo train a tiny model "
                             "on this CPU (a few minutes; it shows every screen after the plan).", classes="why")
                with Horizontal(classes="row"):
                    yield Button("Run the offline demo", id="demo", variant="primary")
            for g in res.gpus:
                cc = f"{g.compute_capability[0]}.{g.compute_capability[1]}" if g.compute_capability else "?"
                yield Static(
                    f"[b]GPU {g.index}: {escape(g.name)}[/b]\n"
                    f"memory {usage_bar(g.used_bytes / max(g.total_bytes, 1), 30)} "
                    f"{g.used_bytes / 2**30:.1f} used / {g.total_gib:.1f} GiB ({g.free_bytes / 2**30:.1f} free)\n"
                    f"compute capability {cc} · bf16 {'yes' if g.bf16 else 'no (fp16 instead)'}", classes="card")
            yield Label("Plan for")
            options = [(f"this machine ({res.count}× {res.gpus[0].name})" if res.gpus else
                        "this machine (no GPU)", "local"), ("CPU only", "cpu")]
            options += [(f"{n} ({gib:.0f} GiB)", n) for n, (gib, _) in KNOWN_GPUS.items()]
            default = ans.gpu if ans.gpu in dict((v, k) for k, v in options) else "local"
            if not res.gpus and ans.gpu == "local":
                default = "NVIDIA GeForce RTX 4090"
                ans.gpu = default
            yield Select(options, value=default, id="plan-gpu", allow_blank=False, compact=True)
            yield Label("How many of them")
            yield Input(str(ans.gpu_count), id="gpu-count", type="integer", compact=True)

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "plan-gpu":
            self.wizard.answers.gpu = str(event.value)

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "gpu-count":
            try:
                self.wizard.answers.gpu_count = max(1, min(64, int(event.value)))
            except ValueError:
                pass

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "demo":
            self.wizard.start_demo()
