"""Hardware: the probed GPUs as cards; with no GPU, say so kindly: the plan is then for this machine's CPU
(a GPU to rent or buy can still be picked), and the offline demo is one key away."""

from __future__ import annotations

from rich.markup import escape
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Input, Label, Select, Static

from ftwizard.core.plan.hardware import KNOWN_GPUS, ProbeResult, gpu_from_name
from ftwizard.ui.screens.base import StepScreen
from ftwizard.ui.widgets.bars import usage_bar


def target_options(res: ProbeResult, current: str) -> list[tuple[str, str]]:
    """The "Plan for" choices: this machine first (its GPUs, or its CPU when it has none), then known cards."""
    if res.gpus:
        options = [(f"this machine ({res.count}× {res.gpus[0].name})", "local"), ("CPU only", "cpu")]
    else:  # "local" is the CPU here: a second "CPU only" entry would be the same plan
        options = [("this machine's CPU (no GPU found)", "local")]
        if current == "cpu":
            options.append(("CPU only", "cpu"))
    return options + [(f"{n} ({gib:.0f} GiB)", n) for n, (gib, _) in KNOWN_GPUS.items()]


def on_cpu(res: ProbeResult, target: str) -> bool:
    """True when the plan is for a CPU: "cpu", or "local" on a machine without a GPU."""
    return target == "cpu" or (target == "local" and not res.gpus)


def target_text(res: ProbeResult, target: str) -> str:
    """One plain sentence: what the plan is for."""
    if target == "local" and not res.gpus:
        return ("[b]Planning for this machine's CPU.[/b] Only tiny models are practical there, and training is slow. "
                "To plan for a GPU you will rent or buy, choose it in 'Plan for'.")
    if target == "cpu":
        return "[b]Planning for the CPU only.[/b] Only tiny models are practical there, and training is slow."
    if target == "local":
        return f"[b]Planning for this machine:[/b] {res.count}× {escape(res.gpus[0].name)}."
    gib = KNOWN_GPUS[target][0] if target in KNOWN_GPUS else None
    size = f" ({gib:.0f} GiB)" if gib else ""
    where = "a GPU you will rent or buy (this machine has none)" if not res.gpus else "not this machine's GPUs"
    return f"[b]Planning for: {escape(target)}{size}[/b], {where}."


class HardwareScreen(StepScreen):
    STEP = "hardware"
    AUTO_FOCUS = "#plan-gpu"

    def compose_body(self) -> ComposeResult:
        res = self.wizard.probe_result
        ans = self.wizard.answers
        with VerticalScroll():
            if not res.gpus:
                yield Static("No GPU found", classes="title")
                yield Static(f"{escape(str(res.reason))}\n\nThat is fine: the plan is for this machine's CPU (tiny "
                             "models only). To plan for a GPU you will rent or buy, choose it in 'Plan for'. Or watch the "
                             "offline demo train a tiny model on this CPU (a few minutes; it shows every screen after "
                             "the plan).", classes="why")
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
            options = target_options(res, ans.gpu)
            default = ans.gpu
            if default not in {v for _, v in options}:  # a preset's short name ("4090") → its entry
                try:
                    default = gpu_from_name(default).name
                except ValueError:
                    default = "local"
                ans.gpu = default
            yield Select(options, value=default, id="plan-gpu", allow_blank=False, compact=True)
            yield Static(target_text(res, default), id="plan-target")
            yield Label("How many of them", id="gpu-count-label")
            yield Input(str(ans.gpu_count), id="gpu-count", type="integer", compact=True)

    def on_mount(self) -> None:
        self._show_target(self.wizard.answers.gpu)

    def _show_target(self, target: str) -> None:
        res = self.wizard.probe_result
        self.query_one("#plan-target", Static).update(target_text(res, target))
        cpu = on_cpu(res, target)  # "how many" means GPUs: nothing to count on a CPU
        self.query_one("#gpu-count-label").display = not cpu
        self.query_one("#gpu-count").display = not cpu

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "plan-gpu" and event.value is not Select.NULL:
            self.wizard.answers.gpu = str(event.value)
            self._show_target(str(event.value))

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "gpu-count":
            try:
                self.wizard.answers.gpu_count = max(1, min(64, int(event.value)))
            except ValueError:
                pass

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "demo":
            self.wizard.start_demo()
