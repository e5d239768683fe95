"""Access to the hub: API tokens, accounts, sessions, CSRF, scopes as route guards.

Every route declares a scope in its ``opt`` (``scope_opt``); ``authorize`` is the app-wide guard
that enforces it and refuses any route that declares none.
"""

from hub.auth.principal import Principal
from hub.auth.scopes import PUBLIC, SCOPES, allows, scope_opt

__all__ = ["PUBLIC", "SCOPES", "Principal", "allows", "scope_opt"]
