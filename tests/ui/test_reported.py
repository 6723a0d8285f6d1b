"""Problems users reported at 80×24 on a machine without a GPU: each one driven with Pilot as they met it."""

from __future__ import annotations

import os

import pytest
import yaml
from textual.widgets import Input, Select, Static

from ftwizard.core.plan.hardware import FakeProbe
from ftwizard.core.run.config import RunConfig
from ftwizard.core.run.layout import RunDir
from ftwizard.core.run.state import RunState
from ftwizard.core.wizard import Answers, load_settings, planning_probe, save_setting
from ftwizard.ui.app import make_app
from ftwizard.ui.screens.base import STEPS
from ftwizard.ui.screens.monitor import run_on_gpu
from tests.helpers import pilot_wait as _wait

SIZE = (80, 24)
NO_GPU = {"gpus": [], "reason": "No NVIDIA driver was found."}
# every single-key shortcut of the app and its screens, digits (plan fixes) and a path's own letters
SHORTCUT_KEYS = "dhemqynbfxrscltpg12345"


def _text(screen, sel: str) -> str:
    return str(screen.query_one(sel).render())


def _all_text(screen) -> str:
    return "\n".join(str(w.render()) for w in screen.query(Static) if w.display)


# ---- 1. "Plan for" on a machine without a GPU: this machine's CPU, said plainly -------------------------
async def test_no_gpu_plans_for_this_cpu_and_says_so():
    app = make_app(FakeProbe(NO_GPU))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("h")
        screen = app.screen
        assert app.current_mode == "hardware"
        assert app.answers.gpu == "local" and screen.query_one("#plan-gpu", Select).value == "local"
        assert planning_probe(app.answers, app.probe_result).count == 0  # the plan is a CPU plan
        target = _text(screen, "#plan-target")
        assert "Planning for this machine's CPU" in target
        assert "4090" not in _all_text(screen)
        assert not screen.query_one("#gpu-count").display  # nothing to count on a CPU
        # a GPU to rent or buy can still be picked, and the screen says what the plan is for now
        screen.query_one("#plan-gpu", Select).value = "NVIDIA GeForce RTX 3060"
        await pilot.pause()
        assert app.answers.gpu == "NVIDIA GeForce RTX 3060"
        assert "Planning for: NVIDIA GeForce RTX 3060" in _text(screen, "#plan-target")
        assert screen.query_one("#gpu-count").display
        screen.query_one("#plan-gpu", Select).value = "local"
        await pilot.pause()
        assert app.answers.gpu == "local" and "this machine's CPU" in _text(screen, "#plan-target")


async def test_no_gpu_plan_is_a_cpu_plan_end_to_end():
    app = make_app(FakeProbe(NO_GPU), answers=Answers(model="qwen2.5-0.5b", rows=500), start="hardware")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+n", "ctrl+n", "ctrl+n")  # model, data (empty), plan
        await pilot.pause()
        assert app.current_mode == "plan"
        assert app.screen.view.gpu_gib is None and "CPU-only plan" in _text(app.screen, "#plan-summary")


async def test_a_gpu_machine_still_plans_for_its_gpu():
    app = make_app(FakeProbe.of("4090"), start="hardware")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.answers.gpu == "local"
        assert "Planning for this machine:" in _text(app.screen, "#plan-target")
        assert "4090" in _text(app.screen, "#plan-target")


async def test_a_preset_with_a_short_gpu_name_keeps_that_gpu():
    app = make_app(FakeProbe(NO_GPU), answers=Answers(gpu="3060"), start="hardware")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.answers.gpu == "NVIDIA GeForce RTX 3060"
        assert app.screen.query_one("#plan-gpu", Select).value == "NVIDIA GeForce RTX 3060"


# ---- 2. keys typed in a text box are text, never shortcuts ----------------------------------------------
TEXT_BOXES = [
    ("data", "#data-path", False),
    ("model", "#model-path", False),
    ("task", "#rows", False),
    ("launch", "#run-dir", False),
    ("hardware", "#gpu-count", True),
    ("estimator", "#rank", True),
    ("plan", "#f-learning_rate", False),
    ("tryit", "#try-prompt", False),
]


@pytest.mark.parametrize("mode, box, integer", TEXT_BOXES, ids=[m for m, _, _ in TEXT_BOXES])
async def test_typing_in_a_text_box_never_fires_a_shortcut(tmp_path, mode, box, integer):
    app = make_app(FakeProbe(NO_GPU) if mode != "hardware" else FakeProbe.of("4090"), runs_root=tmp_path,
                   answers=Answers(model="qwen2.5-0.5b"), start=mode)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        inp = screen.query_one(box, Input)
        inp.focus()
        inp.value = ""
        await pilot.pause()
        assert app.check_action("goto", ("estimator",)) is False  # while typing: off (and not in the footer)
        assert screen.check_action("go_back", ()) is True  # Escape still goes back
        await pilot.press(*SHORTCUT_KEYS, "slash", "e")
        await pilot.pause()
        assert app.is_running and app.current_mode == mode and app.screen is screen and app.focused is inp
        assert inp.value == ("12345" if integer else SHORTCUT_KEYS + "/e")


