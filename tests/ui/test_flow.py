"""The whole wizard driven with Pilot: fake 24 GB GPU, a tiny local model and dataset, up to Launch; the
monitor fed by a run directory the test appends to; the checklist; presets; the command palette."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ftwizard.core.plan.hardware import FakeProbe
from ftwizard.core.run.config import RunConfig
from ftwizard.core.run.layout import RunDir
from ftwizard.core.wizard import Answers
from ftwizard.ui.app import make_app
from tests.helpers import pilot_wait as _wait


@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory, tiny_model):
    from ftwizard.train.tiny import date_examples, write_jsonl

    root = tmp_path_factory.mktemp("ui")
    model = tiny_model
    data = write_jsonl(date_examples(300, seed=5), root / "dates.jsonl")
    bad = root / "bad.jsonl"
    lines = data.read_text().splitlines()
    lines[3] = "{not json"
    bad.write_text("\n".join(lines) + "\n")
    return model, data, bad


class RecordingLauncher:
    def __init__(self) -> None:
        self.calls: list[tuple[Path, bool]] = []

    def __call__(self, run, resume=False, num_gpus=1, extra_env=None):  # noqa: ANN001, ANN204
        self.calls.append((Path(run), resume))
        RunDir(run).write_status(state="starting", pid=None)
        return None


async def test_walk_the_whole_wizard_to_launch(tmp_path, tiny_files):
    model, data, bad = tiny_files
    launcher = RecordingLauncher()
    app = make_app(FakeProbe.of("4090"), launcher=launcher, runs_root=tmp_path / "runs")
    app.stamp = lambda: "fixed"
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.press("n", "n", "y", "n", "n", "ctrl+n")  # … behaviour, not a small change, a new task
        assert app.current_mode == "task" and app.answers.decide == {"start": False, "knowledge": False,
                                                                      "behaviour": True, "task_kind": False,
                                                                      "task_depth": False}
        assert app.answers.task_kind == "complex"
        app.screen.query_one("#rows").value = "5"
        await pilot.pause()
        assert "below the minimum" in str(app.screen.query_one("#expect").render())
        await pilot.press("ctrl+n")
        assert app.current_mode == "hardware"
        await pilot.press("ctrl+n")
        # model: Next is blocked until a model is chosen, then the facts show
        await pilot.press("ctrl+n")
        assert app.current_mode == "model"
        app.screen.query_one("#model-path").value = str(model)
        await pilot.pause()
        facts = str(app.screen.query_one("#facts").render())
        assert "layers 2" in facts and "chat template: yes" in facts
        await pilot.press("ctrl+n")
        assert app.current_mode == "data"
        # data with a broken line: the report names the line and Next is blocked
        app.screen.analyze(str(bad))
        await _wait(pilot, lambda: app.answers.data_errors is not None, timeout=60)  # a tokenizer subprocess counts tokens
        assert app.answers.data_errors == 1 and f"{bad.name}:4" in str(app.screen.query_one("#report").render())
        await pilot.press("ctrl+n")
        assert app.current_mode == "data"
        app.screen.analyze(str(data))
        await _wait(pilot, lambda: app.answers.data_errors == 0, timeout=60)
        assert app.answers.rows == 300 and app.answers.data_format == "openai"
        await pilot.press("ctrl+n")
        assert app.current_mode == "plan"
        plan = app.screen
        assert "fits" in str(plan.query_one("#plan-summary").render())
        plan.query_one("#f-learning_rate").value = "3e-4"  # the tiny model's own plan says 1e-3
        await pilot.pause()
        assert app.answers.overrides["learning_rate"] == 3e-4
        await pilot.press("escape")  # back to data and forward again: nothing lost
        assert app.current_mode == "data"
        await pilot.press("ctrl+n")
        assert app.screen.query_one("#f-learning_rate").value == "0.0003"
        await pilot.press("ctrl+n")
        assert app.current_mode == "launch"
        assert not app.screen.query_one("#launch").disabled
        assert "ftwizard train" in str(app.screen.query_one("#cli").render())
        await pilot.click("#launch")
        await pilot.pause()
        run = tmp_path / "runs" / "model-fixed"
        assert launcher.calls == [(run, False)]
        cfg = RunConfig.load(run / "config.yaml")
        assert cfg.model == str(model) and cfg.data == str(data) and cfg.learning_rate == 3e-4
        assert cfg.method == app.plan_view().values["method"] and cfg.trust_remote_code is False
        assert (run / "trl_sft.yaml").exists() and (run / "launch.sh").exists()
        assert Answers.load(run / "answers.yaml").overrides["learning_rate"] == 3e-4
        assert app.current_mode == "monitor"


async def test_plan_one_key_fix_and_make_it_fit():
    app = make_app(FakeProbe.of("4090"), answers=Answers(model="llama-3.1-8b", rows=3000), start="plan")
    async with app.run_test(size=(100, 32)) as pilot:
        screen = app.screen
        screen.query_one("#f-micro_batch").value = "16"
        await pilot.pause()
        assert "does not fit" in str(screen.query_one("#plan-summary").render())
        assert screen.query_one("#fix-1").display
        screen.set_focus(None)
        await pilot.press("1")
        await pilot.pause()
        assert app.answers.overrides["micro_batch"] < 16
        app.answers.overrides.update(method="full")
        screen.recompute(sync_widgets=True)
        await pilot.pause()
        await pilot.press("ctrl+f")
        await pilot.pause()
        assert screen.view.fits and "fits" in str(screen.query_one("#plan-summary").render())


async def test_launch_blocked_without_data_and_preset_save_load(tmp_path):
    app = make_app(FakeProbe.of("4090"), answers=Answers(model="llama-3.1-8b"), start="launch")
    async with app.run_test(size=(100, 32)) as pilot:
        assert app.screen.query_one("#launch").disabled
        assert "no dataset chosen" in " ".join(str(app.screen.query_one("#blockers").render()).split())
        await pilot.press("ctrl+s")
        await pilot.pause()
        inp = app.screen.query_one("#path")
        inp.value = str(tmp_path / "mine.yaml")
        await pilot.press("enter")
        await pilot.pause()
    assert Answers.load(tmp_path / "mine.yaml").model == "llama-3.1-8b"
    app2 = make_app(FakeProbe.of("4090"))
    async with app2.run_test() as pilot:
        assert app2.load_answers(tmp_path / "mine.yaml") and app2.answers.model == "llama-3.1-8b"
        assert not app2.load_answers(tmp_path / "missing.yaml")


async def test_command_palette_lists_screens_and_theme():
    app = make_app(FakeProbe.of("4090"))
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"estimator")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert app.current_mode == "estimator"
        app.theme = "ftwizard-ansi"
        await pilot.pause()
        app.theme = "ftwizard-light"


# ---- monitor ------------------------------------------------------------------------------------------
def _fake_run(tmp_path) -> RunDir:
    rd = RunDir(tmp_path / "run").create(RunConfig(model="m", data="d", estimate_gib=3.5))
    rd.write_status(state="running", pid=os.getpid(), max_steps=400)  # a live pid: the run is "alive"
    rd.append_event({"type": "train_begin", "step": 0, "max_steps": 400, "time": 1000.0})
    return rd


async def test_monitor_follows_a_growing_run(tmp_path):
    rd = _fake_run(tmp_path)
    app = make_app(FakeProbe.of("4090"), launcher=RecordingLauncher(), runs_root=tmp_path)
    async with app.run_test(size=(100, 32)) as pilot:
        app.open_run(rd.path)
        t = 1000.0
        with open(rd.events_path, "a") as fh:  # thousands of events, written fast
            for step in range(1, 3001):
                fh.write(json.dumps({"type": "log", "step": step // 10, "max_steps": 400, "loss": 3 / (1 + step / 300),
                                     "learning_rate": 1e-4, "grad_norm": 1.0, "time": t + step / 10,
                                     "tokens_per_s": 900.0, "epoch": step / 3000}) + "\n")
        await _wait(pilot, lambda: app.run_state.events >= 3001)
        await pilot.pause(0.7)
        screen = app.screen
        assert 0 < screen.query_one("#plot-loss").drawn_points <= 2 * 400
        text = str(screen.query_one("#progress-text").render())
        assert "step 300/400" in text and "ETA" in text and "ETA —" not in text
        rd.append_event({"type": "warning", "kind": "overfitting", "message": "Validation loss is rising",
                         "fix": "Stop now and use the best checkpoint"})
        await _wait(pilot, lambda: bool(app.run_state.warnings))
        await pilot.pause(0.7)
        assert "Validation loss is rising" in str(screen.query_one("#banner").render())
        assert "banner-warn" in screen.query_one("#banner").classes
        rd.append_event({"type": "failed", "kind": "oom", "message": "out of memory", "fix": "micro-batch 2"})
        rd.write_status(state="failed", diagnosis={"kind": "oom", "summary": "The GPU ran out of memory.",
                                                   "fix": "try micro-batch 2 with gradient accumulation 8"})
        await _wait(pilot, lambda: app.run_status.get("state") == "failed")
        await pilot.pause(0.7)
        banner = str(screen.query_one("#banner").render())
        assert "FAILED" in banner and "micro-batch 2" in banner and "banner-error" in screen.query_one("#banner").classes
        await pilot.press("f")  # relaunch with the fix: half the micro-batch, double accumulation
        await pilot.pause()
        new = RunConfig.load(tmp_path / "run-fix" / "config.yaml")
        old = rd.config()
        assert new.micro_batch == max(1, old.micro_batch // 2) and new.gradient_checkpointing
        assert app.launcher.calls[-1] == (tmp_path / "run-fix", False)


async def test_a_failure_without_an_automatic_fix_offers_no_f_and_names_the_run(tmp_path):
    """The banner offers f only when a fix can be applied; `<run>` in a diagnosis is this run's folder; with no
    checkpoint saved, r is said to start over (not 'resume from the last checkpoint')."""
    rd = _fake_run(tmp_path)
    rd.write_status(state="failed", diagnosis={"kind": "crash", "summary": "The trainer crashed.",
                                               "fix": "read the log, then: ftwizard train --resume <run>"})
    app = make_app(FakeProbe.of("4090"), launcher=RecordingLauncher(), runs_root=tmp_path)
    async with app.run_test(size=(100, 32)) as pilot:
        app.open_run(rd.path)
        await _wait(pilot, lambda: app.run_status.get("state") == "failed")
        await pilot.pause(0.7)
        banner = " ".join(str(app.screen.query_one("#banner").render()).split())
        assert "<run>" not in banner and f"--resume {rd.path}" in banner
        assert "relaunches with this fix" not in banner and "starts it again from the beginning" in banner
        assert app.screen.check_action("relaunch_fix", ()) is False  # hidden from the footer, and does nothing
        await pilot.press("f")
        await pilot.pause()
        assert not (tmp_path / "run-fix").exists() and app.launcher.calls == []
        # an OOM has a fix: f is offered, and a saved checkpoint is named for r
        (rd.path / "checkpoints" / "checkpoint-20").mkdir(parents=True)
        rd.write_status(state="failed", diagnosis={"kind": "oom", "summary": "The GPU ran out of memory.",
                                                   "fix": "micro-batch 2"})
        await _wait(pilot, lambda: (app.run_status.get("diagnosis") or {}).get("kind") == "oom")
        await pilot.pause(0.7)
        banner = " ".join(str(app.screen.query_one("#banner").render()).split())
        assert "f relaunches with this fix" in banner and "r resumes from checkpoint-20" in banner
        assert app.screen.check_action("relaunch_fix", ()) is True
    # the preset key is offered on the wizard's steps only
    app = make_app(FakeProbe.of("4090"), runs_root=tmp_path, start="runs")
    async with app.run_test(size=(100, 32)) as pilot:
        assert app.check_action("save_preset", ()) is False


async def test_reattach_to_finished_run_and_runs_list(tmp_path):
    rd = _fake_run(tmp_path)
    for s in range(1, 41):
        rd.append_event({"type": "log", "step": s * 10, "max_steps": 400, "loss": 2 - s / 40, "learning_rate": 1e-4,
                         "time": 1000.0 + s})
    rd.append_event({"type": "eval", "step": 400, "eval_loss": 1.1})
    rd.append_event({"type": "done", "step": 400})
    rd.write_status(state="done")
    app = make_app(FakeProbe.of("4090"), runs_root=tmp_path, start="runs")
    async with app.run_test(size=(100, 32)) as pilot:
        table = app.screen.query_one("#runs-table")
        assert table.row_count == 1
        await pilot.press("enter")
        await _wait(pilot, lambda: app.run_state is not None and app.run_state.done is not None)
        await pilot.pause(0.7)
        assert app.current_mode == "monitor"
        assert "DONE" in str(app.screen.query_one("#banner").render())
        assert "step 400/400" in str(app.screen.query_one("#progress-text").render())
        await pilot.press("c")
        await pilot.pause()
        assert app.current_mode == "checklist"
        # an SFT run lists only the checks that fit it: no preference accuracy, GRPO reward or pass@k
        assert app.screen.query_one("#row-compare").display and app.screen.query_one("#row-safety").display
        for item in ("preference", "reward", "pass_at_k"):
            assert not app.screen.query_one(f"#row-{item}").display
            assert not app.screen.query_one(f"#result-{item}").display
        assert not app.screen.query_one("#verdict").display  # nothing measured yet
        app.screen.query_one("#tick-safety").value = True
        await pilot.pause()
        # once checks ran, their verdict leads the screen, in words
        from ftwizard.core.eval.verdict import judge

        checks = {"baseline": {"exact_match": 0.0, "f1": 0.18, "loss": 2.6, "n": 9},
                  "tuned": {"exact_match": 0.0, "f1": 0.2, "loss": 2.5, "n": 9}}
        checks["verdict"] = judge(checks, rd.read_events(), rd.config().to_dict()).to_dict()
        rd.checks_path.write_text(json.dumps(checks))
        app.screen.refresh_state()
        await pilot.pause()
        verdict = str(app.screen.query_one("#verdict").render())
        assert app.screen.query_one("#verdict").display and "did not learn the answers" in verdict
        assert "Try:" in verdict
        # a check's tick says how it went, in the CLI's words: found problems is not a green tick
        from ftwizard.core.run.checklist import mark

        mark(rd.path, "compare", True, "exact match 0.00 → 0.00 — inconclusive: exact match did not move",
             "inconclusive")
        mark(rd.path, "general", True, "general questions: base 6/8 right, tuned kept 2 (forgetting!)", "problems")
        mark(rd.path, "template", True, "consistent", "passed")
        app.screen.refresh_state()
        await pilot.pause()
        for item, how, words in (("compare", "inconclusive", "? inconclusive"), ("general", "problems",
                                 "✗ found problems"), ("template", "passed", "✔ passed")):
            tick = app.screen.query_one(f"#tick-{item}")
            assert tick.value and tick.has_class(f"outcome-{how}")
            assert str(app.screen.query_one(f"#result-{item}").render()).startswith(f"→ {words}: ")
        assert not app.screen.query_one("#tick-general").has_class("outcome-passed")
        compare = str(app.screen.query_one("#result-compare").render())
        assert compare.count("inconclusive") == 1 and "0.00 → 0.00 — exact match did not move" in compare
    assert json.loads((rd.path / "checklist.json").read_text())["items"]["safety"]["done"] is True


@pytest.mark.slow
async def test_stop_and_resume_buttons_drive_a_real_run(tmp_path, tiny_files):
    model, data, _ = tiny_files
    cfg = RunConfig(model=str(model), data=str(data), max_seq_length=48, micro_batch=4, gradient_accumulation=1,
                    learning_rate=2e-3, epochs=1, max_steps=60, logging_steps=2, eval_steps=30, save_steps=1000,
                    method="lora", rank=4, alpha=8, debug_sleep_per_step=0.15)
    rd = RunDir(tmp_path / "real").create(cfg)
    app = make_app(FakeProbe({"gpus": []}), runs_root=tmp_path)
    async with app.run_test(size=(100, 32)) as pilot:
        app._start(rd.path, resume=False)
        await _wait(pilot, lambda: app.run_state.step >= 4, timeout=120)
        await pilot.pause(0.6)
        await pilot.click("#stop")
        await _wait(pilot, lambda: app.run_status.get("state") == "stopped", timeout=120)
        assert rd.last_checkpoint() is not None
        stopped_at = app.run_state.step
        await pilot.pause(0.6)
        await pilot.click("#resume")
        await _wait(pilot, lambda: app.run_status.get("state") == "done", timeout=180)
        assert app.run_state.step == 60 > stopped_at
    assert (rd.path / "adapter").exists()


async def test_launch_runs_the_same_source_checks_as_the_cli(tmp_path, tiny_files):
    """The Launch step checks the config's sources like `ftwizard train` does: a dataset moved away after the Data
    step, or a target module the model does not have, blocks Launch with the fix instead of failing after load."""
    model, data, _ = tiny_files
    moved = tmp_path / "dates.jsonl"
    moved.write_text(data.read_text())
    ans = Answers(model=str(model), data=str(moved), data_format="openai", rows=300, data_errors=0)
    app = make_app(FakeProbe.of("4090"), answers=ans, start="launch", runs_root=tmp_path / "runs")
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.pause()
        assert not app.screen.query_one("#launch").disabled, " ".join(str(app.screen.query_one("#blockers").render()).split())
        moved.unlink()
        app.screen.refresh_from_answers()
        await pilot.pause()
        text = " ".join(str(app.screen.query_one("#blockers").render()).split())
        assert app.screen.query_one("#launch").disabled and f"data: {moved} does not exist" in text
        moved.write_text(data.read_text())
        app.answers.overrides["target_modules"] = ["q_proj", "vv_proj"]
        app.screen.refresh_from_answers()
        await pilot.pause()
        text = " ".join(str(app.screen.query_one("#blockers").render()).split())
        assert app.screen.query_one("#launch").disabled and "vv_proj" in text and "q_proj" in text  # and its names


async def test_a_run_still_training_when_the_app_starts_is_offered(tmp_path, tiny_files):
    """The run survived the app closing: the next start says so and `w` watches it (not only Runs → Enter)."""
    model, data, _ = tiny_files
    rd = RunDir(tmp_path / "runs" / "live").create(RunConfig(model=str(model), data=str(data)))
    rd.write_status(state="running", pid=os.getpid(), last_step=3, max_steps=10)
    app = make_app(FakeProbe.of("4090"), runs_root=tmp_path / "runs",
                   offer=Answers(model=str(model), data=str(data), step="plan"))
    app.offer_live_runs = True  # what `ftwizard` (run_app) sets on a plain start
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        text = " ".join(str(w.render()) for w in app.screen.query("Static"))
        labels = [str(b.label) for b in app.screen.query("Button")]
        assert "still training" in text and "step 3/10" in text and any("Watch the run" in b for b in labels), text
        await pilot.press("w")
        await pilot.pause()
        assert app.current_mode == "monitor" and app.active_run == rd.path
        assert app.answers.model == str(model)  # the answers are taken too


async def test_launch_proposes_a_fresh_run_directory(tmp_path, tiny_files):
    """Back on Launch after a run, or after choosing another model, the proposed folder is a new one that follows
    the model; a folder typed by hand that holds a run blocks Launch with what to do."""
    model, data, _ = tiny_files
    ans = Answers(model=str(model), data=str(data), data_format="openai", rows=300, data_errors=0)
    app = make_app(FakeProbe.of("4090"), answers=ans, start="launch", runs_root=tmp_path / "runs")
    stamps = iter(f"s{i}" for i in range(100))
    app.stamp = lambda: next(stamps)
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.pause()
        box = app.screen.query_one("#run-dir")
        first = box.value
        RunDir(first).create(RunConfig(model=str(model), data=str(data)))  # a run was launched there
        app.screen.refresh_from_answers()
        await pilot.pause()
        assert box.value != first and Path(box.value).name.startswith(f"{Path(str(model)).name}-")
        assert not app.screen.query_one("#launch").disabled
        box.value = first  # typed by hand
        await pilot.pause()
        assert app.screen.query_one("#launch").disabled
        assert "already holds a run" in " ".join(str(app.screen.query_one("#blockers").render()).split())


async def test_a_typed_model_replaces_the_preset_and_invalid_numbers_hold_next(tmp_path, tiny_files):
    """Model: a path typed after picking a preset clears the preset box (one model is chosen). Plan: a number box
    holding text that is not a value keeps its error and Next waits; Task: the same for the examples count."""
    model, data, _ = tiny_files
    app = make_app(FakeProbe.of("4090"), answers=Answers(model="llama-3.2-1b"), start="model",
                   runs_root=tmp_path / "runs")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.screen.query_one("#model-path").value = str(model)
        await pilot.pause()
        assert app.answers.model == str(model) and app.screen.query_one("#preset").is_blank()
        app.switch_mode("plan")
        await pilot.pause()
        app.screen.query_one("#f-learning_rate").value = "fast"
        await pilot.pause()
        app.screen.query_one("#f-epochs").value = "2"  # another edit recomputes the plan: the error stays
        await pilot.pause()
        assert "not a" in str(app.screen.query_one("#why-learning_rate").render())
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert app.current_mode == "plan"
        app.screen.query_one("#f-learning_rate").value = "3e-4"
        await pilot.pause()
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert app.current_mode == "launch" and app.answers.overrides["learning_rate"] == 3e-4
        app.switch_mode("task")
        await pilot.pause()
        app.screen.query_one("#rows").value = "lots"
        await pilot.pause()
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert app.current_mode == "task"


async def test_the_estimator_opens_on_the_plans_values():
    """`e` from a plan that chose QLoRA for a 70B model on a 24 GB card opens on QLoRA and the plan's batch and
    length, so the two screens show the same peak."""
    app = make_app(FakeProbe.of("4090"), answers=Answers(model="llama-3.1-70b", rows=2000), start="plan")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        plan = app.plan_view()
        assert plan.values["method"] == "qlora"
        await pilot.press("e")
        await pilot.pause()
        assert app.screen.query_one("#method").value == "qlora"
        assert app.screen.query_one("#seq").value == str(plan.values["max_seq_length"])
        assert app.screen.query_one("#batch").value == str(plan.values["micro_batch"])


async def test_the_production_check_asks_for_its_prompts_file(tmp_path, monkeypatch):
    """The production check needs the person's own inputs: its Run button asks for the file (a missing one is said
    in words) and passes it on as --prompts; before, it ran and was 'skipped: no prompt file' every time."""
    from ftwizard.ui.screens.checklist import ChecklistScreen

    rd = _fake_run(tmp_path)
    rd.write_status(state="done")
    rd.adapter.mkdir(parents=True)  # a trained result: the Run buttons are enabled
    ran: list[tuple[str, str, tuple[str, ...]]] = []
    monkeypatch.setattr(ChecklistScreen, "run_check", lambda self, run, action, extra=(): ran.append((run, action, extra)))
    prompts = tmp_path / "real.txt"
    prompts.write_text("How do I reset my password?\n")
    app = make_app(FakeProbe.of("4090"), runs_root=tmp_path)
    async with app.run_test(size=(100, 32)) as pilot:
        app.open_run(rd.path)
        app.switch_mode("checklist")
        await pilot.pause()
        app.screen.query_one("#run-production").press()
        await pilot.pause()
        box = app.screen.query_one("#path")  # the PathPrompt
        box.value = str(tmp_path / "nope.txt")
        await pilot.press("enter")
        await pilot.pause()
        assert ran == [] and "no file at" in str(app.screen.query_one("#result-production").render())
        app.screen.query_one("#run-production").press()
        await pilot.pause()
        app.screen.query_one("#path").value = str(prompts)
        await pilot.press("enter")
        await pilot.pause()
        assert ran == [(str(rd.path), "production", ("--prompts", str(prompts)))]
        assert app.screen.query_one("#run-production").disabled
