"""A stand-in for the user's model in the classify cache figure: 30 ms per call, counted."""

from __future__ import annotations

import time
from typing import Any

CALLS: list[str] = []


def slow_model(inputs: dict[str, Any]) -> str:
    CALLS.append(str(inputs))
    time.sleep(0.03)
    return "low"
