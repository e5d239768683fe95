"""A key-value cache shared by every hub process (rows of ``hub_cache``), offered to plugins.

Plugins use it for what never changes (GitHub commits by sha) and for conditional requests
(ETags): a restart or another process reuses what one process fetched.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Callable, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from hub.models import CacheEntry

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["Cache", "DbCache", "MemoryCache"]


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


class DbCache:
    """The Cache of a running hub: rows of ``hub_cache``, shared by every process."""

    def __init__(self, engine: "AsyncEngine", clock: Callable[[], datetime] | None = None) -> None:
        self._engine = engine
        self._clock = clock or (lambda: datetime.now(timezone.utc))

    async def get(self, namespace: str, key: str) -> Any | None:
        """Return the stored value, or None when absent or expired."""
        table = CacheEntry.__table__
        query = sa.select(table.c.value, table.c.expires_at).where(
            table.c.namespace == namespace, table.c.key == key
        )
        async with self._engine.connect() as connection:
            row = (await connection.execute(query)).first()
        if row is None:
            return None
        expires = row.expires_at
        if expires is not None:
            expires = expires if expires.tzinfo else expires.replace(tzinfo=timezone.utc)
            if expires <= self._clock():
                return None
        return row.value

    async def set(self, namespace: str, key: str, value: Any, ttl_seconds: float | None = None) -> None:
        """Store ``value`` (an upsert); ``ttl_seconds`` None keeps it forever."""
        now = self._clock()
        values = {
            "namespace": namespace,
            "key": key,
            "value": value,
            "expires_at": None if ttl_seconds is None else now + timedelta(seconds=ttl_seconds),
            "updated_at": now,
        }
        async with self._engine.begin() as connection:
            module = postgresql if connection.dialect.name == "postgresql" else sqlite
            statement = module.insert(CacheEntry.__table__).values(**values)
            statement = statement.on_conflict_do_update(
                index_elements=["namespace", "key"],
                set_={"value": statement.excluded.value, "expires_at": statement.excluded.expires_at,
                      "updated_at": statement.excluded.updated_at},
            )
            await connection.execute(statement)
