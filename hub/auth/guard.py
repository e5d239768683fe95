"""The app-wide guard: who is calling (token, trusted proxy, session) and may they call this route.

Credentials are tried in this order, and the first kind present decides alone:
``Authorization: Bearer`` (never falls back to the cookie, which is what lets Bearer calls skip
CSRF), the trusted proxy's header (only from a trusted address), the session cookie.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from hub.auth.accounts import find_user
from hub.auth.principal import Principal
from hub.auth.scopes import PUBLIC, allows
from hub.auth.sessions import COOKIE, session_principal
from hub.auth.tokens import authenticate_token

__all__ = ["authorize", "principal_of"]

_STATE_KEY = "principal"


def _bearer(value: str) -> str | None:
    scheme, _, credentials = value.strip().partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" and credentials.strip() else None


def _from_trusted_proxy(connection: ASGIConnection, auth: Any) -> bool:
    if not auth.trusted_header or not auth.trusted_proxies or connection.client is None:
        return False
    try:
        peer = ipaddress.ip_address(connection.client.host)
    except ValueError:
        return False
    return any(peer in ipaddress.ip_network(network, strict=False) for network in auth.trusted_proxies)


async def _principal(connection: ASGIConnection) -> Principal | None:
    hub = connection.app.state.hub
    header = connection.headers.get("authorization")
    if header is not None:
        secret = _bearer(header)
        return await authenticate_token(hub.engine, secret) if secret else None
    auth = hub.settings.auth
    if _from_trusted_proxy(connection, auth):
        name = connection.headers.get(auth.trusted_header, "").strip()
        if name and len(name) <= 200 and name.isprintable():
            return await find_user(hub.engine, name) or Principal(actor=f"user:{name}", scope=auth.trusted_scope)
    cookie = connection.cookies.get(COOKIE)
    return await session_principal(hub.engine, cookie) if cookie else None


async def principal_of(connection: ASGIConnection) -> Principal | None:
    """The caller's principal (looked up once per request), or None when anonymous or refused."""
    state = connection.scope.setdefault("state", {})
    if _STATE_KEY not in state:
        state[_STATE_KEY] = await _principal(connection)
    return state[_STATE_KEY]


async def authorize(connection: ASGIConnection, route_handler: BaseRouteHandler) -> None:
    """Litestar guard for every route: 401 without valid credentials, 403 without the route's scope.

    A route that declares no scope is refused (fail closed); tests/test_auth_routes.py walks the
    route table so that never ships.
    """
    required = route_handler.opt.get("scope")
    if required == PUBLIC:
        return
    if required is None:
        raise PermissionDeniedException("this route declares no scope")
    principal = await principal_of(connection)
    if principal is None:
        raise NotAuthorizedException("a valid API token or login is required",
                                     headers={"WWW-Authenticate": 'Bearer realm="hub"'})
    if not allows(principal.scope, required):
        raise PermissionDeniedException(f"this needs the {required} scope")
