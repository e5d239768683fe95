"""CSRF protection for cookie-authenticated requests, with Litestar's CSRF middleware.

The signing key lives in the database (``hub.auth.keys``) so every process accepts the tokens of
every other; it is read at start-up, after the app is built, hence the lazy construction here.
Skipped: routes whose ``opt`` sets ``exclude_from_csrf`` (webhooks, signed by their source) and
requests that carry an ``Authorization`` header (a browser never adds one across sites, and the
guard then ignores the cookie).
"""

from __future__ import annotations

from typing import Any

from litestar.config.csrf import CSRFConfig
from litestar.middleware.csrf import CSRFMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

__all__ = ["CSRF_COOKIE", "CsrfGate", "EXCLUDE_KEY"]

CSRF_COOKIE = "hub_csrf"
EXCLUDE_KEY = "exclude_from_csrf"


class CsrfGate:
    """ASGI middleware: Litestar's CSRFMiddleware with the hub's shared key and Bearer bypass."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._inner: dict[bool, CSRFMiddleware] = {}

    def _middleware(self, scope: Scope, secure: bool) -> CSRFMiddleware:
        if secure not in self._inner:
            key = scope["litestar_app"].state.csrf_key
            config = CSRFConfig(secret=key, cookie_name=CSRF_COOKIE, cookie_secure=secure, cookie_samesite="lax",
                                cookie_httponly=False, exclude_from_csrf_key=EXCLUDE_KEY)
            self._inner[secure] = CSRFMiddleware(self.app, config)
        return self._inner[secure]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the CSRF token unless the request is a Bearer call or the route opted out."""
        if scope["type"] != "http" or _has_authorization(scope):
            await self.app(scope, receive, send)
            return
        await self._middleware(scope, scope.get("scheme") == "https")(scope, receive, send)


def _has_authorization(scope: Any) -> bool:
    return any(name == b"authorization" for name, _value in scope.get("headers", ()))
