"""Login sessions: a random cookie, stored as its digest, deleted at logout or expiry."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.auth.digests import digest, new_secret, same_digest
from hub.auth.principal import Principal
from hub.models import UserSession, new_id, utcnow

__all__ = ["COOKIE", "close_session", "open_session", "session_principal"]

SESSIONS = UserSession.__table__
COOKIE = "hub_session"


async def open_session(engine: AsyncEngine, principal: Principal, hours: float) -> str:
    """Start a session for ``principal``; return the cookie value (only its digest is stored)."""
    secret = new_secret()
    now = utcnow()
    async with engine.begin() as connection:
        # Expired sessions are dropped as new ones start: no separate sweeper needed.
        await connection.execute(sa.delete(SESSIONS).where(SESSIONS.c.expires_at < now))
        await connection.execute(sa.insert(SESSIONS).values(
            id=new_id(), digest=digest(secret), actor=principal.actor, scope=principal.scope,
            user_id=principal.user_id, token_id=principal.token_id, created_at=now,
            expires_at=now + timedelta(hours=hours)))
    return secret


async def session_principal(engine: AsyncEngine, cookie: str) -> Principal | None:
    """The principal of a live session, or None (unknown, expired, or its account or token gone)."""
    if not cookie or len(cookie) > 100:
        return None
    wanted = digest(cookie)
    async with engine.connect() as connection:
        row = (await connection.execute(
            sa.select(SESSIONS).where(SESSIONS.c.digest == wanted, SESSIONS.c.expires_at > utcnow()))).first()
    if not same_digest(row.digest if row else None, wanted):
        return None
    return Principal(actor=row.actor, scope=row.scope, user_id=row.user_id, token_id=row.token_id)


async def close_session(engine: AsyncEngine, cookie: str) -> None:
    """End the session (logout); nothing happens for an unknown cookie."""
    if cookie and len(cookie) <= 100:
        async with engine.begin() as connection:
            await connection.execute(sa.delete(SESSIONS).where(SESSIONS.c.digest == digest(cookie)))
