"""How many events per second the monitor's pipeline keeps up with: EventTail (incremental read) →
RunState (aggregation) → downsample for the plot, while a writer appends as fast as it can.

    python bench/event_ingest.py [--events 200000]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ftwizard.core.run.layout import EventTail  # noqa: E402
from ftwizard.core.run.state import RunState, downsample  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=200_000)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "events.jsonl"
        path.touch()
        n = a.events

        def writer() -> None:
            with open(path, "a", encoding="utf-8") as fh:
                for i in range(n):
                    fh.write(json.dumps({"type": "log", "step": i, "max_steps": n, "loss": 2.0 / (1 + i / 1000),
                                         "learning_rate": 2e-4, "grad_norm": 1.0, "tokens_per_s": 1000.0,
                                         "epoch": i / n, "time": 1000.0 + i * 0.01}) + "\n")
                    if i % 1000 == 0:
                        fh.flush()

        t0 = time.perf_counter()
        th = threading.Thread(target=writer)
        th.start()
        tail, state = EventTail(path), RunState()
        redraws, redraw_s = 0, 0.0
        last_draw = time.perf_counter()
        while th.is_alive() or state.events < n:
            state.add_many(tail.poll())
            now = time.perf_counter()
            if now - last_draw >= 0.5:  # the monitor redraws on a 0.5 s timer
                r0 = time.perf_counter()
                downsample(state.loss.xs, state.loss.ys, 400)
                redraw_s = max(redraw_s, time.perf_counter() - r0)
                redraws += 1
                last_draw = now
        elapsed = time.perf_counter() - t0
        t1 = time.perf_counter()
        xs, _ = downsample(state.loss.xs, state.loss.ys, 400)
        ds = time.perf_counter() - t1
        print(f"{n:,} events ingested in {elapsed:.2f} s = {n / elapsed:,.0f} events/s (writer and reader "
              f"concurrent); downsample {len(state.loss):,} points → {len(xs)} in {ds * 1000:.1f} ms; "
              f"slowest redraw prep {redraw_s * 1000:.1f} ms over {redraws} redraws")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
