"""Passwords: argon2id (argon2-cffi's defaults), verified off the event loop."""

from __future__ import annotations

import asyncio
import functools
import getpass
import sys
from typing import TextIO

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = ["PasswordError", "hash_password", "read_password", "verify_password"]

_HASHER = PasswordHasher()  # argon2id, RFC 9106's low-memory profile


@functools.cache
def _dummy() -> str:
    """Verified against when the account does not exist, so "no such account" costs what "wrong
    password" does. Made on first use: a hash costs ~150 ms, which every ``hub`` command paid at
    import."""
    return _HASHER.hash("no account has this password")
MIN_LENGTH = 8
MAX_LENGTH = 1024


class PasswordError(Exception):
    """A password that cannot be used (too short, too long, missing), said in one line."""


def check_password(password: str) -> None:
    """Raise PasswordError unless ``password`` is acceptable."""
    if len(password) < MIN_LENGTH:
        raise PasswordError(f"the password must have at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise PasswordError(f"the password must have at most {MAX_LENGTH} characters")


def hash_password(password: str) -> str:
    """The argon2id hash stored for ``password``."""
    check_password(password)
    return _HASHER.hash(password)


async def verify_password(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored`` (None: no account, checked against a dummy anyway)."""
    if len(password) > MAX_LENGTH:
        return False

    def check() -> bool:
        try:
            return _HASHER.verify(stored or _dummy(), password) and stored is not None
        except (VerificationError, InvalidHashError):
            return False

    # ~50 ms of CPU by design: on the loop it would stall every other request.
    return await asyncio.to_thread(check)


def read_password(stdin: TextIO | None = None) -> str:
    """A new password: asked twice on a terminal, else the first line of standard input."""
    stdin = stdin or sys.stdin
    if stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != first:
            raise PasswordError("the two passwords differ")
        password = first
    else:
        password = stdin.readline().rstrip("\r\n")
    check_password(password)
    return password
