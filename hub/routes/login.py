"""``GET``/``POST /login``, ``GET /login/first-run`` and ``POST /logout`` (the console is hub.console).

The login takes an account and password, or an API token in the password field. Failures are
counted per account and per address (hub.auth.ratelimit); past the limit the answer is 429 even
for the right password, so guessing stops being worth it.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.enums import MediaType, RequestEncodingType
from litestar.params import Body, FromQuery
from litestar.response import Redirect
from litestar.utils.scope.state import ScopeState
from typing_extensions import Annotated

from hub.auth import PUBLIC, scope_opt
from hub.auth.accounts import authenticate_user
from hub.auth.firstrun import use_login_link
from hub.auth.principal import Principal
from hub.auth.ratelimit import clear_failures, is_limited, record_failure
from hub.auth.sessions import COOKIE, close_session, open_session
from hub.auth.tokens import PREFIX, authenticate_token
from hub.routes.pages import login_page

__all__ = ["first_run", "login", "login_form", "logout"]

log = logging.getLogger("hub.auth")

#: The actor of the session the first-run link opens (there is no account yet).
FIRST_ADMIN = "user:first-admin"


def _csrf_token(request: Request) -> str:
    return ScopeState.from_scope(request.scope).csrf_token or ""


def _local(path: Any) -> str:
    # Only a path on this site: "//evil.example" or "https://..." would make the login an open redirect.
    if isinstance(path, str) and path.startswith("/") and not path.startswith("//") and "\\" not in path \
            and path.isprintable() and len(path) <= 500:
        return path
    return "/"


def _session_cookie(request: Request, value: str, max_age: int | None) -> Cookie:
    return Cookie(key=COOKIE, value=value, path="/", httponly=True, samesite="lax",
                  secure=request.url.scheme == "https", max_age=max_age)


async def _signed_in(request: Request, principal: Principal, next_path: str) -> Response:
    hub = request.app.state.hub
    hours = hub.settings.auth.session_hours
    earlier = request.cookies.get(COOKIE)
    if earlier:
        # A new login never keeps a session id that existed before it (session fixation).
        await close_session(hub.engine, earlier)
    secret = await open_session(hub.engine, principal, hours)
    log.info("Signed in: %s", principal.actor)
    return Redirect(next_path, status_code=303, cookies=[_session_cookie(request, secret, int(hours * 3600))])


@get("/login", tags=["login"], summary="The login page", opt=scope_opt(PUBLIC), include_in_schema=False,
     media_type=MediaType.HTML)
async def login_form(request: Request, next: FromQuery[str] = "/") -> str:  # noqa: A002 (the parameter's name)
    """The login form (sets the CSRF cookie its POST needs)."""
    return login_page(_csrf_token(request), next_path=_local(next))


@post("/login", tags=["login"], summary="Sign in", opt=scope_opt(PUBLIC), include_in_schema=False,
      status_code=303)
async def login(
    request: Request, data: Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
) -> Response:
    """Check an account's password, or an API token; open a session and go on; 401 or 429 with the form."""
    hub = request.app.state.hub
    auth = hub.settings.auth
    name = str(data.get("name") or "").strip()[:200]
    password = str(data.get("password") or "")
    next_path = _local(data.get("next"))
    address = request.client.host if request.client else "unknown"
    keys = {f"address:{address}": auth.login_failures_per_address}
    if name:
        keys[f"account:{name}"] = auth.login_failures_per_account

    def form(error: str, status: int) -> Response:
        return Response(login_page(_csrf_token(request), error=error, name=name, next_path=next_path),
                        status_code=status, media_type=MediaType.HTML)

    if await is_limited(hub.engine, keys, auth.login_window_seconds):
        log.warning("Login refused: too many failures (%s, address %s)", name or "token", address)
        return form("Too many failed attempts. Try again later.", 429)
    if not name and password.startswith(PREFIX):
        principal = await authenticate_token(hub.engine, password)
    elif name:
        principal = await authenticate_user(hub.engine, name, password)
    else:
        principal = None
    if principal is None:
        await record_failure(hub.engine, list(keys), auth.login_window_seconds)
        log.warning("Login failed (%s, address %s)", f"account {name!r}" if name else "token", address)
        return form("Wrong account, password or token.", 401)
    if name:
        await clear_failures(hub.engine, f"account:{name}")
    return await _signed_in(request, principal, next_path)


@get("/login/first-run", tags=["login"], summary="The first admin's one-time link", opt=scope_opt(PUBLIC),
     include_in_schema=False, media_type=MediaType.HTML)
async def first_run(request: Request, token: FromQuery[str] = "") -> Response:
    """Spend the one-time link printed on the first start: an admin session, then ``/``."""
    hub = request.app.state.hub
    if not await use_login_link(hub.engine, token):
        log.warning("First-run link refused (used, expired or unknown)")
        return Response(login_page(_csrf_token(request), error="This link was used or has expired."),
                        status_code=401, media_type=MediaType.HTML)
    return await _signed_in(request, Principal(actor=FIRST_ADMIN, scope="admin"), "/")


@post("/logout", tags=["login"], summary="Sign out", opt=scope_opt("read"), include_in_schema=False,
      status_code=303)
async def logout(request: Request) -> Response:
    """End the session and clear its cookie."""
    cookie = request.cookies.get(COOKIE)
    if cookie:
        await close_session(request.app.state.hub.engine, cookie)
    return Redirect("/login", status_code=303, cookies=[_session_cookie(request, "", 0)])
