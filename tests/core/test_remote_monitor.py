"""Following a run directory that is synced from another machine (a rented GPU, a cluster node): the run says
where it trains, nothing here judges it by a local pid, and nothing here writes into it."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ftwizard.core.run.config import RunConfig
from ftwizard.core.run.launcher import RunElsewhere, launch, reconcile, stop_run
from ftwizard.core.run.layout import RunDir
from ftwizard.core.run.liveness import liveness, with_liveness
from ftwizard.core.run.lock import elsewhere, this_host

HOST = "gpu-node-7.cluster"


def _synced_run(tmp_path: Path, age: float = 1.0) -> RunDir:
    """What an rsync of a run on HOST leaves here: its status (a pid of that machine), heartbeat and events."""
    rd = RunDir(tmp_path / "run").create(RunConfig(model="/m", data="/d", max_steps=50))
    now = time.time()
    rd.write_status(state="running", pid=999_999_999, pid_started=12345.0, host=HOST, last_step=7, max_steps=50)
    rd.heartbeat_path.write_text(json.dumps({"pid": 999_999_999, "beat": now - age, "progress": now - age,
                                             "step": 7, "step_s": 2.0, "phase": "training"}), encoding="utf-8")
    rd.append_event({"type": "log", "step": 7, "loss": 1.5, "max_steps": 50})
    return rd


def test_host_is_recorded_and_compared() -> None:
    assert elsewhere({"host": this_host()}) is None and elsewhere({}) is None
    assert elsewhere({"host": HOST}) == HOST


def test_a_synced_run_says_where_it_trains_and_is_not_called_dead(tmp_path: Path) -> None:
    rd = _synced_run(tmp_path)
    lv = liveness(rd.path)
    assert lv is not None and lv.kind == "remote"
    assert lv.line.startswith(f"training on {HOST} at step 7 (a synced copy; last news")
    before = rd.status_path.read_bytes()
    st = reconcile(rd.path)  # the local pid is gone, but the run is not here: nothing is diagnosed or written
    assert st["state"] == "running" and rd.status_path.read_bytes() == before
    assert with_liveness(rd.path, st)["liveness_kind"] == "remote"


def test_a_quiet_synced_run_says_the_news_stopped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FTWIZARD_STALL_S", "5")
    rd = _synced_run(tmp_path, age=100.0)
    old = time.time() - 100
    import os

    os.utime(rd.events_path, (old, old))
    rd.write_status(updated=old)
    lv = liveness(rd.path, {**rd.status(), "updated": old})
    assert lv is not None and lv.kind == "remote" and "no news for 1" in lv.line and "has stopped" in lv.line


def test_stop_and_resume_are_refused_here(tmp_path: Path) -> None:
    rd = _synced_run(tmp_path)
    ok, line = stop_run(rd.path)
    assert not ok and f"training on {HOST}, not here" in line
    with pytest.raises(RunElsewhere, match=f"training on {HOST}"):
        launch(rd.path, resume=True)
    assert rd.status()["state"] == "running"


def test_monitor_follows_a_synced_run_to_its_end(tmp_path: Path) -> None:
    """`ftwizard monitor` (not a terminal: the log follow) prints where the run is, the steps as the sync brings
    them, and ends when the synced status says done."""
    rd = _synced_run(tmp_path)

    def sync() -> None:  # what the next rsyncs bring: rsync writes a new file and renames it over the old one
        for step in (8, 9, 10):
            time.sleep(0.4)
            line = json.dumps({"type": "log", "step": step, "loss": 1.5 - step / 100, "max_steps": 50}) + "\n"
            tmp = rd.path / ".events.jsonl.tmp"
            tmp.write_bytes(rd.events_path.read_bytes() + line.encode())
            tmp.replace(rd.events_path)
        rd.write_status(state="done", last_step=10)
        rd.append_event({"type": "done", "step": 10})

    once = subprocess.run([sys.executable, "-m", "ftwizard", "monitor", str(rd.path), "--once"],
                          capture_output=True, text=True, timeout=60)
    assert once.returncode == 0 and f"training on {HOST}" in json.loads(once.stdout)["liveness"]
    t = threading.Thread(target=sync)
    t.start()
    out = subprocess.run([sys.executable, "-m", "ftwizard", "monitor", str(rd.path)], capture_output=True,
                         text=True, timeout=120)
    t.join()
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert text.startswith(f"training on {HOST} at step 7 (a synced copy; last news"), text
    assert "step 10/50" in text
    assert rd.status()["state"] == "done"
