"""Reliability of the run directory's readers and of config loading (issue 24, items 2–7, the parts without a model):
YAML alias bombs, bounded numbers, torn event lines, one value per step across resumes, liveness (stalled / dead),
`ftwizard stop` escalating to SIGKILL, resume fingerprints, and guarded GRPO rewards."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
import types
from dataclasses import fields
from typing import Union, get_args, get_origin

import pytest

from ftwizard.core.run import lock
from ftwizard.core.run.config import MAX_STEPS, ConfigError, RunConfig, _hints
from ftwizard.core.run.config_load import load_any
from ftwizard.core.run.diagnosis import diagnose
from ftwizard.core.run.events import EventTail
from ftwizard.core.run.fingerprint import compare, write_fingerprint
from ftwizard.core.run.layout import RunDir
from ftwizard.core.run.liveness import liveness, stall_threshold
from ftwizard.core.run.state import RunState, summarize_run, whole_run_loss


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ftwizard", *args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})})


def bomb(levels: int = 9) -> str:
    """`report_to` as nested aliases: 9 lists of 9 aliases expand to 9⁹ strings."""
    lines = ["report_to: [&a0 [" + ", ".join(["lol"] * 9) + "]"]
    lines += [f"  , &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return "model: /m\ndata: /d\n" + "\n".join(lines) + "\n  ]\n"


# ---- item 2: YAML aliases ------------------------------------------------------------------------------------------
def test_yaml_alias_bomb_is_refused_before_anything_expands(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(bomb())
    t = time.time()
    res = cli("train", "--check", str(path), timeout=60)
    assert res.returncode == 2 and time.time() - t < 30
    err = res.stderr.strip().splitlines()
    assert "YAML aliases are not allowed" in err[0] and "*a0 at line 4" in err[0], res.stderr
    assert "Traceback" not in res.stderr + res.stdout
    for load in (RunConfig.load, load_any):
        with pytest.raises(ConfigError, match="aliases are not allowed"):
            load(path)
    trl = tmp_path / "trl.yaml"  # a TRL CLI config goes through the same loader
    trl.write_text("model_name_or_path: /m\ndataset_name: /d\nlearning_rate: &lr 2.0e-4\nwarmup_ratio: *lr\n")
    with pytest.raises(ConfigError, match=r"\*lr at line 4"):
        load_any(trl)
    anchored = tmp_path / "anchor.yaml"  # an anchor nobody refers to is harmless
    anchored.write_text("model: /m\ndata: /d\nreport_to: &t []\n")
    assert RunConfig.load(anchored).report_to == []


# ---- item 3: every number bounded ----------------------------------------------------------------------------------
def _numeric_fields() -> list[str]:
    out = []
    for f in fields(RunConfig):
        tp = _hints()[f.name]
        opts = get_args(tp) if get_origin(tp) in (Union, types.UnionType) else (tp,)
        if any(o in (int, float) for o in opts):
            out.append(f.name)
    return out


@pytest.mark.parametrize("name", _numeric_fields())
@pytest.mark.parametrize("value", [10**23, -(10**23), math.inf, math.nan])
def test_every_numeric_field_is_bounded(name, value):
    with pytest.raises(ConfigError) as err:
        RunConfig(**{name: value})
    assert err.value.field == name and str(err.value).startswith(f"{name}: "), str(err.value)


def test_huge_max_steps_is_refused_by_check_with_the_range(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model: /m\ndata: /d\nmax_steps: 99999999999999999999999\n")
    res = cli("train", "--check", str(path))
    assert res.returncode == 2
    assert f"max_steps: 99999999999999999999999 is not allowed — -1 (use epochs) or a step count from 1 to {MAX_STEPS}" \
        in res.stderr, res.stderr
    assert RunConfig(max_steps=MAX_STEPS, epochs=10_000, learning_rate=1.0).max_steps == MAX_STEPS  # the edges pass


@pytest.mark.parametrize("value", [10**23, math.inf, [1, 10**20], {"a": -math.inf}])
def test_trainer_args_numbers_are_bounded(value):
    with pytest.raises(ConfigError) as err:
        RunConfig(trainer="sft", trainer_args={"adam_beta1": 0.9, "max_grad_norm": value})
    assert err.value.field == "trainer_args" and "out of range: max_grad_norm" in str(err.value), str(err.value)
    assert "finite and within ±1e+09" in str(err.value)
    assert RunConfig(trainer="sft", trainer_args={"max_grad_norm": 1e9, "adam_beta1": 0.9}).trainer_args


# ---- item 5: events ------------------------------------------------------------------------------------------------
def test_a_torn_last_line_does_not_swallow_the_next_event(tmp_path):
    rd = RunDir(tmp_path / "run").create(RunConfig())
    tail = EventTail(rd.events_path)
    rd.append_event({"type": "log", "step": 1, "loss": 2.0})
    assert [e["step"] for e in tail.poll()] == [1]
    with open(rd.events_path, "ab") as fh:  # killed mid-write, inside a multi-byte character
        fh.write('{"type": "warning", "message": "caf\u00e9'.encode()[:-1])
    assert tail.poll() == []
    rd.append_event({"type": "resume", "from_step": 1, "checkpoint": None})
    rd.append_event({"type": "log", "step": 2, "loss": 1.0, "eval_loss": 0.5})
    assert [e["type"] for e in rd.read_events()] == ["log", "resume", "log"]
    assert [e["type"] for e in tail.poll()] == ["resume", "log"]
    assert summarize_run(rd.path).best_eval == 0.5
    lines = rd.events_path.read_bytes().split(b"\n")
    assert lines[1].startswith(b'{"type": "warning"') and lines[2].startswith(b'{"type": "resume"')


def test_train_loss_of_a_resumed_run_counts_each_step_once():
    def log(step: int, loss: float) -> dict:
        return {"type": "log", "step": step, "loss": loss}

    evs = [log(s, 4.0) for s in range(1, 7)]  # steps 1-6 at 4.0; checkpoint at 3
    evs += [{"type": "resume", "from_step": 3}] + [log(s, 1.0) for s in range(4, 9)]  # 4-8 again, at 1.0
    assert whole_run_loss(evs) == pytest.approx((3 * 4.0 + 5 * 1.0) / 8)
    st = RunState()
    st.add_many(evs)
    assert list(st.loss.xs) == list(range(1, 9))
    # logging every 2 steps: each logged mean weighs the steps it covers (a resume restarts the count)
    evs = [log(2, 3.0), log(4, 3.0), {"type": "resume", "from_step": 3}, log(6, 1.0)]
    assert whole_run_loss(evs) == pytest.approx((2 * 3.0 + 3 * 1.0) / 5)  # step 4's log was replayed: dropped
    assert whole_run_loss([{"type": "note"}]) is None


# ---- item 7: liveness, stop escalation -----------------------------------------------------------------------------
def _heartbeat(rd: RunDir, pid: int, age: float, step_s: float | None = 0.5, phase: str = "training") -> None:
    now = time.time()
    rd.heartbeat_path.write_text(json.dumps({"pid": pid, "beat": now - age, "progress": now - age, "phase": phase,
                                             "step": 7, "step_s": step_s}))


def _sleeper(ignore_term: bool = False) -> subprocess.Popen[bytes]:
    code = ("import signal, time\n" + ("signal.signal(signal.SIGTERM, signal.SIG_IGN)\n" if ignore_term else "")
            + "print('ready', flush=True)\ntime.sleep(120)\n")
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, start_new_session=True)
    assert p.stdout.readline().strip() == b"ready"
    return p


def test_liveness_stalled_and_dead(tmp_path, monkeypatch):
    monkeypatch.setenv("FTWIZARD_STALL_S", "5")
    assert stall_threshold(None) == 25 and stall_threshold(0.5) == 5 and stall_threshold(10) == 50
    rd = RunDir(tmp_path / "run").create(RunConfig())
    p = _sleeper()
    try:
        rd.write_status(state="running", pid=p.pid, pid_started=lock.process_start(p.pid))
        assert liveness(rd.path).kind == "alive"  # no heartbeat yet (or an older trainer): no claim
        _heartbeat(rd, p.pid, age=1)
        assert liveness(rd.path).kind == "alive"
        _heartbeat(rd, p.pid, age=42)
        lv = liveness(rd.path)
        assert lv.kind == "stalled" and lv.line.startswith("stalled for 42 s (no progress, process alive) at step 7")
        assert summarize_run(rd.path).liveness.startswith("stalled for 42 s")
        _heartbeat(rd, p.pid, age=20, phase="loading")  # loading: the beat alone counts (a few missed beats)
        assert liveness(rd.path).kind == "alive"
        os.kill(p.pid, signal.SIGSTOP)  # stopped is alive (not a zombie): its heartbeat goes stale
        _heartbeat(rd, p.pid, age=42)
        res = cli("monitor", str(rd.path), "--once", env={"FTWIZARD_STALL_S": "5"})
        assert res.returncode == 0 and json.loads(res.stdout)["liveness"].startswith("stalled for 4"), res.stdout
        assert json.loads(res.stdout)["state"] == "running"
        os.kill(p.pid, signal.SIGCONT)
    finally:
        p.kill()
        p.wait()
    lv = liveness(rd.path)
    assert lv.kind == "dead" and lv.line.startswith("dead (process gone)")
    res = cli("monitor", str(rd.path), "--once")
    out = json.loads(res.stdout)
    assert out["liveness"].startswith("dead (process gone)") and out["state"] == "failed"  # reconciled
    assert liveness(rd.path) is None  # no longer active


def test_stop_escalates_to_sigkill_of_the_process_group(tmp_path):
    rd = RunDir(tmp_path / "run").create(RunConfig())
    p = _sleeper(ignore_term=True)  # a trainer that cannot act on SIGTERM (stuck in a reward, SIGSTOPped …)
    try:
        rd.write_status(state="running", pid=p.pid, pid_started=lock.process_start(p.pid), last_step=7)
        t = time.time()
        res = cli("stop", str(rd.path), "--wait", "2")
        assert res.returncode == 0, res.stdout + res.stderr
        assert "stop requested" in res.stdout and "killing the trainer's process group (SIGKILL)" in res.stdout
        assert "resume from the start (no checkpoint was saved): ftwizard train --resume" in res.stdout
        assert p.wait(timeout=10) == -signal.SIGKILL and time.time() - t < 30
        st = rd.status()
        assert st["state"] == "failed" and st["stop_signal"] == "SIGKILL" and st["diagnosis"]["kind"] == "killed"
        assert "Stopped by force" in st["diagnosis"]["summary"]
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    q = _sleeper()  # a trainer that stops on SIGTERM is not killed
    try:
        rd.write_status(state="running", pid=q.pid, pid_started=lock.process_start(q.pid))
        res = cli("stop", str(rd.path), "--wait", "20")
        assert res.returncode == 0 and "SIGKILL" not in res.stdout and q.wait(timeout=10) == -signal.SIGTERM
    finally:
        if q.poll() is None:
            q.kill()
            q.wait()


# ---- item 4: resume fingerprints -----------------------------------------------------------------------------------
def test_resume_fingerprint_applies_refuses_and_warns(tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text('{"text": "a"}\n')
    rd = RunDir(tmp_path / "run").create(RunConfig(model="/m", data=str(data)))
    write_fingerprint(rd)
    assert not compare(rd).applied and compare(rd).refusal() is None and not compare(rd).warnings
    cfg = rd.config()
    cfg.learning_rate, cfg.max_steps, cfg.debug_sleep_per_step = 1e-3, 12, 0.5
    ch = compare(rd, cfg)
    assert ch.applied == {"learning_rate": (2e-4, 1e-3), "max_steps": (-1, 12)} and ch.refusal() is None
    cfg.model, cfg.rank = "/other", 8
    assert compare(rd, cfg).refusal().startswith("model changed since the run started ('/m' → '/other') "
                                                 "(and rank): start a new run")
    time.sleep(0.01)
    data.write_text('{"text": "b"}\n{"text": "c"}\n')
    (w,) = compare(rd).warnings
    assert "changed since the run started" in w and "splits the data as it is now" in w
    rd.split_file("train").parent.mkdir()
    rd.split_file("train").write_text('{"text": "a"}\n')
    assert "trains on the split made when the run started" in compare(rd).warnings[0]
    # the CLI refuses in one line before anything starts
    cfg = rd.config()
    cfg.method = "full"
    rd.config_path.write_text(cfg.to_yaml())
    rd.write_status(state="stopped")
    res = cli("train", "--resume", str(rd.path))
    assert res.returncode == 2 and "method changed since the run started ('lora' → 'full')" in res.stderr
    assert "Traceback" not in res.stderr
    d = diagnose("ConfigChanged: method changed since the run started ('lora' → 'full'): start a new run")
    assert d.kind == "config_changed" and "method changed" in d.summary


# ---- item 6: GRPO rewards ------------------------------------------------------------------------------------------
def test_reward_guard_names_nan_and_hanging_rewards(tmp_path):
    pytest.importorskip("torch")  # train/ is importable only where the trainer's stack is installed
    from ftwizard.train.rewards import RewardFailure, resolve_rewards

    user = tmp_path / "r.py"
    user.write_text("import time\n"
                    "def nan_reward(completions, **kw):\n    return [float('nan')] * len(completions)\n"
                    "def slow_reward(completions, **kw):\n    time.sleep(30)\n    return [1.0] * len(completions)\n"
                    "def skip_reward(completions, **kw):\n    return [None, 1.0]\n")
    nan_fn, slow_fn, skip_fn = resolve_rewards([f"{user}:nan_reward", f"{user}:slow_reward", f"{user}:skip_reward"],
                                               timeout_s=1)
    state = types.SimpleNamespace(global_step=5)
    with pytest.raises(RewardFailure, match=r"r\.py:nan_reward returned nan for 2 of 2 completions at step 5"):
        nan_fn(prompts=["a", "b"], completions=["x", "y"], trainer_state=state)
    t = time.time()
    with pytest.raises(RewardFailure, match=r"r\.py:slow_reward took longer than 1 s"):
        slow_fn(prompts=["a"], completions=["x"])
    assert time.time() - t < 5
    assert skip_fn(prompts=["a", "b"], completions=["x", "y"]) == [None, 1.0]  # None: skip, as TRL reads it
    assert nan_fn.__name__ == "nan_reward"  # TRL logs rewards/<name>/mean
    d = diagnose(f"RewardFailure: the reward {user}:nan_reward returned nan for 2 of 2 completions at step 5")
    assert d.kind == "bad_reward" and "nan_reward returned nan" in d.summary and "finite" in d.fix
    d = diagnose("RewardFailure: the reward r.py:slow_reward took longer than 60 s", {"grpo_reward_timeout": 60.0})
    assert d.kind == "bad_reward" and "grpo_reward_timeout (now 60.0 s)" in d.fix


def test_status_json_only_takes_the_fields_of_its_schema(tmp_path) -> None:
    """`events.Status` is the schema of status.json: a key it does not name is a bug, caught at the write."""
    rd = RunDir(tmp_path / "r").create(RunConfig())
    rd.write_status(state="running", host="here", last_step=3)
    with pytest.raises(ValueError, match="no field"):
        rd.write_status(progress=0.5)
    assert rd.status()["last_step"] == 3 and "progress" not in rd.status()
