"""Login rate limit: failed attempts per account and per address, counted in the database.

In the database so that every process of the hub counts the same failures (a limit per process
would multiply by the number of workers).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Mapping

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.models import LoginAttempt, new_id, utcnow

__all__ = ["clear_failures", "is_limited", "record_failure"]

ATTEMPTS = LoginAttempt.__table__


async def is_limited(engine: AsyncEngine, limits: Mapping[str, int], window_seconds: float) -> bool:
    """Whether any key (``account:alice``, ``address:10.0.0.1``) has reached its limit of failures."""
    since = utcnow() - timedelta(seconds=window_seconds)
    async with engine.connect() as connection:
        for key, limit in limits.items():
            count = (await connection.execute(
                sa.select(sa.func.count()).select_from(ATTEMPTS)
                .where(ATTEMPTS.c.key == key, ATTEMPTS.c.created_at > since))).scalar_one()
            if count >= limit:
                return True
    return False


async def record_failure(engine: AsyncEngine, keys: list[str], window_seconds: float) -> None:
    """Count a failed login against each key (and forget failures older than the window)."""
    now = utcnow()
    async with engine.begin() as connection:
        await connection.execute(sa.delete(ATTEMPTS).where(ATTEMPTS.c.created_at < now - timedelta(seconds=window_seconds)))
        await connection.execute(sa.insert(ATTEMPTS), [{"id": new_id(), "key": key, "created_at": now} for key in keys])


async def clear_failures(engine: AsyncEngine, key: str) -> None:
    """Forget an account's failures after it logged in."""
    async with engine.begin() as connection:
        await connection.execute(sa.delete(ATTEMPTS).where(ATTEMPTS.c.key == key))
