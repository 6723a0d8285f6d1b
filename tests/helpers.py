"""Small helpers shared by the test modules (fixtures live in conftest.py)."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(pred: Callable[[], object], timeout: float = 240.0) -> bool:
    """Poll `pred` every 0.2 s until it is true (True) or `timeout` seconds pass (False)."""
    t = time.time()
    while time.time() - t < timeout:
        if pred():
            return True
        time.sleep(0.2)
    return False
