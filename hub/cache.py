"""A key-value cache shared by every hub process (rows of ``hub_cache``), offered to plugins.

Plugins use it for what never changes (GitHub commits by sha) and for conditional requests
(ETags): a restart or another process reuses what one process fetched.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Protocol

__all__ = ["Cache", "MemoryCache"]


class Cache(Protocol):
    """What a plugin may do with the cache. Values must be JSON-serialisable."""

    async def get(self, namespace: str, key: str) -> Any | None:
        """Return the stored value, or None when absent or expired."""

    async def set(self, namespace: str, key: str, value: Any, ttl_seconds: float | None = None) -> None:
        """Store ``value`` (replacing any earlier one); ``ttl_seconds`` None keeps it forever."""


class MemoryCache:
    """An in-process Cache, for tests and for plugins exercised without a database."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._items: dict[tuple[str, str], tuple[Any, float | None]] = {}
        self._clock = clock

    async def get(self, namespace: str, key: str) -> Any | None:
        """Return the stored value, or None when absent or expired."""
        item = self._items.get((namespace, key))
        if item is None:
            return None
        value, expires = item
        if expires is not None and expires <= self._clock():
            del self._items[(namespace, key)]
            return None
        return value

    async def set(self, namespace: str, key: str, value: Any, ttl_seconds: float | None = None) -> None:
        """Store ``value``; ``ttl_seconds`` None keeps it forever."""
        expires = None if ttl_seconds is None else self._clock() + ttl_seconds
        self._items[(namespace, key)] = (value, expires)
