"""Access to the hub: API tokens, accounts, sessions, CSRF, scopes as route guards.

Every route declares a scope in its ``opt`` (``scope_opt``); ``authorize`` is the app-wide guard
that enforces it and refuses any route that declares none.
"""

from hub.auth.scopes import PUBLIC, SCOPES, allows, scope_opt

__all__ = ["PUBLIC", "SCOPES", "Principal", "allows", "scope_opt"]


def __getattr__(name: str):
    """``Principal`` on first use: ``hub token ...`` parses its options without dataclasses."""
    if name != "Principal":
        raise AttributeError(f"module 'hub.auth' has no attribute {name!r}")
    from hub.auth.principal import Principal

    return Principal
