"""Writes to GitHub one at a time, spaced out: a burst of new issues is paced, not blocked.

GitHub's secondary limits count content creation (issues, comments) per token and ask for at
least a second between writes; past them it answers 403 with ``retry-after``, which the client
turns into a RetryLater. Pacing keeps a burst (an alert storm, ``hub github-issues sync``) under
them in the first place. Per process: several hub processes each keep their own pace, and the
rare 403 that still comes is waited out.
"""

from __future__ import annotations

import asyncio
import time
from typing import Callable

__all__ = ["Pacer", "WRITES"]


class Pacer:
    """Lets one write through at a time, at least ``interval`` seconds after the previous one."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = asyncio.Lock()
        self._last: float | None = None

    async def wait(self, interval: float) -> None:
        """Return when the next write may start (call it right before each write)."""
        async with self._lock:
            if self._last is not None and interval > 0:
                delay = self._last + interval - self._clock()
                if delay > 0:
                    await asyncio.sleep(delay)
            self._last = self._clock()


#: The process's pace for writes to GitHub (all repositories share the token's limits).
WRITES = Pacer()