async def test_a_data_path_with_an_e_is_typed_not_the_estimator():
    """As reported: the Data step's path box, a path with d, e, m, q and n in it."""
    app = make_app(FakeProbe(NO_GPU), start="data")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        inp = app.screen.query_one("#data-path", Input)
        assert app.focused is inp  # the box has focus on arrival (and shows it: tests/ui snapshots)
        path = "~/exp/demo-queries/train.jsonl"
        await pilot.press(*[{"/": "slash", "~": "tilde", ".": "full_stop", "-": "minus"}.get(c, c) for c in path])
        await pilot.pause()
        assert app.current_mode == "data" and inp.value == path and app.answers.decide == {}
        # out of the box, the same letters are shortcuts again
        await pilot.press("tab")
        assert app.focused is not inp
        await pilot.press("e")
        assert app.current_mode == "estimator"
        await pilot.press("escape")
        assert app.current_mode == "data"


async def test_decide_keys_are_typed_in_a_path_prompt():
    app = make_app(FakeProbe(NO_GPU))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+l")
        await pilot.pause()
        box = app.screen.query_one("#path", Input)
        box.value = ""
        await pilot.press("y", "n", "b", "q", "e")
        await pilot.pause()
        assert box.value == "ynbqe" and app.is_running
        assert app.current_mode == "decide" and app.screen_stack[-2].walk.answers == {}  # no question answered


# ---- 3. Escape from the estimator goes back where it was opened from ------------------------------------
@pytest.mark.parametrize("step", STEPS)
async def test_escape_from_the_estimator_returns_to_the_step_it_was_opened_from(tmp_path, step):
    app = make_app(FakeProbe(NO_GPU), runs_root=tmp_path, answers=Answers(model="qwen2.5-0.5b"), start="decide")
    async with app.run_test(size=SIZE) as pilot:
        app.switch_mode(step)
        await pilot.pause()
        app.set_focus(None)  # out of any text box (the Data step's path box has focus on arrival)
        await pilot.press("e")
        assert app.current_mode == "estimator"
        screen = app.screen
        screen.query_one("#batch", Input).focus()
        await pilot.press("2")  # a number typed in the estimator, then Escape
        await pilot.press("escape")
        assert app.current_mode == step


async def test_escape_walks_back_through_tool_screens():
    app = make_app(FakeProbe(NO_GPU), start="data")
    async with app.run_test(size=SIZE) as pilot:
        app.set_focus(None)
        await pilot.press("e")
        app.set_focus(None)
        await pilot.press("m")
        assert app.current_mode == "monitor"
        await pilot.press("escape")
        assert app.current_mode == "estimator"
        await pilot.press("escape")
        assert app.current_mode == "data"


async def test_escape_from_a_tool_screen_opened_first_is_a_step_not_a_blank_screen():
    app = make_app(FakeProbe(NO_GPU), start="estimator")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("escape")
        assert app.current_mode == "decide"


# ---- 4. no CUDA wording on a CPU run or a CPU plan ------------------------------------------------------
def test_run_on_gpu():
    cpu, gpu = RunState(), RunState()
    cpu.preflight, gpu.preflight = {"device": "cpu"}, {"device": "cuda"}
    assert not run_on_gpu(cpu, machine_has_gpu=True) and run_on_gpu(gpu, machine_has_gpu=False)
    assert not run_on_gpu(RunState(), machine_has_gpu=False) and run_on_gpu(RunState(), machine_has_gpu=True)


def _cpu_run(tmp_path, device: str | None) -> RunDir:
    rd = RunDir(tmp_path / "run").create(RunConfig(model="m", data="d", estimate_gib=1.2))
    rd.write_status(state="running", pid=os.getpid(), max_steps=20)
    rd.append_event({"type": "log", "step": 1, "max_steps": 20, "loss": 2.0, "learning_rate": 1e-4, "time": 1.0})
    if device:
        rd.append_event({"type": "preflight", "device": device, "measured_peak_allocated_gib": 1.1, "time": 1.0})
    return rd


