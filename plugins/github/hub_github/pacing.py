"""What one GitHub token may ask, and when: its secondary limits and what is left of its hour.

GitHub's secondary limits (docs.github.com, "Rate limits for the REST API"): no more than 100
concurrent requests; no more than 900 points a minute (a GET costs 1, a write 5); no more than
about 90 seconds of response time a minute; content creation (issues, comments) no faster than
about one a second. Its primary limit is the hour's allowance a response's
``x-ratelimit-remaining`` counts down to ``x-ratelimit-reset``.

Every request goes through the token's :class:`Budget` (hub_github.client): it waits for a free
slot and for room in the minute, and once the hour's allowance is down to a reserve it raises
RetryLater until the reset, so a burst of enrichment never spends what the issue mirror and
the people using the token need. Its writes are also paced (the budget's :class:`Pacer`), whoever
makes them: the limits are the token's, so two tokens never wait for each other. Per process:
several hub processes each keep their own budget, and the rare 403 that still comes is waited
out (hub_github.client.rate_limit_retry).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Mapping
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from typing import Callable
from weakref import WeakKeyDictionary

from hub import RetryLater

__all__ = ["Budget", "Pacer", "budget_for", "header_int", "token_key"]

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
    """Lets one write through at a time, each starting at least ``interval`` seconds after the
    previous one ended: GitHub asks for a token's content-creating requests to be made serially,
    with at least a second between them (a write slower than the interval used to overlap the
    next one, whose start was timed from the previous start)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self._clock = clock
        self._sleep = sleep
        self._lock = asyncio.Lock()
        self._last: float | None = None

    @asynccontextmanager
    async def turn(self, interval: float) -> AsyncIterator[None]:
        """Hold the token's only write turn for one write, once ``interval`` seconds have passed
        since the previous write ended."""
        async with self._lock:
            if self._last is not None and interval > 0:
                delay = self._last + interval - self._clock()
                if delay > 0:
                    await self._sleep(delay)
            try:
                yield
            finally:
                self._last = self._clock()


class Budget:
    """One token's requests: at most ``concurrent`` at once, ``points_per_minute`` points and
    ``response_seconds_per_minute`` seconds of answers in any minute, and RetryLater once the
    hour's allowance is down to ``reserve``. Its writes are paced by ``writes``: GitHub limits
    content creation per token, about one a second."""

    def __init__(self, concurrent: int = MAX_CONCURRENT, *, points_per_minute: int = POINTS_PER_MINUTE,
                 response_seconds_per_minute: float = RESPONSE_SECONDS_PER_MINUTE, reserve: int = PRIMARY_RESERVE,
                 clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
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
        self.writes = Pacer(clock, sleep)

    @asynccontextmanager
    async def request(self, points: int = READ_POINTS, *, write_interval: float = 0.0) -> AsyncIterator[None]:
        """Hold a slot for one request of ``points``; raise RetryLater while the hour is spent.

        A write (more than READ_POINTS) holds the token's write turn (``writes``) for its whole
        length, from ``write_interval`` seconds after the previous write ended.
        """
        self._check_primary()
        if points > READ_POINTS:
            # The turn before the slot: a write waiting for its turn must not hold back the reads.
            async with self.writes.turn(write_interval), self._slot(points):
                yield
        else:
            async with self._slot(points):
                yield

    @asynccontextmanager
    async def _slot(self, points: int) -> AsyncIterator[None]:
        """One of the ``concurrent`` slots, within the minute's points, for one request."""
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
    """The process's budget of one token (its :func:`token_key`): GitHub's limits are per token.

    Every caller of a token gets the same budget, so its writes are paced and its hour counted
    wherever they come from; ``concurrent`` (the caller's ``max_concurrent_requests``) becomes
    its limit of requests at once.
    """
    budgets = _BUDGETS.setdefault(asyncio.get_running_loop(), {})
    budget = budgets.get(key)
    if budget is None:
        budget = budgets[key] = Budget(concurrent)
    else:
        # Changed in place, not replaced: a new budget would forget the requests in flight, the
        # hour's count and the last write (two configurations of one token in one process).
        # Waiters for a slot see a raised limit when the next request ends.
        budget.concurrent = min(concurrent, MAX_CONCURRENT)
    return budget


def header_int(value: str | None) -> int | None:
    """A header's integer value (``retry-after``, ``x-ratelimit-*``); None when absent or not one."""
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
