"""Which checklist items a run lists: the trainer's own check (TrainerSpec.check) only for the trainers that name
it, a task's extra check (EvalTask.checks) only for the tasks that name it, everything else always."""

from __future__ import annotations

import json

import pytest

from ftwizard.core.eval.tasks import EVAL_TASKS
from ftwizard.core.run.checklist import ITEMS, TASK_CHECKS, TRAINER_CHECKS, applies, default_actions, run_items, trainer_check
from ftwizard.core.run.config import RunConfig
from ftwizard.core.run.layout import RunDir
from ftwizard.core.trainers import TRAINERS

BY_ID = {i.id: i for i in ITEMS}


def _ids(trainer: str, task: str) -> set[str]:
    return {i.id for i in ITEMS if applies(i, trainer, task)}


@pytest.mark.parametrize("trainer", ["sft", "cpt", "gkd"])
def test_sft_like_runs_list_no_preference_reward_or_code_checks(trainer):
    ids = _ids(trainer, "short")
    assert "compare" in ids and not {"preference", "reward", "pass_at_k", "judge", "bertscore"} & ids
    assert {"template", "merge", "safety", "modelfile", "gguf", "card", "samples", "monitoring"} <= ids
    assert "pass_at_k" in _ids(trainer, "code") and "judge" in _ids(trainer, "chat")
    assert "bertscore" in _ids(trainer, "summarization") and "pass_at_k" not in _ids(trainer, "chat")


@pytest.mark.parametrize("trainer", ["dpo", "kto", "orpo", "simpo"])
def test_preference_runs_list_preference_accuracy_only(trainer):
    ids = _ids(trainer, "short")
    assert "preference" in ids and not {"compare", "reward", "pass_at_k"} & ids


def test_grpo_lists_the_reward_check_only():
    ids = _ids("grpo", "short")
    assert "reward" in ids and not {"compare", "preference", "pass_at_k"} & ids


def test_the_rule_comes_from_the_registries():
    assert TRAINER_CHECKS == {"compare", "preference", "reward"} and {"pass_at_k", "judge", "bertscore"} <= TASK_CHECKS
    for name, spec in TRAINERS.items():  # each trainer lists its own check and no other trainer's
        listed = {a for a in TRAINER_CHECKS if applies(BY_ID[a], name, "short")}
        assert listed == {spec.check} == {trainer_check(name)}
    for kind, task in EVAL_TASKS.items():
        assert {a for a in TASK_CHECKS if applies(BY_ID[a], "sft", kind)} == set(task.checks)
    assert trainer_check("not-a-trainer") == "compare" and not applies(BY_ID["pass_at_k"], "sft", "nope")
    # items a person ticks always fit
    assert all(applies(i, t, "short") for i in ITEMS if i.action is None for t in TRAINERS)


def test_run_items_read_the_run(tmp_path):
    rd = RunDir(tmp_path / "r").create(RunConfig(model="m", data="d"))
    rd.data_dir.mkdir()
    rows = [{"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "def f():\n  return 1"}]}]
    rd.split_file("test").write_text("".join(json.dumps(r) + "\n" for r in rows * 3))
    ids = [i.id for i in run_items(rd.path)]
    assert ids[:2] == ["compare", "template"] and "pass_at_k" in ids and "preference" not in ids
    assert "pass_at_k" not in {i.id for i in run_items(rd.path, task="short")}
    # what a plain `ftwizard check RUN` runs is listed
    assert set(default_actions(rd.path)) <= {i.action for i in run_items(rd.path)}
    rd.create(RunConfig(model="m", data="d", trainer="grpo"))
    assert {"reward"} == {i.id for i in run_items(rd.path)} & {"compare", "preference", "reward"}
