"""The Textual app driven with Pilot, with a fake GPU (one 24 GB card)."""

from __future__ import annotations

import subprocess
import sys

from ftwizard.core.plan.hardware import FakeProbe
from ftwizard.ui.app import make_app


async def test_decide_walk_to_outcome_and_back():
    app = make_app(FakeProbe.of("4090"))
    async with app.run_test(size=(100, 32)) as pilot:
        screen = app.screen
        await pilot.press("n", "n", "y", "y", "n")  # not prompting, not knowledge, behaviour, small change, no persona
        assert screen.walk.node.id == "ft_format"
        assert "Fine-tune" in str(screen.query_one("#question").render())
        await pilot.press("b")
        assert screen.walk.node.id == "persona" and screen.walk.answers == {"start": False, "knowledge": False,
                                                                             "behaviour": True, "task_kind": True}
        await pilot.press("y")
        assert screen.walk.node.id == "ft_identity"
        await pilot.click("#to-estimator")
        assert app.current_mode == "estimator"


async def test_estimator_recomputes_on_input():
    app = make_app(FakeProbe.of("4090"))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("e")
        screen = app.screen
        before = screen.last_estimate.peak_gib
        screen.query_one("#batch").value = "8"
        await pilot.pause()
        after = screen.last_estimate.peak_gib
        assert after > before
        assert "does not fit" in str(screen.query_one("#summary").render())
        screen.query_one("#method").value = "qlora"
        await pilot.pause()
        assert screen.last_estimate.peak_gib < after


async def test_estimator_says_too_tight_in_words():
    """Under the card but over it with the estimate's margin reads as 'too tight', not 'does not fit (up to …)'."""
    app = make_app(FakeProbe.of("4090"))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("e")
        screen = app.screen
        screen.query_one("#method").value = "lora"
        screen.query_one("#batch").value = "1"
        await pilot.pause()
        est, text = screen.last_estimate, str(screen.query_one("#summary").render())
        assert est.peak_gib <= 24 < est.high_gib, est.peak_gib  # llama-3.1-8b LoRA at 2048 tokens on a 24 GiB card
        assert "too tight" in text and f"up to {est.high_gib:.1f} GiB" in text and "does not fit" not in text


async def test_hardware_with_and_without_gpu():
    app = make_app(FakeProbe.of("A100-80", 2))
    async with app.run_test() as pilot:
        await pilot.press("h")
        text = " ".join(str(s.render()) for s in app.screen.query(".card"))
        assert "A100" in text and "GPU 1" in text
    app = make_app(FakeProbe({"gpus": [], "reason": "No NVIDIA driver was found."}))
    async with app.run_test() as pilot:
        await pilot.press("h")
        assert "No GPU found" in str(app.screen.query_one(".title").render())


def test_app_imports_no_torch():
    code = "import sys, ftwizard.ui.app; print([m for m in ('torch','transformers','trl','peft') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
