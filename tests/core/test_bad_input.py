"""Every bad input is answered before anything is loaded or launched: one line (plus a hint), exit 2, no traceback.

Through the real command line (`python -m ftwizard …`), the way a first-timer meets it.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from ftwizard.core.run.config import RunConfig
from ftwizard.core.run.service import create_run
from ftwizard.core.run.source_checks import model_problems

pytestmark = pytest.mark.faults


def cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ftwizard", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})}, cwd=cwd, stdin=subprocess.DEVNULL)


def one_line(res: subprocess.CompletedProcess[str], *words: str) -> str:
    """Exit 2, an `error:` line (and at most a hint) on stderr, no traceback; returns the error line."""
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    assert "Traceback" not in res.stderr + res.stdout
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert 1 <= len(lines) <= 2 and lines[0].startswith("error:"), res.stderr
    for w in words:
        assert w.lower() in res.stderr.lower(), (w, res.stderr)
    return lines[0]


@pytest.fixture
def fake_model(tmp_path: Path) -> Path:
    """A model folder that passes the file checks (config.json, a weights file, tokenizer files)."""
    d = tmp_path / "model"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"model_type": "llama", "hidden_size": 64}))
    (d / "model.safetensors").write_bytes(b"\0" * 16)
    (d / "tokenizer.json").write_text("{}")
    (d / "tokenizer_config.json").write_text("{}")
    return d


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    p = tmp_path / "d.jsonl"
    p.write_text('{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}\n')
    return p


# ---- config --------------------------------------------------------------------------------------------------
BAD_CONFIGS = {
    "invalid_yaml": ("model: [unclosed\ndata: x\n", "yaml"),
    "a_list": ("- model\n- data\n", "list"),
    "a_scalar": ("just some words\n", "mapping"),
    "wrong_type": ("micro_batch: four\n", "micro_batch"),
    "negative_batch": ("micro_batch: -4\n", "micro_batch"),
    "zero_seq": ("max_seq_length: 0\n", "max_seq_length"),
    "negative_lr": ("learning_rate: -1e-4\n", "learning_rate"),
    "unknown_method": ("method: superlora\n", "method"),
    "unknown_trainer": ("trainer: magic\n", "trainer"),
    "unknown_precision": ("precision: fp7\n", "precision"),
    "unknown_engine": ("engine: warp\n", "engine"),
    "split_not_one": ("split: [0.8, 0.3, 0.1]\n", "split"),
    "epochs_zero": ("epochs: 0\n", "epochs"),
    "rank_absurd": ("rank: 100000\n", "rank"),
    "unknown_key": ("learnin_rate: 1e-4\n", "learnin_rate"),
}


@pytest.mark.parametrize("name", sorted(BAD_CONFIGS))
@pytest.mark.parametrize("check", [False, True], ids=["train", "check"])
def test_bad_config_is_one_line(tmp_path, name, check):
    text, word = BAD_CONFIGS[name]
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text)
    run = tmp_path / "run"
    res = cli("train", str(cfg), *(["--check"] if check else ["--out", str(run)]))
    one_line(res, word)
    assert not run.exists()  # nothing created, nothing launched


# ---- model -------------------------------------------------------------------------------------------------------
def _model_cfg(tmp_path: Path, model: str, data: Path) -> Path:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(RunConfig(model=model, data=str(data)).to_yaml())
    return cfg


def _break(kind: str, d: Path) -> str:
    if kind == "missing_path":
        return str(d.parent / "no-such-model")
    if kind == "broken_config":
        (d / "config.json").write_text('{"model_type": "llama", "hidden_')
    elif kind == "no_tokenizer":
        (d / "tokenizer.json").unlink()
        (d / "tokenizer_config.json").unlink()
    elif kind == "only_config":
        for f in d.iterdir():
            if f.name != "config.json":
                f.unlink()
    return str(d)


@pytest.mark.parametrize("kind,word", [("missing_path", "does not exist"), ("broken_config", "not valid JSON"),
                                       ("no_tokenizer", "no tokenizer"), ("only_config", "no weight files")])
def test_bad_model_folder_is_refused_before_launch(tmp_path, fake_model, data_file, kind, word):
    cfg = _model_cfg(tmp_path, _break(kind, fake_model), data_file)
    run = tmp_path / "run"
    one_line(cli("train", str(cfg), "--out", str(run)), word)
    assert not run.exists()
    one_line(cli("train", str(cfg), "--check"), word)


def test_good_model_folder_passes_the_checks(fake_model, data_file, tmp_path):
    assert model_problems(str(fake_model)) == []
    res = cli("train", str(_model_cfg(tmp_path, str(fake_model), data_file)), "--check")
    assert res.returncode == 0, res.stderr


def test_hub_id_not_cached_while_offline(tmp_path, data_file):
    env = {"HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"}
    cfg = _model_cfg(tmp_path, "someorg/some-model-7b", data_file)
    one_line(cli("train", str(cfg), "--out", str(tmp_path / "run"), env=env), "not in the local hugging face cache",
             "hf download")
    assert not (tmp_path / "run").exists()


def test_gated_repo_without_token(tmp_path, data_file, monkeypatch):
    env = {"HF_HOME": str(tmp_path / "hf"), "HF_TOKEN": "", "HUGGING_FACE_HUB_TOKEN": "", "HF_HUB_OFFLINE": "0"}
    cfg = _model_cfg(tmp_path, "meta-llama/Llama-3.1-8B-Instruct", data_file)
    one_line(cli("train", str(cfg), "--check", env=env), "gated", "hf auth login")
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert [p.kind for p in model_problems("meta-llama/Llama-3.1-8B-Instruct")] == ["gated"]
    assert model_problems("meta-llama/Llama-3.1-8B-Instruct", token=True) == []  # with a token: the download may go


def test_missing_or_unreadable_data(tmp_path, fake_model):
    one_line(cli("train", str(_model_cfg(tmp_path, str(fake_model), tmp_path / "gone.jsonl")), "--check"),
             "does not exist")
    if os.geteuid() != 0:  # root reads anything
        locked = tmp_path / "locked.jsonl"
        locked.write_text("{}\n")
        locked.chmod(0)
        one_line(cli("train", str(_model_cfg(tmp_path, str(fake_model), locked)), "--check"), "permission")
        locked.chmod(stat.S_IRUSR | stat.S_IWUSR)


# ---- launch.sh quoting ---------------------------------------------------------------------------------------------
def test_launch_sh_quotes_hostile_paths(tmp_path, fake_model, data_file):
    """A run path with `$(…)` and spaces: launch.sh passes it as one argument and executes nothing."""
    run = tmp_path / "my run $(touch PWNED) `touch PWNED2` x"
    rd = create_run(run, RunConfig(model=str(fake_model), data=str(data_file)))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    argv_log = tmp_path / "argv.json"
    fake_trl = bin_dir / "trl"
    fake_trl.write_text(f"#!{sys.executable}\nimport json, sys\njson.dump(sys.argv[1:], open({str(argv_log)!r}, 'w'))\n")
    fake_trl.chmod(0o755)
    res = subprocess.run(["bash", str(rd.launch_sh)], cwd=tmp_path, capture_output=True, text=True,
                         env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"})
    assert res.returncode == 0, res.stderr
    assert json.loads(argv_log.read_text()) == ["sft", "--config", str(rd.trl_config("sft").resolve())]
    assert not list(tmp_path.rglob("PWNED*"))


# ---- estimator ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("args,word", [(["--batch", "-5"], "--batch"), (["--batch", "0"], "--batch"),
                                       (["--seq", "0"], "--seq"), (["--rank", "100000"], "--rank"),
                                       (["--rank", "-1"], "--rank"), (["--gpus", "0"], "--gpus"),
                                       (["--batch", "lots"], "--batch"), (["--gpu-gib", "-3"], "--gpu-gib")])
def test_estimator_bad_sizes_are_one_line(args, word, fake_model):
    one_line(cli("estimate", "--model", str(fake_model), *args), word)


def test_resume_after_the_model_moved_is_one_line(tmp_path, fake_model, data_file):
    rd = create_run(tmp_path / "run", RunConfig(model=str(fake_model), data=str(data_file)))
    rd.write_status(state="stopped")
    fake_model.rename(tmp_path / "elsewhere")
    one_line(cli("train", "--resume", str(rd.path)), "does not exist")
    assert rd.status()["state"] == "stopped"  # nothing launched


@pytest.mark.parametrize("text, words", [
    ("model: m\nrank: [16\nepochs: 2\n", "invalid YAML at line 2: a [ opened there is not closed"),
    ('model: m\ndata: "d.jsonl\nrank: 16\n', "invalid YAML at line 2: a quote opened there is not closed"),
    ("model: m\n  rank: 16\n", "invalid YAML at line 2: mapping values are not allowed here (a line indented"),
])
def test_a_yaml_mistake_is_named_at_the_line_it_was_made(tmp_path, text, words):
    """PyYAML notices an unclosed bracket or quote where the next key appears; the message names the line that
    opened it (the one to fix), and what the parser saw where."""
    path = tmp_path / "c.yaml"
    path.write_text(text)
    one_line(cli("train", str(path), "--check"), words)


def test_plan_names_a_bad_gpu_a_missing_data_file_or_gguf_in_one_line(tmp_path: Path) -> None:
    """Said before anything is read, once: a mistyped card (it was said after the tokenizer counted the data, with
    a hint that --help lists the cards, which it does not), a missing data file ('nofile.jsonl: nofile.jsonl: …'
    after a 'reading …' line), a missing .gguf file (it said 'no such folder … a model folder holds config.json')."""
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"},
                                             {"role": "assistant", "content": "hello"}]}) + "\n")
    line = one_line(cli("plan", "smollm2-135m", "--gpu", "banana", "--data", str(data)), "--gpu cpu")
    assert "unknown GPU 'banana'" in line and "RTX 4090" in line and "NVIDIA GeForce" not in line
    line = one_line(cli("plan", "smollm2-135m", "--data", str(tmp_path / "nofile.jsonl")), "check the path")
    assert line.count("nofile.jsonl") == 1 and "no such file" in line
    line = one_line(cli("plan", str(tmp_path / "gone.gguf")))
    assert "no such file" in line and "folder" not in line
