"""The first admin's one-time login link, printed on a first start (no account, no token), as Jupyter does.

Stored as a digest with an expiry; using it is one UPDATE that only one request can win, in any
number of processes.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.auth.digests import digest, new_secret
from hub.models import ApiToken, LoginLink, UserAccount, new_id, utcnow

__all__ = ["LINK_MINUTES", "first_run_secret", "use_login_link"]

LINKS = LoginLink.__table__
LINK_MINUTES = 15


async def first_run_secret(engine: AsyncEngine) -> str | None:
    """A new one-time link secret when nobody can log in yet (no account, no token); else None."""
    async with engine.begin() as connection:
        for table in (UserAccount.__table__, ApiToken.__table__):
            if (await connection.execute(sa.select(sa.literal(1)).select_from(table).limit(1))).first():
                return None
        secret = new_secret()
        now = utcnow()
        await connection.execute(sa.delete(LINKS).where(LINKS.c.expires_at < now))
        await connection.execute(sa.insert(LINKS).values(
            id=new_id(), digest=digest(secret), expires_at=now + timedelta(minutes=LINK_MINUTES)))
    return secret


async def use_login_link(engine: AsyncEngine, secret: str) -> bool:
    """Spend the link: True once, for an unexpired link; False for unknown, used or expired links."""
    if not secret or len(secret) > 100:
        return False
    now = utcnow()
    async with engine.begin() as connection:
        result = await connection.execute(
            sa.update(LINKS)
            .where(LINKS.c.digest == digest(secret), LINKS.c.used_at.is_(None), LINKS.c.expires_at > now)
            .values(used_at=now))
    return result.rowcount == 1
