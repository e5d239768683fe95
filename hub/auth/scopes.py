"""Scopes, from least to most: ``read`` < ``write`` < ``admin``; ``public`` routes need none."""

from __future__ import annotations

from typing import Any

__all__ = ["PUBLIC", "SCOPES", "allows", "scope_opt"]

SCOPES = ("read", "write", "admin")
#: The ``opt["scope"]`` of a route anyone may call (webhooks, health, the login page).
PUBLIC = "public"


def allows(granted: str, required: str) -> bool:
    """Whether a principal holding ``granted`` may call a route requiring ``required``."""
    if required == PUBLIC:
        return True
    if granted not in SCOPES or required not in SCOPES:
        return False
    return SCOPES.index(granted) >= SCOPES.index(required)


def scope_opt(scope: str, **extra: Any) -> dict[str, Any]:
    """The ``opt`` of a route handler that requires ``scope`` (or ``PUBLIC``)."""
    if scope != PUBLIC and scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")
    return {"scope": scope, **extra}
