"""Server-side keys every process shares (the CSRF signing key), made once in the database."""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.models import ServerSecret, utcnow

__all__ = ["server_key"]

KEYS = ServerSecret.__table__


async def server_key(engine: AsyncEngine, name: str) -> str:
    """The key called ``name``: the one already stored, else a new random one (first writer wins)."""
    insert = (postgresql if engine.dialect.name == "postgresql" else sqlite).insert
    async with engine.begin() as connection:
        await connection.execute(
            insert(KEYS).values(name=name, value=secrets.token_hex(32), created_at=utcnow())
            .on_conflict_do_nothing(index_elements=["name"]))
        return (await connection.execute(sa.select(KEYS.c.value).where(KEYS.c.name == name))).scalar_one()
