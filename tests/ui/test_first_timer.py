"""Issue 13: the app as a first-timer meets it — no crash, no lost answer, no dead end, at 80×24."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ftwizard.core.plan.hardware import FakeProbe
from ftwizard.core.run.config import RunConfig
from ftwizard.core.run.layout import RunDir
from ftwizard.core.run.state import RunState
from ftwizard.core.wizard import Answers, autosave_path, load_autosave, make_plan
from ftwizard.ui.app import make_app, run_app
from tests.helpers import pilot_wait as _wait

NO_FIT = dict(model="qwen2.5-7b", rows=300, task_kind="domain")


def _text(screen, sel: str) -> str:
    return str(screen.query_one(sel).render())


def _flat(screen, sel: str) -> str:
    """The text with its wrapping undone (Launch wraps its checks to the pane's width with a hanging indent)."""
    return " ".join(_text(screen, sel).split())


# ---- the DuplicateIds crash, three ways ----------------------------------------------------------------
async def test_typing_a_sequence_length_key_by_key_into_a_plan_that_does_not_fit():
    app = make_app(FakeProbe.of("3060"), answers=Answers(**NO_FIT), start="plan")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert not screen.view.fits and screen.query_one("#fix-1").display
        inp = screen.query_one("#f-max_seq_length")
        inp.focus()
        inp.value = ""
        for key in "4096":
            await pilot.press(key)  # one key at a time: each recompute re-labels the fixes
        await pilot.pause()
        assert app.answers.overrides["max_seq_length"] == 4096 and inp.value == "4096"
        assert "does not fit" in _text(screen, "#plan-summary")
        await pilot.press("1")  # a text box has focus: the key types, it applies no fix
        await pilot.pause()
        assert app.answers.overrides["max_seq_length"] == 40961 and not app.answers.fixed
        await pilot.press("alt+1")  # alt+1 applies fix 1 whatever has focus
        await pilot.pause()
        assert app.answers.fixed


async def test_method_qlora_to_lora_then_back_and_next():
    app = make_app(FakeProbe.of("3060"), answers=Answers(**NO_FIT), start="plan")
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.screen.view.values["method"] == "qlora"
        app.screen.query_one("#f-method").value = "lora"
        await pilot.pause()
        assert app.answers.overrides["method"] == "lora" and not app.screen.view.fits
        await pilot.press("escape")
        assert app.current_mode == "data"
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert app.current_mode == "plan" and app.screen.query_one("#f-method").value == "lora"


async def test_preset_with_method_override_opens_at_its_step(tmp_path):
    # LoRA of a 7B does not fit a 15 GiB T4; ctrl+f makes it fit (QLoRA). (On a 12 GB RTX 3060 the 7B QLoRA is at
    # 12.1 GiB with its margin since the estimate counts 1 GiB outside the allocator, so it no longer fits there.)
    preset = tmp_path / "p.yaml"
    preset.write_text(yaml.safe_dump({**NO_FIT, "gpu": "Tesla T4", "overrides": {"method": "lora"},
                                      "step": "plan"}))
    app = make_app(FakeProbe({"gpus": []}))
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.load_answers(preset)
        await pilot.pause()
        assert app.current_mode == "plan" and not app.screen.view.fits
        await pilot.press("ctrl+f")
        await pilot.pause()
        assert app.screen.view.fits
        # values set by a fix are not marked as typed by the person
        assert "✎" not in "".join(_text(app.screen, f"#why-{k}") for k in app.answers.fixed)
        assert "set by a fix" in "".join(_text(app.screen, f"#why-{k}") for k in app.answers.fixed)


# ---- presets that cannot be used: a line, never a crash or a traceback --------------------------------
@pytest.mark.parametrize("content, words", [
    (None, "no such file"),
    ("model: [unclosed\n", "invalid YAML at line 1: a [ opened there is not closed"),
    ("overrides: {micro_batch: -5}\n", "Micro-batch: must be at least 1"),
    ("- a list\n", "YAML mapping"),
    ("colour: blue\n", "unknown preset keys: colour"),
])
def test_bad_preset_on_the_command_line_is_one_line(tmp_path, capsys, content, words):
    path = tmp_path / "preset.yaml"
    if content is not None:
        path.write_text(content)
    assert run_app(preset=str(path)) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err and str(path) in err


async def test_ctrl_l_with_a_malformed_preset_is_a_notification(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    app = make_app(FakeProbe.of("4090"), answers=Answers(model="llama-3.2-1b"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+l")
        await pilot.pause()
        app.screen.query_one("#path").value = str(bad)
        await pilot.press("enter")
        await pilot.pause()
        assert app.is_running and app.answers.model == "llama-3.2-1b"
        assert any("invalid YAML at line 1" in str(n.message) for n in app._notifications)


# ---- autosave, continue, quit ------------------------------------------------------------------------
async def test_answers_autosave_and_the_next_start_offers_to_continue(config_home):
    app = make_app(FakeProbe.of("4090"), start="task")
    async with app.run_test(size=(80, 24)) as pilot:
        app.screen.query_one("#rows").value = "1.5k"
        await pilot.pause()
        assert app.answers.rows == 1500  # not 15
        await pilot.press("ctrl+n")
        await pilot.pause(1.2)
    assert autosave_path().parent == config_home and autosave_path().exists()
    offer = load_autosave()
    assert offer is not None and offer.rows == 1500 and offer.step == "hardware"
    app2 = make_app(FakeProbe.of("4090"), offer=offer)
    async with app2.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert "Continue where you left off" in _text(app2.screen, ".title")
        await pilot.press("c")
        await pilot.pause()
        assert app2.current_mode == "hardware" and app2.answers.rows == 1500


async def test_q_with_unsaved_edits_asks():
    app = make_app(FakeProbe.of("4090"), start="task")
    async with app.run_test(size=(80, 24)) as pilot:
        app.answers.task_kind = "complex"
        await pilot.press("q")
        await pilot.pause()
        assert app.is_running and "Quit ftwizard?" in _text(app.screen, ".title")
        await pilot.press("n")  # stay
        await pilot.pause()
        assert app.is_running and app.current_mode == "task"
        await pilot.press("q")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
    assert not app.is_running


async def test_q_without_edits_quits_at_once():
    app = make_app(FakeProbe.of("4090"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("q")
        await pilot.pause()
    assert not app.is_running


# ---- worker failures are shown -----------------------------------------------------------------------
async def test_a_failed_demo_build_is_shown_not_building_forever(monkeypatch, tmp_path):
    from ftwizard.core.run import service

    def broken(out, examples=4000):  # noqa: ANN001, ANN202
        raise service.RunError("could not build the demo: disk full")

    monkeypatch.setattr(service, "build_demo", broken)
    app = make_app(FakeProbe({"gpus": []}), runs_root=tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        app.start_demo()
        await _wait(pilot, lambda: app.demo_note is not None and "could not" in app.demo_note)
        await pilot.pause(0.7)
        assert app.current_mode == "monitor" and "disk full" in _text(app.screen, "#banner")
        assert any("disk full" in str(n.message) for n in app._notifications)


# ---- one navigation rule: Esc goes back ----------------------------------------------------------------
@pytest.mark.parametrize("key, mode", [("e", "estimator"), ("m", "monitor")])
async def test_escape_goes_back_from_tool_screens(key, mode):
    app = make_app(FakeProbe.of("4090"), start="task")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(key)
        assert app.current_mode == mode
        await pilot.press("escape")
        assert app.current_mode == "task"


async def test_escape_from_checklist_returns_to_monitor(tmp_path):
    rd = RunDir(tmp_path / "run").create(RunConfig(model="m", data="d", method="full"))
    rd.write_status(state="done")
    rd.append_event({"type": "done", "step": 4})
    app = make_app(FakeProbe.of("4090"), runs_root=tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_run(rd.path)
        await _wait(pilot, lambda: app.run_status.get("state") == "done")
        await pilot.pause(0.7)
        banner = _text(app.screen, "#banner")
        assert "fine-tuned model is saved" in banner and "adapter" not in banner  # a full fine-tune
        await pilot.press("c")
        assert app.current_mode == "checklist"
        await pilot.press("escape")
        assert app.current_mode == "monitor"


# ---- estimator -----------------------------------------------------------------------------------------
async def test_estimator_opens_on_the_wizards_model_and_gpu_and_refuses_zero():
    app = make_app(FakeProbe({"gpus": []}), answers=Answers(model="qwen2.5-7b", gpu="NVIDIA GeForce RTX 3060"))
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.press("e")
        screen = app.screen
        assert screen.query_one("#model").value == "qwen2.5-7b"
        assert screen.query_one("#gpu").value == "NVIDIA GeForce RTX 3060"
        screen.query_one("#seq").value = "0"
        await pilot.pause()
        assert "Sequence length: 0 is not allowed" in _text(screen, "#summary")
        screen.query_one("#seq").value = "-4"
        await pilot.pause()
        assert "not allowed" in _text(screen, "#summary")


# ---- trainer -------------------------------------------------------------------------------------------
async def test_a_preference_file_plans_dpo_with_its_own_lr_and_the_trainer_can_be_switched():
    ans = Answers(model="llama-3.2-1b", rows=800, data_format="preference", data="pairs.jsonl", data_errors=0)
    app = make_app(FakeProbe.of("4090"), answers=ans, start="plan")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert screen.view.trainer == "dpo" and screen.view.values["learning_rate"] == 5e-6
        assert "DPO" in _text(screen, "#plan-summary")
        assert screen.query_one("#f-learning_rate").value == "5e-06"
        screen.query_one("#f-trainer").value = "sft"
        await pilot.pause()
        assert app.answers.trainer == "sft" and screen.view.values["learning_rate"] == 5e-4  # adapter LR for a 1B model
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert "SFT" in _text(app.screen, "#launch-summary")


# ---- launch checks -------------------------------------------------------------------------------------
async def test_launch_on_a_machine_without_gpu_names_the_dead_end_and_its_fix(tmp_path):
    ans = Answers(model="llama-3.2-1b", gpu="NVIDIA GeForce RTX 4090", data="d.jsonl", data_errors=0, rows=800)
    app = make_app(FakeProbe({"gpus": []}), answers=ans, start="launch", runs_root=tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        text = _flat(app.screen, "#blockers")
        assert "this machine has no GPU" in text and "fix:" in text
        # a wrapped line keeps its bullet's indent (it started at the left edge)
        lines = _text(app.screen, "#blockers").splitlines()
        assert len(lines) > 4 and all(line.startswith(("  ", "Cannot", "⚠")) for line in lines), lines
        assert max(map(len, lines)) <= 80
        assert "not in the local Hugging Face cache" in text and "allow download" in text
        assert app.screen.query_one("#launch").disabled
        assert app.screen.query_one("#download-row").display
        assert "GiB" in _text(app.screen, "#download-label")
        app.screen.query_one("#allow-download").value = True
        await pilot.pause()
        assert app.answers.allow_download
        assert "not in the local Hugging Face cache" not in _flat(app.screen, "#blockers")
        # no GPU here: the run folder can still be written, to run on a GPU machine
        assert not app.screen.query_one("#write").disabled
        run = app.screen.query_one("#run-dir").value
        app.screen.query_one("#write").press()
        await pilot.pause()
        assert (Path(run) / "config.yaml").exists() and (Path(run) / "launch.sh").exists()
        assert app.current_mode == "launch" and app.active_run is None


# ---- decide: a "stop here" outcome has its own next actions ---------------------------------------------
async def test_prompting_outcome_has_how_to_and_fine_tune_anyway():
    app = make_app(FakeProbe.of("4090"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("y")
        text = _text(app.screen, "#advice")
        assert "How to start" in text and "fine-tunes anyway" in text
        assert app.screen.query_one("#anyway").display
        await pilot.press("f")
        assert app.current_mode == "task" and app.answers.decide.get("fine_tune_anyway") is True


# ---- palette, themes -----------------------------------------------------------------------------------
async def test_palette_plan_enter_opens_plan():
    app = make_app(FakeProbe.of("4090"))
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"plan")
        await pilot.pause(0.4)
        await pilot.press("enter")
        await pilot.pause()
        assert app.current_mode == "plan"


async def test_theme_is_remembered_and_user_themes_load(config_home):
    themes = config_home / "themes"
    themes.mkdir(parents=True)
    (themes / "mine.yaml").write_text("name: mine\nprimary: '#ff00ff'\ndark: true\n")
    (themes / "broken.yaml").write_text("name: broken\nprimary: not-a-colour\n")
    app = make_app(FakeProbe.of("4090"))
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.theme == "ftwizard-dark"
        assert "mine" in app.available_themes and "broken" not in app.available_themes
        assert any("broken.yaml" in str(n.message) for n in app._notifications)
        app.theme = "mine"
        await pilot.pause()
    app2 = make_app(FakeProbe.of("4090"))
    async with app2.run_test(size=(80, 24)):
        assert app2.theme == "mine"


def test_builtin_themes_are_files():
    from ftwizard.core.resources import data_dir
    from ftwizard.ui.themes import load_themes

    themes, errors = load_themes(data_dir("themes"))
    assert {t.name for t in themes} >= {"ftwizard-dark", "ftwizard-light", "ftwizard-ansi"} and not errors


# ---- monitor texts -------------------------------------------------------------------------------------
def test_no_eta_when_stopped_and_elapsed_continues_across_resume():
    from ftwizard.ui.screens.monitor import progress_text

    st = RunState()
    for s in range(1, 11):
        st.add({"type": "log", "step": s, "max_steps": 20, "loss": 1.0, "time": 100.0 + s, "elapsed_s": float(s)})
    assert "ETA" in progress_text(st, {"state": "running"})
    assert "ETA" not in progress_text(st, {"state": "stopped"})
    st.add({"type": "resume", "step": 10, "time": 500.0})
    st.add({"type": "log", "step": 12, "max_steps": 20, "loss": 1.0, "time": 502.0, "elapsed_s": 2.0})
    assert st.elapsed_s == 12.0


def test_fix_label_tells_the_effective_batch_it_gives():
    from ftwizard.core.plan.model_facts import load_model_facts

    ans = Answers(model="llama-3.1-8b", rows=3000, overrides={"micro_batch": 16, "gradient_accumulation": 2})
    view = make_plan(ans, load_model_facts("llama-3.1-8b"), FakeProbe.of("4090").probe())
    batch_fix = next(f for f in view.fixes if "micro_batch" in f.changes)
    eff = batch_fix.changes["micro_batch"] * batch_fix.changes["gradient_accumulation"]
    assert (f"→ {eff}" in batch_fix.label) or (eff == 32 and "same effective batch" in batch_fix.label)


async def test_data_preview_shows_rows_as_the_trainer_gets_them(tmp_path):
    import json

    rows = [{"instruction": f"Say [b]hi[/b] {i}", "output": f"hello {i}"} for i in range(60)]
    path = tmp_path / "a.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    app = make_app(FakeProbe.of("4090"), start="data")
    async with app.run_test(size=(100, 40)) as pilot:
        app.screen.analyze(str(path))
        await _wait(pilot, lambda: app.answers.data_errors is not None, timeout=60)
        text = _text(app.screen, "#report")
        assert "Preview" in text and "user:" in text and "assistant:" in text
        assert "[b]hi[/b]" in text  # user text is escaped, not styled


def test_try_it_reads_the_test_split(tmp_path):
    import json

    from ftwizard.ui.screens.tryit import test_prompts

    rd = RunDir(tmp_path / "r").create(RunConfig(model="m", data="d"))
    rd.data_dir.mkdir()
    rd.split_file("test").write_text(json.dumps({"messages": [{"role": "user", "content": "when?"},
                                                              {"role": "assistant", "content": "now"}]}) + "\n")
    assert test_prompts(Path(rd.path)) == ["when?"]


def test_a_preset_without_a_step_opens_where_its_answers_stop():
    assert Answers.from_yaml("model: qwen2.5-7b\ndata: a.jsonl\n").step == "plan"
    assert Answers.from_yaml("model: qwen2.5-7b\n").step == "data"
    assert Answers.from_yaml("model: qwen2.5-7b\nstep: launch\n").step == "launch"


async def test_an_error_in_a_handler_is_a_notification_when_running_for_real(monkeypatch):
    from ftwizard.ui.screens.task import TaskScreen

    def boom(self, event):  # noqa: ANN001, ANN202
        raise RuntimeError("a bug in a handler")

    monkeypatch.setattr(TaskScreen, "on_input_changed", boom)
    app = make_app(FakeProbe.of("4090"), start="task")
    app.keep_alive_on_error = True  # as run_app sets it
    async with app.run_test(size=(80, 24)) as pilot:
        app.screen.query_one("#rows").value = "12"
        await pilot.pause()
        assert app.is_running
        assert any("a bug in a handler" in str(n.message) for n in app._notifications)


async def test_decide_answers_are_kept_and_replayed():
    app = make_app(FakeProbe.of("4090"), answers=Answers(decide={"start": False, "knowledge": True}))
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.screen.walk.node.id == "rag"  # back at the same outcome
        await pilot.press("b")
        assert app.answers.decide == {"start": False}  # every answer is part of the autosaved state


async def test_gkd_asks_for_its_teacher_and_launch_waits_for_it(tmp_path):
    """A trainer's required field (GKD's teacher_model, its TrainerSpec.needs) is a Plan row for that trainer only,
    Launch is blocked with the fix until it is set, and the run config carries it."""
    from ftwizard.core.plan.model_facts import load_model_facts
    from ftwizard.core.wizard import to_run_config

    ans = Answers(model="llama-3.2-1b", rows=800, data_format="openai", data="chat.jsonl", data_errors=0,
                  trainer="gkd")
    app = make_app(FakeProbe.of("4090"), answers=ans, start="plan", runs_root=tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert screen.query_one("#row-teacher_model").display and "required" in _text(screen, "#why-teacher_model")
        await pilot.press("ctrl+n")
        assert app.current_mode == "launch" and "GKD needs its teacher model" in _flat(app.screen, "#blockers")
        await pilot.press("escape")
        app.screen.query_one("#f-teacher_model").value = "meta-llama/Llama-3.1-8B-Instruct"
        await pilot.pause()
        await pilot.press("ctrl+n")
        assert "teacher model" not in _flat(app.screen, "#blockers")
        assert app.answers.overrides.get("teacher_model"), app.answers.overrides
        view = app.screen.wizard.plan_view()
        cfg = to_run_config(app.answers, view, load_model_facts("llama-3.2-1b"))
        assert cfg.teacher_model == "meta-llama/Llama-3.1-8B-Instruct"
    sft = make_plan(Answers(model="llama-3.2-1b", rows=800, data_format="openai"), load_model_facts("llama-3.2-1b"),
                    FakeProbe.of("4090").probe())
    assert "teacher_model" not in sft.values  # other trainers never show it


async def test_a_preset_name_outside_the_forms_menu_is_shown_and_kept():
    """The form's menus list the common names; a value the run config takes outside them (from a preset) is added to
    the menu and reaches the run config, instead of a stale menu (one validator: the config's rule)."""
    ans = Answers(model="llama-3.2-1b", rows=3000, task_kind="domain",
                  overrides={"optimizer": "adamw_8bit", "lr_scheduler": "cosine_with_min_lr"})
    app = make_app(FakeProbe.of("4090"), answers=ans, start="plan")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.screen.query_one("#f-optimizer").value == "adamw_8bit"
        assert app.screen.query_one("#f-lr_scheduler").value == "cosine_with_min_lr"
        assert app.screen.view.values["optimizer"] == "adamw_8bit"
