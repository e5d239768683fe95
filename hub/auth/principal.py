"""Who is calling: a token, an account, a first-run admin or a person a trusted proxy names."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Principal"]


@dataclass(frozen=True)
class Principal:
    """An authenticated caller. ``actor`` is what the timeline records (``token:ci``, ``user:alice``)."""

    actor: str
    scope: str
    user_id: str | None = None
    token_id: str | None = None