@pytest.mark.parametrize("device", [None, "cpu"])
async def test_no_cuda_wording_on_a_cpu_run(tmp_path, device):
    rd = _cpu_run(tmp_path, device)
    app = make_app(FakeProbe(NO_GPU), runs_root=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        app.open_run(rd.path)
        await _wait(pilot, lambda: app.run_state is not None and app.run_state.step >= 1
                    and (device is None or app.run_state.preflight is not None))
        await pilot.pause(0.7)
        memory = _text(app.screen, "#memory-text")
        assert "predicted 1.20 GiB" in memory and "CUDA" not in memory


async def test_cuda_reserve_is_still_said_on_a_gpu_run(tmp_path):
    rd = _cpu_run(tmp_path, "cuda")
    app = make_app(FakeProbe.of("4090"), runs_root=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        app.open_run(rd.path)
        await _wait(pilot, lambda: app.run_state is not None and app.run_state.preflight is not None)
        await pilot.pause(0.7)
        assert "CUDA's reserve" in _text(app.screen, "#memory-text")


async def test_no_cuda_wording_on_any_screen_of_a_cpu_plan(tmp_path):
    app = make_app(FakeProbe(NO_GPU), runs_root=tmp_path, answers=Answers(model="qwen2.5-0.5b", rows=500))
    async with app.run_test(size=SIZE) as pilot:
        for mode in (*STEPS, "estimator"):
            app.switch_mode(mode)
            await pilot.pause()
            assert "CUDA" not in _all_text(app.screen), mode


# ---- 5. settings.yaml is written only when a setting changes --------------------------------------------
async def test_starting_the_app_never_writes_the_settings(config_home):
    settings = config_home / "settings.yaml"
    async with make_app(FakeProbe(NO_GPU)).run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
    assert not settings.exists()  # the default theme: nothing to remember
    config_home.mkdir(parents=True, exist_ok=True)
    settings.write_text("theme: nord\n")
    os.utime(settings, ns=(1_000_000_000, 1_000_000_000))
    app = make_app(FakeProbe(NO_GPU))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.2)
        assert app.theme == "nord"
    assert settings.stat().st_mtime_ns == 1_000_000_000 and settings.read_text() == "theme: nord\n"
    app = make_app(FakeProbe(NO_GPU))
    async with app.run_test(size=SIZE) as pilot:
        app.theme = "textual-light"  # the person picks a theme: remembered
        await pilot.pause(0.2)
    assert yaml.safe_load(settings.read_text()) == {"theme": "textual-light"}


def test_save_setting_writes_only_a_change(config_home):
    settings = config_home / "settings.yaml"
    save_setting("theme", "nord")
    os.utime(settings, ns=(1_000_000_000, 1_000_000_000))
    save_setting("theme", "nord")
    assert settings.stat().st_mtime_ns == 1_000_000_000
    save_setting("theme", "gruvbox")
    assert load_settings() == {"theme": "gruvbox"} and settings.stat().st_mtime_ns != 1_000_000_000


# ---- 6. q works in every prompt -------------------------------------------------------------------------
async def _quits(pilot) -> bool:
    """q was pressed: the app exits (checked inside run_test, where `is_running` alone would not tell)."""
    await pilot.pause()
    return pilot.app.return_code == 0


async def test_q_in_continue_where_you_left_off_quits():
    app = make_app(FakeProbe(NO_GPU), offer=Answers(model="qwen2.5-0.5b", step="data"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert "Continue where you left off?" in _all_text(app.screen)
        await pilot.press("q")
        assert await _quits(pilot)
        assert app.answers.model == ""  # quit without taking the offer (the autosave file stays for next time)


async def test_q_in_the_quit_question_quits():
    app = make_app(FakeProbe(NO_GPU))
    async with app.run_test(size=SIZE) as pilot:
        app.answers.model = "qwen2.5-0.5b"  # an unsaved edit: q asks first
        await pilot.press("q")
        await pilot.pause()
        assert app.return_code is None and "Quit ftwizard?" in _all_text(app.screen)
        await pilot.press("q")
        assert await _quits(pilot)


@pytest.mark.parametrize("dirty", [False, True])
async def test_q_in_the_file_picker_quits(tmp_path, monkeypatch, dirty):
    monkeypatch.chdir(tmp_path)
    app = make_app(FakeProbe(NO_GPU), start="data")
    async with app.run_test(size=SIZE) as pilot:
        if dirty:
            app.answers.model = "qwen2.5-0.5b"
        await pilot.click("#browse")
        await pilot.pause()
        picked = app.screen.query_one("#picked", Input)
        picked.focus()
        await pilot.press("q")  # typed in its path box
        await pilot.pause()
        assert picked.value == "q" and app.return_code is None
        app.screen.query_one("#tree").focus()
        await pilot.press("q")
        if dirty:  # the picker is gone and the app asks about the unsaved edit, as q always does
            await pilot.pause()
            assert app.return_code is None and "Quit ftwizard?" in _all_text(app.screen)
            await pilot.press("q")
        assert await _quits(pilot)


async def test_q_is_typed_in_the_save_prompt():
    app = make_app(FakeProbe(NO_GPU))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+s")
        await pilot.pause()
        box = app.screen.query_one("#path", Input)
        box.value = ""
        await pilot.press("q")
        await pilot.pause()
        assert box.value == "q" and app.return_code is None
