"""Single flight: concurrent callers asking for the same thing share one call.

A burst of new issues from one deploy enriches them together; each asks GitHub for the same
commit list, the same commits, the same deployments. The first caller of a key makes the call;
the others wait for its result (or its exception). Nothing is kept once the call ends: what
lasts is the shared cache's business (hub.Cache: commits by sha, ETags).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

__all__ = ["SingleFlight"]


class SingleFlight:
    """Runs at most one call per key at a time; callers of a key in flight share its outcome."""

    def __init__(self) -> None:
        self._calls: dict[Hashable, asyncio.Future[Any]] = {}
        #: Calls made and calls saved (callers that joined one in flight), for tests and logs.
        self.made = 0
        self.joined = 0

    async def run(self, key: Hashable, call: Callable[[], Awaitable[Any]]) -> Any:
        """``await call()``, unless a call of ``key`` is in flight: then its result."""
        flight = self._calls.get(key)
        if flight is not None:
            self.joined += 1
        else:
            self.made += 1
            # A task of its own: a caller cancelled (its job released at shutdown) must not
            # cancel the call the others wait for.
            flight = asyncio.ensure_future(call())
            self._calls[key] = flight
            flight.add_done_callback(lambda done, key=key: self._landed(key, done))
        # shield: the caller may be cancelled, the call goes on for the others.
        return await asyncio.shield(flight)

    def _landed(self, key: Hashable, done: asyncio.Future[Any]) -> None:
        self._calls.pop(key, None)
        if not done.cancelled():
            done.exception()  # retrieved: every caller may have gone, asyncio must not complain
