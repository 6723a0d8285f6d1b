"""The trainers beyond SFT/DPO, each end to end through the real trainer subprocess on the tiny model (no mocks):
KTO, ORPO, SimPO, GRPO, continued pre-training, distillation (teacher generation → SFT) and GKD."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from ftwizard.core.run.config import RunConfig
from ftwizard.core.run.launcher import launch, wait
from ftwizard.core.run.layout import RunDir

pytestmark = pytest.mark.slow


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


@pytest.mark.parametrize("trainer", ["orpo", "simpo"])
def test_reference_free_preference(tmp_path, tiny_model, trainer):
    rd, logs = _train(tmp_path, tiny_model, _jsonl(tmp_path / "pref.jsonl", _pairs(40)), trainer)
    keys = set().union(*logs)
    assert {"loss", "rewards/margins", "rewards/accuracies", "nll_loss"} <= keys, keys
    if trainer == "orpo":
        assert "log_odds_ratio" in keys


def test_continued_pretraining_packs_plain_text(tmp_path, tiny_model):
    rng = random.Random(0)
    docs = [{"text": " ".join(f"{q} is {a}." for q, a in _dates(rng.randint(2, 6), i))} for i in range(60)]
    rd, logs = _train(tmp_path, tiny_model, _jsonl(tmp_path / "docs.jsonl", docs), "cpt", method="full",
                      learning_rate=1e-3)
    assert any("loss" in e for e in logs)
    assert rd.config().packing is False  # the config's flag is untouched; cpt packs on its own


def _date_prompts(n: int, seed: int = 4, chat: bool = True) -> list[dict]:
    return [{"prompt": _msg("user", q) if chat else q, "answer": a} for q, a in _dates(n, seed)]


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
