"""The trainers beyond SFT/DPO, each end to end through the real trainer subprocess on the tiny model (no mocks):
KTO, ORPO, SimPO, GRPO, continued pre-training, distillation (teacher generation → SFT) and GKD."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from ftwizard.core.run.config import ConfigError, RunConfig
from ftwizard.core.run.launcher import launch, wait
from ftwizard.core.run.layout import RunDir

slow = pytest.mark.slow


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _train(tmp_path: Path, model: Path, data: Path, trainer: str, **kw) -> tuple[RunDir, list[dict]]:
    base = dict(model=str(model), data=str(data), trainer=trainer, method="lora", rank=4, alpha=8,
                max_seq_length=64, micro_batch=4, gradient_accumulation=1, max_steps=3, logging_steps=1,
                eval_steps=100, save_steps=100, learning_rate=1e-3, preflight_steps=0)
    base.update(kw)
    run = tmp_path / trainer
    RunDir(run).create(RunConfig(**base))
    st = wait(launch(run), run)
    rd = RunDir(run)
    assert st["state"] == "done", (run / "stdout.log").read_text()[-3000:]
    assert rd.adapter.exists() or rd.full_model.exists()
    return rd, [e for e in rd.read_events() if e["type"] == "log"]


def _dates(n: int, seed: int) -> list[tuple[str, str]]:
    from ftwizard.train.tiny import date_examples

    return [(r["messages"][0]["content"], r["messages"][1]["content"]) for r in date_examples(n, seed=seed)]


def _msg(role: str, text: str) -> list[dict]:
    return [{"role": role, "content": text}]


@slow
def test_kto_unpaired_preference(tmp_path, tiny_model):
    rng = random.Random(0)
    rows = []
    for q, a in _dates(40, 1):
        good = rng.random() < 0.5
        rows.append({"prompt": _msg("user", q), "completion": _msg("assistant", a if good else a[::-1]),
                     "label": good})
    rd, logs = _train(tmp_path, tiny_model, _jsonl(tmp_path / "kto.jsonl", rows), "kto", learning_rate=5e-4)
    keys = set().union(*logs)
    assert {"loss", "rewards/chosen", "rewards/margins", "kl"} <= keys, keys


def _pairs(n: int) -> list[dict]:
    return [{"prompt": _msg("user", q), "chosen": _msg("assistant", a), "rejected": _msg("assistant", a[::-1])}
            for q, a in _dates(n, 2)]


@slow
@pytest.mark.parametrize("trainer", ["orpo", "simpo"])
def test_reference_free_preference(tmp_path, tiny_model, trainer):
    rd, logs = _train(tmp_path, tiny_model, _jsonl(tmp_path / "pref.jsonl", _pairs(40)), trainer)
    keys = set().union(*logs)
    assert {"loss", "rewards/margins", "rewards/accuracies", "nll_loss"} <= keys, keys
    if trainer == "orpo":
        assert "log_odds_ratio" in keys


@slow
def test_continued_pretraining_packs_plain_text(tmp_path, tiny_model):
    rng = random.Random(0)
    docs = [{"text": " ".join(f"{q} is {a}." for q, a in _dates(rng.randint(2, 6), i))} for i in range(60)]
    rd, logs = _train(tmp_path, tiny_model, _jsonl(tmp_path / "docs.jsonl", docs), "cpt", method="full",
                      learning_rate=1e-3)
    assert any("loss" in e for e in logs)
    assert rd.config().packing is False  # the config's flag is untouched; cpt packs on its own


def _date_prompts(n: int, seed: int = 4, chat: bool = True) -> list[dict]:
    return [{"prompt": _msg("user", q) if chat else q, "answer": a} for q, a in _dates(n, seed)]


@slow
def test_grpo_with_builtin_and_user_rewards(tmp_path, tiny_model):
    user = tmp_path / "my_reward.py"
    user.write_text("def slash_count(completions, **kwargs):\n"
                    "    return [c[0]['content'].count('/') / 2 for c in completions]\n")
    data = _jsonl(tmp_path / "prompts.jsonl", _date_prompts(40))
    rd, logs = _train(tmp_path, tiny_model, data, "grpo", grpo_num_generations=4, grpo_max_completion_length=16,
                      grpo_rewards=["exact_match", "char_match", f"{user}:slash_count"], grpo_kl_beta=0.04,
                      learning_rate=1e-4)
    keys = set().union(*logs)
    assert {"reward", "reward_std", "kl", "completions/mean_length", "rewards/char_match/mean",
            "rewards/slash_count/mean", "rewards/exact_match/mean"} <= keys, keys
    from ftwizard.train.rewards import score_model

    rows = [json.loads(x) for x in rd.split_file("test").read_text().splitlines()][:6]
    res = score_model(tiny_model, rows, ["exact_match", "char_match"], max_new_tokens=8, adapter=rd.adapter,
                      temperature=1.0, samples=2)
    assert res["n"] == 2 * len(rows) and 0 <= res["char_match"] <= 1 and res["reward"] >= res["char_match"]


@slow
def test_distill_then_sft_and_gkd(tmp_path, tiny_model):
    """Tiny model as the teacher → 20 prompts → a chat file the data step validates → the student trains on it
    (SFT, and GKD with the teacher). A second call resumes: nothing is generated twice."""
    from ftwizard.cli import main as cli
    from ftwizard.core.data.report import analyze
    from ftwizard.train.distill import distill

    prompts = tmp_path / "prompts.txt"
    prompts.write_text("".join(q + "\n" for q, _ in _dates(20, 5)))
    out = tmp_path / "distilled.jsonl"
    # the random tiny teacher answers something only when sampling
    first = distill(str(tiny_model), prompts, out, batch_size=8, max_new_tokens=12, limit=12, temperature=1.0)
    assert first.written + first.empty == 12 and first.already == 0 and first.written >= 6
    with open(out, "a", encoding="utf-8") as fh:
        fh.write('{"messages": [{"role": "user", "con')  # a crash mid-write
    assert cli(["distill", "--teacher", str(tiny_model), "--prompts", str(prompts), "--out", str(out),
                "--max-new-tokens", "12", "--batch-size", "8", "--temperature", "1"]) == 0
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert first.written < len(rows) <= 20
    assert len({json.dumps(r["messages"][:-1]) for r in rows}) == len(rows)
    rep = analyze(str(out))
    assert rep.usable and rep.family == "openai" and len(rep.valid) == len(rows)
    rd, logs = _train(tmp_path, tiny_model, out, "sft", max_steps=2)
    assert any("loss" in e for e in logs)
    rd, logs = _train(tmp_path, tiny_model, out, "gkd", teacher_model=str(tiny_model), max_steps=2,
                      max_seq_length=48)
    assert any("loss" in e for e in logs)


# ---- pure parts: specs, config checks, rewards, warnings, monitor series (fast) -----------------------------
def test_specs_pick_the_trainer_for_each_family():
    from ftwizard.core.trainers import TRAINERS, trainer_for_family, trainers_for_family

    assert [trainer_for_family(f) for f in ("kto", "prompt_only", "text", "preference", "openai", "alpaca")] == \
        ["kto", "grpo", "cpt", "dpo", "sft", "sft"]
    assert trainers_for_family("preference") == ["dpo", "orpo", "simpo"]
    for name in ("dpo", "kto", "orpo", "simpo"):  # preference LRs are 10–100× below SFT's
        assert TRAINERS["sft"].lr_lora / TRAINERS[name].lr_lora >= 10
    assert TRAINERS["grpo"].generates and not TRAINERS["orpo"].reference_model
    fields = set(RunConfig().to_dict())
    assert all(f in fields for spec in TRAINERS.values() for f, _, _ in spec.starts)


def test_config_checks_for_the_new_trainers():
    from ftwizard.core.run.config import ConfigError

    with pytest.raises(ConfigError, match="grpo_num_generations"):
        RunConfig(trainer="grpo", micro_batch=3, gradient_accumulation=1, grpo_num_generations=4)
    with pytest.raises(ConfigError, match="KTO"):
        RunConfig(trainer="kto", micro_batch=1)
    with pytest.raises(ConfigError, match="teacher_model"):
        RunConfig(trainer="gkd")
    with pytest.raises(ConfigError, match="gkd_lmbda"):
        RunConfig(gkd_lmbda=1.5)
    assert RunConfig(grpo_rewards="exact_match, char_match").grpo_rewards == ["exact_match", "char_match"]


def test_builtin_rewards_and_user_reward_loading(tmp_path):
    from ftwizard.train.rewards import RewardError, resolve_reward, resolve_rewards

    chat = [[{"role": "assistant", "content": "01/02/2003"}], [{"role": "assistant", "content": "<answer>01/02/2004</answer>"}]]
    kw = {"answer": ["01/02/2003", "01/02/2003"]}
    em, cm, fmt, rx, lp = resolve_rewards(["exact_match", "char_match", "format", r"regex:\d\d/\d\d/\d{4}",
                                           "length_penalty"], max_completion_length=20)
    assert em([], chat, **kw) == [1.0, 0.0]
    assert cm([], chat, **kw)[1] == pytest.approx(0.9)
    assert fmt([], ["<think>x</think> <answer>y</answer>", "y"]) == [1.0, 0.0]
    assert rx([], chat) == [1.0, 0.0]
    assert lp([], ["a", "b"], completion_ids=[[1] * 10, [1] * 40]) == [-0.5, -1.0]
    with pytest.raises(RewardError, match="answer"):
        em([], chat, solution_x=[1, 2])
    good = tmp_path / "r.py"
    good.write_text("def mine(completions, **kwargs):\n    return [1.0 for _ in completions]\n"
                    "def nokw(completions):\n    return []\n")
    assert resolve_reward(f"{good}:mine")(prompts=[], completions=["a"]) == [1.0]  # TRL passes keywords
    for bad, why in ((f"{good}:nokw", "kwargs"), (f"{good}:missing", "no function"),
                     (f"{tmp_path}/nope.py:f", "not a Python file"), ("bleu", "unknown reward"),
                     ("regex:(", "not a valid regular expression")):
        with pytest.raises(RewardError, match=why):
            resolve_reward(bad)


def test_objective_warnings_and_monitor_series():
    from ftwizard.core.run.state import RunState
    from ftwizard.core.run.watch import TrainingWatch

    w = TrainingWatch(trainer="grpo")
    kinds = [x.kind for i in range(12) for x in w.on_metrics({"reward": 0.2, "frac_reward_zero_std": 1.0})
             + w.on_log(loss=0.0)]
    assert kinds == ["reward_not_rising"]
    rising = TrainingWatch(trainer="grpo")
    assert not [x for i in range(12) for x in rising.on_metrics({"reward": 0.1 * i})]
    kl = TrainingWatch(trainer="grpo")
    assert [x.kind for v in (0.01, 0.02, 0.01, 0.02, 0.01, 0.5, 3.0) for x in kl.on_metrics({"kl": v})] == \
        ["kl_exploding"]
    mg = TrainingWatch(trainer="dpo")
    assert [x.kind for v in (0.2, 0.3, 0.3, 0.2, 0.1, 0.0, -0.1, -0.3) for x in mg.on_metrics(
        {"rewards/margins": v})] == ["margins_collapsing"]
    st = RunState()
    st.add_many([{"type": "log", "step": i, "reward": 0.1 * i, "rewards/margins": 0.5, "kl": 0.01} for i in range(5)])
    assert len(st.metrics["reward"]) == 5 and {"kl", "rewards/margins"} <= set(st.metrics)


def test_distill_prompts_from_any_family_and_torn_output(tmp_path):
    from ftwizard.train.distill import DistillError, answered, key, load_prompts, prompt_messages

    assert prompt_messages({"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "q"},
                                         {"role": "assistant", "content": "a"}]}) == \
        [{"role": "system", "content": "s"}, {"role": "user", "content": "q"}]
    assert prompt_messages({"instruction": "do", "input": "", "output": "x"}) == [{"role": "user", "content": "do"}]
    assert prompt_messages({"prompt": "q", "chosen": "a", "rejected": "b"}) == [{"role": "user", "content": "q"}]
    src = _jsonl(tmp_path / "p.jsonl", [{"prompt": "q1"}, {"prompt": "q1"}, {"prompt": "q2"}])
    assert len(load_prompts(src)) == 2  # duplicates asked once
    (tmp_path / "empty.txt").write_text("\n\n")
    with pytest.raises(DistillError, match="no prompts"):
        load_prompts(tmp_path / "empty.txt")
    out = tmp_path / "out.jsonl"
    row = {"messages": [{"role": "user", "content": "q1"}, {"role": "assistant", "content": "a"}]}
    out.write_text(json.dumps(row) + "\n" + '{"messages": [{"ro')
    assert answered(out) == {key(row["messages"][:1])}
    assert out.read_text() == json.dumps(row) + "\n"  # the torn line is cut


def test_grpo_demo_runs_are_valid_runs(tmp_path):
    from ftwizard.train.demo import GRPO_REWARDS, make_grpo_demo

    sft_run, grpo_run = make_grpo_demo(tmp_path / "demo", examples=50, prompts=40)
    sft, grpo = RunDir(sft_run).config(), RunDir(grpo_run).config()
    assert sft.trainer == "sft" and grpo.trainer == "grpo" and grpo.grpo_rewards == GRPO_REWARDS
    assert grpo.model == str(RunDir(sft_run).full_model)
    rows = [json.loads(x) for x in Path(grpo.data).read_text().splitlines()]
    assert all(isinstance(r["prompt"], list) and r["answer"].count("/") == 2 for r in rows)


def test_grpo_takes_example_answer_data_as_prompts_with_a_reference():
    from datasets import Dataset

    from ftwizard.train.trainers.grpo import as_prompts

    chat = as_prompts(Dataset.from_list([{"messages": _msg("user", "2001-02-03") + _msg("assistant", "03/02/2001")}]))
    assert chat[0] == {"prompt": _msg("user", "2001-02-03"), "answer": "03/02/2001"}
    pc = as_prompts(Dataset.from_list([{"prompt": "q", "completion": " a "}]))
    assert pc[0] == {"prompt": "q", "answer": "a"}


# ---- a trainer is one file: RLOO, added as ftwizard/train/trainers/rloo.py + one TrainerSpec line ------------------
def test_rloo_is_known_everywhere_from_its_spec_alone(tmp_path):
    """The five places a newcomer's RLOO was silently wrong (issue 23) read its TrainerSpec now."""
    from ftwizard.core.run.exports import launch_line
    from ftwizard.core.run.trl_import import _trl_defaults, trainer_args_problem
    from ftwizard.core.run.watch import TrainingWatch

    # 1. `train --check` takes RLOOConfig's own fields and maps the shared ones to their config keys
    assert trainer_args_problem("rloo", {"num_iterations": 2, "epsilon": 0.2}) is None
    assert trainer_args_problem("rloo", {"num_generations": 4}).endswith("num_generations → grpo_num_generations:")
    # 2. the generations must divide the batch, as for GRPO
    with pytest.raises(ConfigError, match="grpo_num_generations"):
        RunConfig(trainer="rloo", micro_batch=3, gradient_accumulation=1, grpo_num_generations=2)
    # 3. launch.sh runs it with TRL's own script
    rd = RunDir(tmp_path / "r").create(RunConfig(model="/m", data="/d", trainer="rloo", micro_batch=4,
                                                 grpo_num_generations=4))
    line = launch_line(rd, rd.config())
    assert line is not None and "rloo" in line, line
    # 4. a flat RL loss is not "not learning"
    w = TrainingWatch(trainer="rloo")
    warned = [x for i in range(12) for x in w.on_log(loss=0.01)]
    assert not any(x.kind == "not_learning" for x in warned)
    # 5. `trl import` of an RLOO config without a learning rate takes RLOO's default, not SFT's 2e-4
    out: dict = {}
    _trl_defaults("rloo", {}, out)
    assert out["learning_rate"] == pytest.approx(1e-6)
    from ftwizard.core.trainers import TRAINERS

    assert TRAINERS["rloo"].generates and TRAINERS["rloo"].check == "reward"


def test_no_module_but_its_own_names_rloo():
    """One file and one registry line: nothing else in the package says 'rloo'."""
    root = Path(__file__).resolve().parents[2] / "ftwizard"
    named = sorted(str(p.relative_to(root)) for p in root.rglob("*.py") if "rloo" in p.read_text(encoding="utf-8").lower())
    assert named == ["core/trainers.py", "train/trainers/rloo.py"], named


@slow
def test_rloo_trains_on_the_demo_prompts_with_the_demo_reward(tmp_path, tiny_model):
    from ftwizard.train.demo import GRPO_REWARDS

    data = _jsonl(tmp_path / "prompts.jsonl", _date_prompts(40))
    rd, logs = _train(tmp_path, tiny_model, data, "rloo", grpo_num_generations=4, grpo_max_completion_length=16,
                      grpo_rewards=GRPO_REWARDS, learning_rate=1e-4)
    keys = set().union(*logs)
    assert {"reward", "reward_std"} <= keys, keys
    assert rd.status()["state"] == "done" and (rd.path / "launch.sh").read_text().count("rloo")
