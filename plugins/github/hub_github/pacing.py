"""What one GitHub token may ask, and when: its secondary limits and what is left of its hour.

GitHub's secondary limits (docs.github.com, "Rate limits for the REST API"): no more than 100
concurrent requests; no more than 900 points a minute (a GET costs 1, a write 5); no more than
about 90 seconds of response time a minute; content creation (issues, comments) no faster than
about one a second. Its primary limit is the hour's allowance a response's
``x-ratelimit-remaining`` counts down to ``x-ratelimit-reset``.

Every request goes through the token's :class:`Budget` (hub_github.client): it waits for a free
slot and for room in the minute, and once the hour's allowance is down to a reserve it raises
RetryLater until the reset, so a burst of enrichment never spends what the issue mirror and
the people using the token need. Writes are also paced (:class:`Pacer`, hub_github.issues).
Per process: several hub processes each keep their own budget, and the rare 403 that still
comes is waited out (hub_github.client.rate_limit_retry).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from typing import Callable
from weakref import WeakKeyDictionary

from hub import RetryLater

__all__ = ["Budget", "Pacer", "WRITES", "budget_for", "header_int", "token_key"]

#: GitHub's secondary limits, as published.
MAX_CONCURRENT = 100
POINTS_PER_MINUTE = 900
RESPONSE_SECONDS_PER_MINUTE = 90.0
#: Points of a request: GET (and HEAD, OPTIONS) 1, anything that writes 5.
READ_POINTS, WRITE_POINTS = 1, 5
#: Requests of the hour kept for the mirror's writes and the token's other users.
PRIMARY_RESERVE = 100
_MINUTE = 60.0


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


class Budget:
    """One token's requests: at most ``concurrent`` at once, ``points_per_minute`` points and
    ``response_seconds_per_minute`` seconds of answers in any minute, and RetryLater once the
    hour's allowance is down to ``reserve``."""

    def __init__(self, concurrent: int = MAX_CONCURRENT, *, points_per_minute: int = POINTS_PER_MINUTE,
                 response_seconds_per_minute: float = RESPONSE_SECONDS_PER_MINUTE, reserve: int = PRIMARY_RESERVE,
                 clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time) -> None:
        self.concurrent = min(concurrent, MAX_CONCURRENT)
        self.points_per_minute = points_per_minute
        self.response_seconds_per_minute = response_seconds_per_minute
        self.reserve = reserve
        self._clock = clock
        self._wall = wall
        self._changed = asyncio.Condition()
        self.in_flight = 0
        self._points: deque[tuple[float, int]] = deque()
        self._seconds: deque[tuple[float, float]] = deque()
        self.remaining: int | None = None
        self.reset_at: float | None = None

    @asynccontextmanager
    async def request(self, points: int = READ_POINTS) -> AsyncIterator[None]:
        """Hold a slot for one request of ``points``; raise RetryLater while the hour is spent."""
        self._check_primary()
        async with self._changed:
            while (delay := self.wait_needed(points)) != 0:
                try:  # woken by a request ending, or when the minute's oldest entry expires
                    await asyncio.wait_for(self._changed.wait(), delay if delay > 0 else None)
                except asyncio.TimeoutError:
                    pass
            self.in_flight += 1
            self._points.append((self._clock(), points))
        started = self._clock()
        try:
            yield
        finally:
            async with self._changed:
                self.in_flight -= 1
                self._seconds.append((self._clock(), self._clock() - started))
                self._changed.notify_all()

    def note(self, headers: Mapping[str, str]) -> None:
        """Read the primary limit from a response's ``x-ratelimit-remaining`` and ``-reset``."""
        remaining, reset = header_int(headers.get("x-ratelimit-remaining")), header_int(headers.get("x-ratelimit-reset"))
        if remaining is not None and reset is not None:
            # Answers arrive out of order: within one reset period the lowest count is the latest.
            if self.reset_at != reset or self.remaining is None or remaining < self.remaining:
                self.remaining, self.reset_at = remaining, float(reset)

    def _check_primary(self) -> None:
        if self.remaining is None or self.reset_at is None or self.remaining > self.reserve:
            return
        if self._wall() >= self.reset_at:
            self.remaining = None  # a new hour
            return
        until = datetime.fromtimestamp(self.reset_at, timezone.utc)
        raise RetryLater(f"GitHub rate limit nearly spent ({self.remaining} requests left, "
                         f"{self.reserve} kept in reserve) until {until:%Y-%m-%dT%H:%M:%SZ}", until=until)

    def wait_needed(self, points: int = READ_POINTS) -> float:
        """0 when a request may start now; else seconds until the minute has room (-1: until a
        request ends)."""
        now = self._clock()
        for window in (self._points, self._seconds):
            while window and window[0][0] <= now - _MINUTE:
                window.popleft()
        if self.in_flight >= self.concurrent:
            return -1
        waits = []
        if self._points and sum(p for _, p in self._points) + points > self.points_per_minute:
            waits.append(self._points[0][0] + _MINUTE - now)
        if self._seconds and sum(s for _, s in self._seconds) >= self.response_seconds_per_minute:
            waits.append(self._seconds[0][0] + _MINUTE - now)
        return max(waits, default=0) or 0


#: Per event loop (asyncio's waiting primitives belong to one): the budgets of each token.
_BUDGETS: WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, str], Budget]] = WeakKeyDictionary()


def token_key(api_url: str, token: str) -> tuple[str, str]:
    """What identifies a token's limits without keeping the token: the API and the token's hash."""
    return api_url, hashlib.sha256(token.encode()).hexdigest()


def budget_for(key: tuple[str, str], concurrent: int) -> Budget:
    """The process's budget of one token (its :func:`token_key`): GitHub's limits are per token."""
    budgets = _BUDGETS.setdefault(asyncio.get_running_loop(), {})
    budget = budgets.get(key)
    if budget is None or budget.concurrent != min(concurrent, MAX_CONCURRENT):
        budget = budgets[key] = Budget(concurrent)
    return budget


def header_int(value: str | None) -> int | None:
    """A header's integer value (``retry-after``, ``x-ratelimit-*``); None when absent or not one."""
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
