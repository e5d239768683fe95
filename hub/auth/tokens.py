"""API tokens: created with a scope, shown once, stored as a digest, revoked by deleting the row.

Every request looks its token up in the database (no cache), so a revocation holds at once in
every process.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.auth.digests import digest, new_secret, same_digest
from hub.auth.principal import Principal
from hub.auth.scopes import SCOPES
from hub.models import ApiToken, new_id, utcnow

__all__ = ["PREFIX", "TokenError", "authenticate_token", "check_name_and_scope", "create_token", "list_tokens", "revoke_token",
           "valid_name"]

TOKENS = ApiToken.__table__
PREFIX = "hub_"
#: The shape of every token this hub issues: anything else is refused without a database query.
_SHAPE = re.compile(r"hub_[A-Za-z0-9_-]{43}")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}")
#: ``last_used_at`` is rewritten at most this often: a write per request would cost every GET.
LAST_USED_GRANULARITY = timedelta(seconds=60)


class TokenError(Exception):
    """A token operation that cannot be done (bad name or scope, name taken), said in one line."""


def valid_name(name: str) -> bool:
    """Names of tokens and accounts: letters, digits and ``._@+-``, at most 100 characters."""
    return bool(_NAME.fullmatch(name))


def check_name_and_scope(kind: str, name: str, scope: str, error: type[TokenError] = TokenError) -> None:
    """Raise ``error`` unless ``name`` is a valid name (``kind``: "token", "account") and
    ``scope`` a known scope."""
    if not valid_name(name):
        raise error(f"invalid {kind} name {name!r} (letters, digits and ._@+-, at most 100)")
    if scope not in SCOPES:
        raise error(f"unknown scope {scope!r} (one of {', '.join(SCOPES)})")


async def create_token(engine: AsyncEngine, name: str, scope: str) -> str:
    """Create a token; return the secret (the only time it exists outside the caller's hands)."""
    check_name_and_scope("token", name, scope)
    secret = new_secret(PREFIX)
    async with engine.begin() as connection:
        taken = (await connection.execute(sa.select(TOKENS.c.id).where(TOKENS.c.name == name))).first()
        if taken is not None:
            raise TokenError(f"a token named {name!r} exists (revoke it first)")
        await connection.execute(sa.insert(TOKENS).values(
            id=new_id(), name=name, scope=scope, digest=digest(secret), created_at=utcnow()))
    return secret


async def list_tokens(engine: AsyncEngine) -> list[dict[str, Any]]:
    """Every token's name, scope, creation and last use (never the digest)."""
    async with engine.connect() as connection:
        rows = await connection.execute(
            sa.select(TOKENS.c.name, TOKENS.c.scope, TOKENS.c.created_at, TOKENS.c.last_used_at)
            .order_by(TOKENS.c.name))
        return [dict(row._mapping) for row in rows]


async def revoke_token(engine: AsyncEngine, name: str) -> bool:
    """Delete the token (and, by cascade, sessions opened with it); False when no such token."""
    async with engine.begin() as connection:
        result = await connection.execute(sa.delete(TOKENS).where(TOKENS.c.name == name))
    return result.rowcount == 1


async def authenticate_token(engine: AsyncEngine, secret: str) -> Principal | None:
    """The token's principal, or None when it is malformed, unknown or revoked.

    The lookup is by digest, so an unknown token and a wrong one take the same path: one indexed
    query on a value the caller cannot steer, then a constant-time compare.
    """
    if not _SHAPE.fullmatch(secret):
        return None
    wanted = digest(secret)
    async with engine.connect() as connection:
        row = (await connection.execute(
            sa.select(TOKENS.c.id, TOKENS.c.name, TOKENS.c.scope, TOKENS.c.digest, TOKENS.c.last_used_at)
            .where(TOKENS.c.digest == wanted))).first()
        if not same_digest(row.digest if row else None, wanted):
            return None
        now = utcnow()
        last = row.last_used_at
        if last is None or (last if last.tzinfo else last.replace(tzinfo=now.tzinfo)) < now - LAST_USED_GRANULARITY:
            await connection.execute(sa.update(TOKENS).where(TOKENS.c.id == row.id).values(last_used_at=now))
            await connection.commit()
    return Principal(actor=f"token:{row.name}", scope=row.scope, token_id=row.id)
