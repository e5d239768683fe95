"""Random secrets and their stored form: a SHA-256 digest, compared in constant time.

Tokens, session cookies and login links are 256-bit random values, so a fast digest is enough
(nothing to brute-force); passwords, which people choose, get argon2id instead (hub.auth.passwords).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

__all__ = ["digest", "new_secret", "same_digest"]


def new_secret(prefix: str = "") -> str:
    """A new URL-safe random secret of 256 bits, after ``prefix``."""
    return prefix + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """The hex SHA-256 digest stored in place of ``secret``."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def same_digest(stored: str | None, candidate: str) -> bool:
    """Constant-time comparison; ``stored`` None (nothing found) compares against a dummy and fails."""
    return hmac.compare_digest(stored or "0" * 64, candidate) and stored is not None
