"""The fault suite (`pytest -m faults`): every fault ends with the run resumable by `ftwizard train --resume RUN`,
no manual repair, nothing written lost.

The unit part checks the pieces on files (checkpoint validation, the lock, pid identity, diagnosis spellings,
reconcile, resume dedupe, writes on a full disk); the slow part drives the real trainer subprocess on the tiny
model: kill -9 and corrupt checkpoints, a second trainer on the same run, a disk that fills up (a small tmpfs).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import struct
import subprocess
import sys
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from ftwizard.core.run import lock
from ftwizard.core.run.config import RunConfig
from ftwizard.core.run.diagnosis import diagnose
from ftwizard.core.run.launcher import launch, reconcile, stop_run, wait
from ftwizard.core.run.layout import RunDir
from ftwizard.core.run.state import RunState, one_value_per_step, summarize_run
from ftwizard.train.checkpoints import checkpoint_problem, choose_checkpoint
from tests.helpers import wait_for

pytestmark = pytest.mark.faults


# ---- helpers -------------------------------------------------------------------------------------------------------
def cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ftwizard", *args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def no_traceback(res: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in res.stdout + res.stderr, res.stdout + res.stderr


def safetensors_bytes(n: int = 4) -> bytes:
    header = json.dumps({"w": {"dtype": "F32", "shape": [n], "data_offsets": [0, 4 * n]}}).encode()
    return struct.pack("<Q", len(header)) + header + b"\0" * (4 * n)


def fake_checkpoint(root: Path, step: int) -> Path:
    ck = root / f"checkpoint-{step}"
    ck.mkdir(parents=True)
    (ck / "adapter_model.safetensors").write_bytes(safetensors_bytes())
    (ck / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    with zipfile.ZipFile(ck / "optimizer.pt", "w") as zf:
        zf.writestr("data.pkl", b"x" * 100)
    return ck


def sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


@contextlib.contextmanager
def tmpfs(path: Path, size: str):
    path.mkdir(parents=True, exist_ok=True)
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    if res.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root): " + res.stderr.decode(errors="replace").strip())
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def fill_disk(where: Path) -> Path:
    """Write a ballast file until the filesystem says ENOSPC."""
    ballast = where / "ballast.bin"
    with open(ballast, "wb", buffering=0) as fh:
        for chunk in (1 << 20, 1 << 16, 4096, 512, 1):
            with contextlib.suppress(OSError):
                while True:
                    fh.write(b"\0" * chunk)
    return ballast


# ---- unit: checkpoints -----------------------------------------------------------------------------------------------
def test_checkpoint_validation_names_each_problem(tmp_path):
    good = fake_checkpoint(tmp_path, 3)
    assert checkpoint_problem(good) is None
    trunc = fake_checkpoint(tmp_path, 4)
    data = (trunc / "adapter_model.safetensors").read_bytes()
    (trunc / "adapter_model.safetensors").write_bytes(data[:-5])
    assert "truncated" in checkpoint_problem(trunc)
    (trunc / "adapter_model.safetensors").write_bytes(data[:6])
    assert "truncated" in checkpoint_problem(trunc)
    no_state = fake_checkpoint(tmp_path, 5)
    (no_state / "trainer_state.json").unlink()
    assert "trainer_state.json is missing" in checkpoint_problem(no_state)
    bad_state = fake_checkpoint(tmp_path, 6)
    (bad_state / "trainer_state.json").write_text('{"global_st')
    assert "not valid JSON" in checkpoint_problem(bad_state)
    no_weights = fake_checkpoint(tmp_path, 7)
    (no_weights / "adapter_model.safetensors").unlink()
    assert "no weights" in checkpoint_problem(no_weights)
    bad_optim = fake_checkpoint(tmp_path, 8)
    (bad_optim / "optimizer.pt").write_bytes((bad_optim / "optimizer.pt").read_bytes()[:40])
    assert "optimizer.pt" in checkpoint_problem(bad_optim)
    garbage = fake_checkpoint(tmp_path, 9)
    (garbage / "adapter_model.safetensors").write_bytes(struct.pack("<Q", 10) + b"not json!!" + b"\0" * 8)
    assert "corrupt header" in checkpoint_problem(garbage)


def test_choose_checkpoint_falls_back_and_moves_bad_ones_aside(tmp_path):
    rd = RunDir(tmp_path / "run")
    fake_checkpoint(rd.checkpoints, 3)
    fake_checkpoint(rd.checkpoints, 6)
    (rd.checkpoints / "checkpoint-6" / "trainer_state.json").unlink()
    seven = fake_checkpoint(rd.checkpoints, 7)
    (seven / "adapter_model.safetensors").write_bytes(b"\1\0")
    events: list[dict] = []
    ck = choose_checkpoint(rd, emit=events.append)
    assert ck == rd.checkpoints / "checkpoint-3" and rd.last_checkpoint() == ck
    assert [(e["step"], Path(e["path"]).name) for e in events] == [(7, "checkpoint-7"), (6, "checkpoint-6")]
    assert "truncated" in events[0]["message"] and "trainer_state.json" in events[1]["message"]
    assert sorted(p.name for p in rd.bad_checkpoints.iterdir()) == ["checkpoint-6", "checkpoint-7"]  # kept
    assert (rd.bad_checkpoints / "checkpoint-7" / "adapter_model.safetensors").read_bytes() == b"\1\0"


# ---- unit: lock, pid identity -----------------------------------------------------------------------------------------
def test_lock_refuses_a_live_holder_and_ignores_stale_ones(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    rd = RunDir(run)
    code = f"import time; from ftwizard.core.run import lock; lock.acquire({str(run)!r}); print('ok', flush=True); time.sleep(60)"
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "ok"
        assert lock.holder(run).pid == p.pid
        with pytest.raises(lock.RunLocked, match=f"pid {p.pid}"):
            lock.acquire(run)
        with pytest.raises(lock.RunLocked):
            lock.check_free(run)
    finally:
        p.kill()
        p.wait()
    assert lock.holder(run) is None  # the holder died (kill -9): its lock is gone with it, the file stays
    rd.lock_path.write_text(json.dumps({"pid": dead_pid(), "started": 1.0}))  # a stale lock file
    lock.check_free(run)
    lock.acquire(run)
    assert json.loads(rd.lock_path.read_text())["pid"] == os.getpid() and lock.holder(run).pid == os.getpid()
    lock.release(run)
    assert lock.holder(run) is None


def test_stop_signals_only_this_runs_trainer(tmp_path):
    rd = RunDir(tmp_path / "run").create(RunConfig())
    p = sleeper()
    try:
        started = lock.process_start(p.pid)
        rd.write_status(state="done", pid=p.pid, pid_started=started)  # a finished run whose pid was reused
        ok, line = stop_run(rd.path)
        assert not ok and "not running" in line
        rd.write_status(state="running", pid=p.pid, pid_started=started - 100)  # stale status, another process
        ok, line = stop_run(rd.path)
        assert not ok and f"pid {p.pid} now belongs to another process" in line
        assert p.poll() is None  # left alone
        res = cli("stop", str(rd.path))
        assert res.returncode == 1 and "another process" in res.stdout and p.poll() is None
        rd.write_status(state="running", pid=p.pid, pid_started=started)  # really the trainer
        ok, _ = stop_run(rd.path)
        assert ok and p.wait(timeout=10) == -signal.SIGTERM
    finally:
        if p.poll() is None:
            p.kill()


# ---- unit: diagnosis, reconcile ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("text", [
    "OSError: [Errno 28] No space left on device: '/r/checkpoints/checkpoint-6'",
    "RuntimeError: [enforce fail at inline_container.cc:626] . unexpected pos 2368 vs 2262",
    "RuntimeError: [enforce fail at inline_container.cc:778] . PytorchStreamWriter failed writing file data/3: "
    "file write failed",
    'SafetensorError: Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: "No space left on '
    'device" })',
])
def test_every_spelling_of_enospc_is_disk_full(text):
    assert diagnose(text).kind == "disk_full"


def test_reconcile_records_exit_code_and_end(tmp_path):
    rd = RunDir(tmp_path / "run").create(RunConfig())
    rd.write_status(state="running", pid=dead_pid(), stop_signal="SIGTERM")
    st = reconcile(rd.path, 1)
    assert st["state"] == "failed" and st["exit_code"] == 1 and st["ended"]
    assert st["diagnosis"]["kind"] != "killed" and "code 1" in st["diagnosis"]["summary"]
    rd.write_status(state="running")
    rd.stdout_path.write_text("...\nRuntimeError: unexpected pos 2368 vs 2262\n")
    assert reconcile(rd.path, 1)["diagnosis"]["kind"] == "disk_full"
    rd.write_status(state="running")
    st = reconcile(rd.path, -9)
    assert st["diagnosis"]["kind"] == "killed" and st["exit_code"] == -9


# ---- unit: one value per step after a resume ----------------------------------------------------------------------------
def _log(step: int, loss: float) -> dict:
    return {"type": "log", "step": step, "loss": loss, "learning_rate": 1e-3, "grad_norm": 1.0, "time": float(step)}


def test_resume_event_drops_values_logged_after_the_checkpoint(tmp_path):
    evs = [_log(s, 10 - s) for s in range(1, 8)] + [{"type": "eval", "step": 6, "eval_loss": 0.1, "time": 6.5}]
    evs += [{"type": "resume", "from_step": 4, "checkpoint": "c/checkpoint-4", "time": 9.0}]
    evs += [_log(s, 5 - s / 10) for s in range(5, 9)] + [{"type": "eval", "step": 8, "eval_loss": 0.5, "time": 20.0}]
    st = RunState()
    st.add_many(evs)
    assert list(st.loss.xs) == [1, 2, 3, 4, 5, 6, 7, 8]
    assert st.loss.ys[4] == pytest.approx(4.5) and list(st.eval_loss.ys) == [0.5] and st.step == 8
    rd = RunDir(tmp_path / "run").create(RunConfig())
    rd.events_path.write_text("".join(json.dumps(e) + "\n" for e in evs))
    assert summarize_run(rd.path).best_eval == 0.5  # the 0.1 was logged past the checkpoint, then replayed
    kept = one_value_per_step(evs)
    assert [e["step"] for e in kept if e["type"] == "log"] == list(range(1, 9))
    assert [e["eval_loss"] for e in kept if e["type"] == "eval"] == [0.5]


# ---- unit: writes on a full disk ---------------------------------------------------------------------------------------
def test_status_and_events_survive_a_full_disk(tmp_path):
    with tmpfs(tmp_path / "small", "1m") as disk:
        rd = RunDir(disk / "run")
        rd.path.mkdir()
        rd.write_status(state="running", pid=1, last_step=5)
        rd.append_event({"type": "log", "step": 5, "loss": 1.0})
        fill_disk(disk)
        with pytest.raises(OSError):
            rd.write_status(state="failed", command=["x" * 8000])  # the atomic write needs a new block: refused
        assert rd.status()["last_step"] == 5 and not list(rd.path.glob("status.json*.tmp"))
        st = rd.try_write_status(state="failed", diagnosis={"kind": "disk_full", "detail": "y" * 5000})
        assert st["state"] == "failed" and rd.status()["state"] == "failed"  # rewritten in its own block
        assert rd.try_append_event({"type": "failed", "message": "z" * 10000}) is False
        assert all(json.loads(line) for line in rd.events_path.read_text().splitlines())  # no half line


# ---- subprocess: the tiny model ----------------------------------------------------------------------------------------
def tiny_cfg(tiny, **kw) -> RunConfig:
    model, data = tiny
    base = dict(model=str(model), data=str(data), method="lora", rank=4, alpha=8, max_seq_length=48, micro_batch=8,
                gradient_accumulation=1, learning_rate=2e-3, epochs=1, max_steps=40, logging_steps=1, eval_steps=100,
                save_steps=3, preflight_steps=0)
    base.update(kw)
    return RunConfig(**base)


def set_config(rd: RunDir, **kw) -> None:
    rd.config_path.write_text(replace(rd.config(), **kw).to_yaml(), encoding="utf-8")


def log_steps(rd: RunDir) -> list[int]:
    return [e["step"] for e in rd.read_events() if e["type"] == "log" and "loss" in e]


def complete(rd: RunDir, step: int) -> bool:
    return (rd.checkpoints / f"checkpoint-{step}" / "trainer_state.json").exists()


@pytest.mark.slow
def test_kill9_and_corrupt_checkpoints_then_resume_once_per_step(tmp_path, tiny):
    """kill -9 after checkpoint-6 + more steps; checkpoint-6 truncated, a partial checkpoint-7 (killed mid-save):
    resume skips both (moved aside, with events), continues from checkpoint-3, and every step is logged once."""
    rd = RunDir(tmp_path / "run").create(tiny_cfg(tiny, debug_sleep_per_step=0.25))
    proc = launch(rd.path)
    assert wait_for(lambda: complete(rd, 6) and max(log_steps(rd) or [0]) >= 8), (rd.stdout_path.read_text()[-3000:])
    proc.send_signal(signal.SIGKILL)
    st = wait(proc, rd.path)
    assert st["state"] == "failed" and st["diagnosis"]["kind"] == "killed" and st["exit_code"] == -9 and st["ended"]
    assert not lock.holder(rd.path)  # the dead trainer's lock does not block
    weights = rd.checkpoints / "checkpoint-6" / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    partial = rd.checkpoints / "checkpoint-7"
    partial.mkdir()
    (partial / "adapter_model.safetensors").write_bytes(weights.read_bytes()[:100])
    set_config(rd, max_steps=12, debug_sleep_per_step=0.0)
    res = cli("train", "--resume", str(rd.path))
    no_traceback(res)
    assert res.returncode == 0, res.stdout[-3000:] + rd.stdout_path.read_text()[-3000:]
    assert "skipped checkpoint" in res.stdout
    evs = rd.read_events()
    skipped = [e for e in evs if e["type"] == "checkpoint_skipped"]
    assert [Path(e["checkpoint"]).name for e in skipped] == ["checkpoint-7", "checkpoint-6"]
    assert "trainer_state.json is missing" in skipped[0]["message"] and "truncated" in skipped[1]["message"]
    assert {p.name for p in rd.bad_checkpoints.iterdir()} == {"checkpoint-6", "checkpoint-7"}
    resume = [e for e in evs if e["type"] == "resume"]
    assert resume[-1]["from_step"] == 3 and resume[-1]["checkpoint"].endswith("checkpoint-3")
    steps = log_steps(rd)
    assert len(steps) > len(set(steps))  # the raw log holds steps 4..8 twice …
    state = RunState()
    state.add_many(evs)
    assert list(state.loss.xs) == list(range(1, 13))  # … the readers see each step once
    st = rd.status()
    assert st["state"] == "done" and st["stop_signal"] is None and st["exit_code"] == 0 and st["ended"]
    # a finished run is not resumed: the CLI says so, and so does the trainer itself (nothing trained, status kept)
    n = len(rd.read_events())
    res = cli("train", "--resume", str(rd.path))
    assert res.returncode == 2 and "finished" in res.stderr
    no_traceback(res)
    direct = subprocess.run([sys.executable, "-m", "ftwizard.train", str(rd.path), "--resume"], capture_output=True,
                            text=True, timeout=300)
    assert direct.returncode == 4 and "finished" in direct.stdout
    assert len(rd.read_events()) == n and rd.status()["state"] == "done"


@pytest.mark.slow
def test_second_trainer_on_a_running_run_is_refused(tmp_path, tiny):
    rd = RunDir(tmp_path / "run").create(tiny_cfg(tiny, max_steps=400, debug_sleep_per_step=0.3))
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(rd.config().to_yaml())
    proc = launch(rd.path)
    try:
        assert wait_for(lambda: rd.status().get("state") == "running"), rd.stdout_path.read_text()[-3000:]
        pid = rd.status()["pid"]
        for res in (cli("train", "--resume", str(rd.path)), cli("train", str(cfg_file), "--out", str(rd.path))):
            assert res.returncode == 2 and f"pid {pid}" in res.stderr, res.stderr
            no_traceback(res)
        # past the CLI (a race, or by hand): the trainer itself refuses and touches nothing
        before = rd.status()
        direct = subprocess.run([sys.executable, "-m", "ftwizard.train", str(rd.path), "--resume"], capture_output=True,
                                text=True, timeout=300)
        assert direct.returncode == 3 and f"pid {pid}" in direct.stdout
        after = rd.status()
        assert after["pid"] == pid == before["pid"] and after["state"] == "running"
        res = cli("stop", str(rd.path))
        assert res.returncode == 0 and "stop requested" in res.stdout
        st = wait(proc, rd.path)
        assert st["state"] == "stopped" and st["exit_code"] == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert lock.holder(rd.path) is None  # released on exit
    rd.lock_path.write_text(json.dumps({"pid": dead_pid(), "started": 1.0}))  # a stale lock (dead trainer)
    set_config(rd, max_steps=rd.status()["last_step"] + 2, debug_sleep_per_step=0.0)
    res = cli("train", "--resume", str(rd.path))
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr
    assert rd.status()["state"] == "done" and rd.status()["stop_signal"] is None


@pytest.mark.slow
def test_disk_full_mid_run_is_diagnosed_and_resumable(tmp_path, tiny):
    """A real full disk (a tmpfs): the failure is named with the space a checkpoint needs, status.json stays valid,
    every CLI answer is one line, and after freeing space the run resumes (the partial checkpoint set aside)."""
    with tmpfs(tmp_path / "disk", "24m") as disk:
        rd = RunDir(disk / "run").create(tiny_cfg(tiny, debug_sleep_per_step=0.3))
        proc = launch(rd.path)
        assert wait_for(lambda: complete(rd, 3)), rd.stdout_path.read_text()[-3000:]
        ballast = fill_disk(disk)
        st = wait(proc, rd.path)
        assert proc.returncode == 1
        assert st["state"] == "failed" and st["diagnosis"]["kind"] == "disk_full", st
        assert "A checkpoint needs about" in st["diagnosis"]["fix"]
        assert rd.status()["state"] == "failed" and not list(rd.path.glob("status.json*.tmp"))
        assert all(isinstance(json.loads(line), dict) for line in rd.events_path.read_text().splitlines())
        res = cli("monitor", str(rd.path), "--once")
        no_traceback(res)
        assert res.returncode == 0 and "disk_full" in res.stdout
        res = cli("train", "--resume", str(rd.path))  # still full: refused before launch, in one line
        no_traceback(res)
        assert res.returncode == 2 and "the disk is still full where the run is" in res.stderr, res.stdout + res.stderr
        assert rd.status()["state"] == "failed"
        new_cfg = tmp_path / "c.yaml"
        new_cfg.write_text(tiny_cfg(tiny).to_yaml())
        res = cli("train", str(new_cfg), "--out", str(disk / "run2"))  # a new run on the full disk
        no_traceback(res)
        assert res.returncode == 2 and "disk is full" in res.stderr, res.stderr
        assert not (disk / "run2").exists()  # no half-made run left behind: a retry will work
        ballast.unlink()
        set_config(rd, max_steps=8, debug_sleep_per_step=0.0)
        res = cli("train", "--resume", str(rd.path))
        assert res.returncode == 0, res.stdout[-3000:] + rd.stdout_path.read_text()[-3000:]
        assert rd.status()["state"] == "done" and rd.adapter.exists()
        assert "resuming " in res.stdout and "failed" not in res.stdout, res.stdout  # the old failure is not replayed
        state = RunState()
        state.add_many(rd.read_events())
        assert list(state.loss.xs) == list(range(1, 9))


@pytest.mark.slow
def test_what_slips_past_preflight_is_named(tmp_path, tiny):
    """Launched without the CLI's checks: a dataset deleted after the launch is `bad_data`, a model folder with
    only config.json is `bad_model` — never "unexpected error, resume from checkpoints"."""
    data = tmp_path / "dates.jsonl"
    data.write_bytes(Path(tiny[1]).read_bytes())
    rd = RunDir(tmp_path / "gone").create(tiny_cfg(tiny, data=str(data)))
    data.unlink()
    st = wait(launch(rd.path), rd.path)
    assert st["state"] == "failed" and st["diagnosis"]["kind"] == "bad_data", st
    only_cfg = tmp_path / "only-config"
    only_cfg.mkdir()
    (only_cfg / "config.json").write_bytes((Path(tiny[0]) / "config.json").read_bytes())
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (only_cfg / name).write_bytes((Path(tiny[0]) / name).read_bytes())
    rd = RunDir(tmp_path / "nomodel").create(tiny_cfg(tiny, model=str(only_cfg)))
    st = wait(launch(rd.path), rd.path)
    assert st["state"] == "failed" and st["diagnosis"]["kind"] == "bad_model", st


def test_reconcile_sees_through_a_reused_pid(tmp_path):
    """status.json says running with a pid that now belongs to another process: the run is over, not alive."""
    rd = RunDir(tmp_path / "run").create(RunConfig())
    p = sleeper()
    try:
        rd.write_status(state="running", pid=p.pid, pid_started=lock.process_start(p.pid) - 100)
        assert reconcile(rd.path)["state"] == "failed"
        rd.write_status(state="running", pid=p.pid, pid_started=lock.process_start(p.pid))
        assert reconcile(rd.path)["state"] == "running"
    finally:
        p.kill()
        p.wait()


# ---- issue 24: stalls, honest resumes, reward faults ---------------------------------------------------------------
@pytest.mark.slow
def test_a_stalled_trainer_is_named_and_stop_kills_it(tmp_path, tiny):
    """A SIGSTOPped trainer (alive, no progress): `monitor --once` and the runs list say "stalled for N s", `ftwizard
    stop` sends SIGTERM, waits, then kills the process group and says so; the run resumes from its checkpoint."""
    import time

    rd = RunDir(tmp_path / "run").create(tiny_cfg(tiny, max_steps=400, debug_sleep_per_step=0.2))
    proc = launch(rd.path)
    try:
        assert wait_for(lambda: complete(rd, 3) and max(log_steps(rd) or [0]) >= 5), rd.stdout_path.read_text()[-3000:]
        hb = json.loads(rd.heartbeat_path.read_text())
        assert hb["pid"] == proc.pid and hb["phase"] == "training" and 0 < hb["step_s"] < 5
        env = {**os.environ, "FTWIZARD_STALL_S": "1"}
        os.kill(proc.pid, signal.SIGSTOP)
        time.sleep(4)
        res = subprocess.run([sys.executable, "-m", "ftwizard", "monitor", str(rd.path), "--once"], env=env,
                             capture_output=True, text=True, timeout=120)
        out = json.loads(res.stdout)
        assert out["state"] == "running" and out["liveness"].startswith("stalled for "), out
        assert "(no progress, process alive)" in out["liveness"]
        os.environ["FTWIZARD_STALL_S"] = "1"
        try:
            assert "stalled for" in (summarize_run(rd.path).liveness or "")
        finally:
            del os.environ["FTWIZARD_STALL_S"]
        res = cli("stop", str(rd.path), "--wait", "3")
        no_traceback(res)
        assert res.returncode == 0 and "killing the trainer's process group (SIGKILL)" in res.stdout, res.stdout
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)
            proc.kill()
            proc.wait()
    st = wait(proc, rd.path)
    assert st["state"] == "failed" and st["diagnosis"]["kind"] == "killed" and st["stop_signal"] == "SIGKILL"
    last = int(rd.last_checkpoint().name.split("-")[-1])
    set_config(rd, max_steps=last + 2, debug_sleep_per_step=0.0)
    res = cli("train", "--resume", str(rd.path))
    assert res.returncode == 0, res.stdout[-3000:] + rd.stdout_path.read_text()[-3000:]
    state = RunState()
    state.add_many(rd.read_events())
    assert list(state.loss.xs) == list(range(1, last + 3)) and rd.status()["state"] == "done"


def test_stop_while_loading_stops_at_once_and_resumes(tmp_path, tiny):
    """`ftwizard stop --wait 1` while the trainer loads the model or runs the preflight: the trainer ends at once as
    `stopped` (nothing was trained, nothing to save), not killed as "no progress"; --resume then trains it."""
    rd = RunDir(tmp_path / "run").create(tiny_cfg(tiny, max_steps=4))
    proc = launch(rd.path)
    assert wait_for(lambda: rd.status().get("state") == "starting", timeout=120, interval=0.02)
    res = cli("stop", str(rd.path), "--wait", "1")
    no_traceback(res)
    assert res.returncode == 0 and "stopped before training began (nothing to save)" in res.stdout, res.stdout
    assert "SIGKILL" not in res.stdout and proc.wait(timeout=60) == 0
    st = rd.status()
    assert st["state"] == "stopped" and st.get("diagnosis") is None, st
    assert [e for e in rd.read_events() if e["type"] == "stopped"][0]["before_training"] is True
    res = cli("train", "--resume", str(rd.path))
    assert res.returncode == 0, res.stdout[-3000:] + rd.stdout_path.read_text()[-3000:]
    assert rd.status()["state"] == "done"


@pytest.mark.slow
def test_resume_applies_allowed_edits_for_real_and_refuses_others(tmp_path, tiny):
    """Edits before `--resume`: a new learning rate reaches the optimizer (the logged LR after the resume is the new
    one), new save_steps are used, each is a `config_changed` event; a new LoRA rank is refused in one line; a
    changed data file is a warning; a torn last event line (a kill mid-write) swallows nothing; `train_loss` in the
    `done` event covers the whole run, each step once."""
    import yaml

    from ftwizard.core.run.state import whole_run_loss

    data = tmp_path / "dates.jsonl"
    data.write_bytes(Path(tiny[1]).read_bytes())
    rd = RunDir(tmp_path / "run").create(tiny_cfg(tiny, data=str(data), lr_scheduler="constant", warmup_ratio=0.0,
                                                  max_steps=400, debug_sleep_per_step=0.2))
    proc = launch(rd.path)
    try:
        assert wait_for(lambda: complete(rd, 3) and max(log_steps(rd) or [0]) >= 4), rd.stdout_path.read_text()[-3000:]
        res = cli("stop", str(rd.path))
        assert res.returncode == 0 and "stopped at step" in res.stdout, res.stdout
    finally:
        if proc.poll() is None:
            proc.kill()
    assert wait(proc, rd.path)["state"] == "stopped"
    n = int(rd.last_checkpoint().name.split("-")[-1])
    with open(rd.events_path, "ab") as fh:
        fh.write(b'{"type": "log", "step": 99999, "lo')  # killed mid-write
    set_config(rd, rank=8)
    res = cli("train", "--resume", str(rd.path))
    no_traceback(res)
    assert res.returncode == 2 and "rank changed since the run started (4 → 8)" in res.stderr.replace("\n", " ")
    set_config(rd, rank=4, learning_rate=1e-3, max_steps=n + 5, save_steps=2, debug_sleep_per_step=0.0)
    data.write_text(data.read_text() + data.read_text().splitlines()[0] + "\n")
    res = cli("train", "--resume", str(rd.path))
    no_traceback(res)
    assert res.returncode == 0, res.stdout[-3000:] + rd.stdout_path.read_text()[-3000:]
    assert "config changed on resume" in res.stdout
    evs = rd.read_events()
    i = max(k for k, e in enumerate(evs) if e["type"] == "resume")
    assert evs[i]["from_step"] == n  # parsed whole, right after the torn line
    (changed,) = [e for e in evs if e["type"] == "config_changed"]
    assert changed["changes"]["learning_rate"] == [0.002, 0.001] and changed["changes"]["save_steps"] == [3, 2]
    assert any(e.get("kind") == "data_changed" and "split made when the run started" in e["message"] for e in evs)
    before = {e["learning_rate"] for e in evs[:i] if e["type"] == "log" and "learning_rate" in e}
    after = [e["learning_rate"] for e in evs[i:] if e["type"] == "log" and "learning_rate" in e]
    assert before == {0.002} and after and all(lr == pytest.approx(0.001) for lr in after), (before, after)
    saved = [e["step"] for e in evs[i:] if e["type"] == "checkpoint" and e["step"] < n + 5]
    assert saved and all(s % 2 == 0 for s in saved), saved
    trl = yaml.safe_load(rd.trl_config("sft").read_text())
    assert float(trl["learning_rate"]) == 0.001
    state = RunState()
    state.add_many(evs)
    assert list(state.loss.xs) == list(range(1, n + 6))
    done = [e for e in evs if e["type"] == "done"][-1]
    assert done["train_loss"] == pytest.approx(whole_run_loss(evs)) and "train_loss_segment" in done
    assert json.loads(rd.fingerprint_path.read_text())["config"]["learning_rate"] == 0.001


def _date_prompts(n: int) -> list[dict]:
    from ftwizard.train.tiny import date_examples

    return [{"prompt": r["messages"][:1], "answer": r["messages"][1]["content"]} for r in date_examples(n, seed=4)]


@pytest.mark.slow
@pytest.mark.parametrize("reward, timeout, expect", [
    ("nan_reward", 60.0, "nan_reward returned nan for 4 of 4 completions at step 0"),
    ("stuck_reward", 3.0, "stuck_reward took longer than 3 s at step 0"),
])
def test_grpo_reward_faults_fail_with_the_reward_named(tmp_path, tiny, reward, timeout, expect):
    """A GRPO reward that returns NaN (TRL would read "no score": reward null, loss 0, a run "done" having learned
    nothing) or never returns (the run hung at step 0, beyond SIGTERM) fails the run, naming the function."""
    import time

    user = tmp_path / "my_rewards.py"
    user.write_text("import time\n"
                    "def nan_reward(completions, **kwargs):\n    return [float('nan')] * len(completions)\n"
                    "def stuck_reward(completions, **kwargs):\n    time.sleep(3600)\n    return [0.0] * len(completions)\n")
    data = tmp_path / "prompts.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in _date_prompts(40)))
    rd = RunDir(tmp_path / "run").create(tiny_cfg(tiny, data=str(data), trainer="grpo", micro_batch=4,
                                                  grpo_num_generations=4, grpo_max_completion_length=8, max_steps=3,
                                                  grpo_rewards=[f"{user}:{reward}"], grpo_reward_timeout=timeout))
    t = time.time()
    st = wait(launch(rd.path), rd.path)
    assert st["state"] == "failed" and st["diagnosis"]["kind"] == "bad_reward", st
    assert expect in st["diagnosis"]["summary"] and time.time() - t < 240
    assert not [e for e in rd.read_events() if e["type"] == "log" and "loss" in e]  # no step counted as trained
