"""Small helpers shared by the test modules (fixtures live in conftest.py)."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(pred: Callable[[], object], timeout: float = 240.0, interval: float = 0.2) -> bool:
    """Poll `pred` every `interval` seconds until it is true (True) or `timeout` seconds pass (False)."""
    t = time.time()
    while time.time() - t < timeout:
        if pred():
            return True
        time.sleep(interval)
    return False


async def pilot_wait(pilot: object, cond: Callable[[], object], timeout: float = 10.0) -> None:
    """In a Textual Pilot test: let the app run (0.05 s pauses) until `cond()` is true; AssertionError after
    `timeout` seconds."""
    t = time.monotonic()
    while not cond():
        if time.monotonic() - t > timeout:
            raise AssertionError("condition not reached")
        await pilot.pause(0.05)  # type: ignore[attr-defined]
