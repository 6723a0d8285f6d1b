"""Rows/s of `ftwizard data` on a generated 100k-row OpenAI-chat JSONL (in-process and via the CLI), and of the
duplicate-free split written after it.

    python bench/data_validate.py [--rows 100000]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from ftwizard.core.data.report import analyze, split_and_write  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    n = ap.parse_args().rows
    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "chat.jsonl"
        with path.open("w") as f:
            for i in range(n):
                a, b = rng.randint(0, 999), rng.randint(0, 999)
                f.write(json.dumps({"messages": [
                    {"role": "system", "content": "You are helpful."},
                    {"role": "user", "content": f"Question {i}: what is {a} plus {b}? " * 3},
                    {"role": "assistant", "content": f"The answer is {a + b}. " * 4}]}) + "\n")
        t = time.perf_counter()
        rep = analyze(str(path))
        dt = time.perf_counter() - t
        t = time.perf_counter()
        manifest = split_and_write(rep, Path(d) / "split")
        dt_split = time.perf_counter() - t
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "ftwizard", "data", str(path), "--json"], check=True,
                       capture_output=True)
        dt_cli = time.perf_counter() - t
    print(f"{rep.rows:,} rows: analyze {dt:.2f}s ({rep.rows / dt:,.0f} rows/s); "
          f"CLI end-to-end {dt_cli:.2f}s ({rep.rows / dt_cli:,.0f} rows/s); split with duplicate removal "
          f"{dt_split:.2f}s ({rep.rows / dt_split:,.0f} rows/s, {manifest['duplicates_removed']} removed)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
