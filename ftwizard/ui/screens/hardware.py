"""Hardware: the probed GPUs as cards; with no GPU, say so kindly and offer the demo or planning."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from ftwizard.ui.widgets.bars import usage_bar


class HardwareScreen(Screen[None]):
    def compose(self) -> ComposeResult:
        yield Header()
        res = self.app.probe_result  # type: ignore[attr-defined]
        with VerticalScroll():
            if not res.gpus:
                yield Static("No GPU found", classes="title")
                yield Static(f"{res.reason}\n\nThat is fine: you can still plan for a GPU in the estimator (press e "
                             "and pick one), or run the offline demo (`ftwizard demo --headless`), which trains a tiny "
                             "model on this CPU in under a minute.", classes="why")
            for g in res.gpus:
                cc = f"{g.compute_capability[0]}.{g.compute_capability[1]}" if g.compute_capability else "?"
                yield Static(
                    f"[b]GPU {g.index}: {g.name}[/b]\n"
                    f"memory {usage_bar(g.used_bytes / max(g.total_bytes, 1), 30)} "
                    f"{g.used_bytes / 2**30:.1f} used / {g.total_gib:.1f} GiB\n"
                    f"compute capability {cc} · bf16 {'yes' if g.bf16 else 'no (fp16 instead)'}", classes="card")
        yield Footer()
