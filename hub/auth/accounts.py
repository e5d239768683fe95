"""Accounts of people: a name, a scope and an argon2id password hash."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.auth.passwords import hash_password, verify_password
from hub.auth.principal import Principal
from hub.auth.tokens import TokenError, check_name_and_scope
from hub.models import UserAccount, new_id, utcnow

__all__ = ["AccountError", "add_user", "authenticate_user", "find_user", "remove_user"]

USERS = UserAccount.__table__


class AccountError(TokenError):
    """An account operation that cannot be done, said in one line."""


async def add_user(engine: AsyncEngine, name: str, password: str, scope: str = "write") -> None:
    """Create an account (AccountError when the name is taken or invalid)."""
    check_name_and_scope("account", name, scope, AccountError)
    hashed = hash_password(password)
    async with engine.begin() as connection:
        if (await connection.execute(sa.select(USERS.c.id).where(USERS.c.name == name))).first() is not None:
            raise AccountError(f"an account named {name!r} exists")
        await connection.execute(sa.insert(USERS).values(
            id=new_id(), name=name, scope=scope, password_hash=hashed, created_at=utcnow()))


async def remove_user(engine: AsyncEngine, name: str) -> bool:
    """Delete the account and (by cascade) its sessions; False when there is none."""
    async with engine.begin() as connection:
        return (await connection.execute(sa.delete(USERS).where(USERS.c.name == name))).rowcount == 1


async def find_user(engine: AsyncEngine, name: str) -> Principal | None:
    """The account named ``name`` as a principal (no password check: for a trusted proxy), or None."""
    async with engine.connect() as connection:
        row = (await connection.execute(
            sa.select(USERS.c.id, USERS.c.name, USERS.c.scope).where(USERS.c.name == name))).first()
    return Principal(actor=f"user:{row.name}", scope=row.scope, user_id=row.id) if row else None


async def authenticate_user(engine: AsyncEngine, name: str, password: str) -> Principal | None:
    """The account's principal when ``password`` is right; None otherwise, in the same time either way."""
    async with engine.connect() as connection:
        row = (await connection.execute(
            sa.select(USERS.c.id, USERS.c.name, USERS.c.scope, USERS.c.password_hash)
            .where(USERS.c.name == name))).first()
    if not await verify_password(row.password_hash if row else None, password):
        return None
    return Principal(actor=f"user:{row.name}", scope=row.scope, user_id=row.id)
