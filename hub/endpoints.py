"""Plugin endpoints (``register_endpoints``): mounted at ``/api/<namespace>/<path>``, framework-neutral.

A plugin's handler sees an ``EndpointRequest`` and answers an ``EndpointResponse``; it never sees
Litestar. The host bounds the body (``[hub] max_body_bytes``, 413) and the time (the endpoint's
``timeout_seconds``, 503), turns an ``EndpointError`` into its status with ``{"message": ...}``,
a database outage into 503 and anything else into 500 ``{"message": "internal error"}`` (logged
with its traceback, never sent). An endpoint declaring the ``public`` scope checks its caller
itself (a signature) and skips the hub's token, login and CSRF checks.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import TYPE_CHECKING, Any, Iterable

import pluggy
from litestar import Request, Response, route
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.handlers import HTTPRouteHandler

from hub.auth import PUBLIC, SCOPES, scope_opt
from hub.auth.csrf import EXCLUDE_KEY
from hub.context import EndpointContext
from hub.db import DATABASE_ERRORS
from hub.plugins import await_maybe, flatten
from hub.types import Endpoint, EndpointError, EndpointRequest, EndpointResponse

if TYPE_CHECKING:
    from hub.config import Settings

__all__ = ["RESERVED_NAMESPACES", "endpoint_handlers", "registered_endpoints"]

log = logging.getLogger("hub.endpoints")

#: ``/api/<these>/...`` are the hub's own routes.
RESERVED_NAMESPACES = frozenset({"issues", "health", "tokens", "jobs", "users", "deliveries"})
_SEGMENT = re.compile(r"[a-z0-9][a-z0-9_.-]*")
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})


def _problem(endpoint: Endpoint) -> str | None:
    if not isinstance(endpoint, Endpoint):
        return f"register_endpoints returned {type(endpoint).__name__}, not an Endpoint"
    if not _SEGMENT.fullmatch(endpoint.namespace) or endpoint.namespace in RESERVED_NAMESPACES:
        return f"endpoint namespace {endpoint.namespace!r} is not allowed"
    segments = endpoint.path.split("/")
    if not all(_SEGMENT.fullmatch(segment) for segment in segments) or segments == ["webhook"]:
        return f"endpoint path {endpoint.path!r} is not allowed (lower-case segments, not 'webhook')"
    if not endpoint.methods or not set(endpoint.methods) <= _METHODS:
        return f"endpoint {endpoint.url_path} has methods {endpoint.methods!r}"
    if endpoint.scope != PUBLIC and endpoint.scope not in SCOPES:
        return f"endpoint {endpoint.url_path} has an unknown scope {endpoint.scope!r}"
    if not endpoint.timeout_seconds > 0:
        return f"endpoint {endpoint.url_path} needs a positive timeout"
    return None


def registered_endpoints(pm: pluggy.PluginManager, settings: "Settings | None") -> list[Endpoint]:
    """Every Endpoint the plugins serve; ValueError naming a malformed one or two claiming one route."""
    found: dict[tuple[str, str], Endpoint] = {}
    for endpoint in flatten(pm.hook.register_endpoints(config=settings)):
        problem = _problem(endpoint)
        if problem:
            raise ValueError(problem)
        for method in endpoint.methods:
            if (method, endpoint.url_path) in found:
                raise ValueError(f"two plugins register {method} {endpoint.url_path}")
            found[(method, endpoint.url_path)] = endpoint
    return list(dict.fromkeys(found.values()))


def _answer(result: Any, endpoint: Endpoint) -> Response:
    if not isinstance(result, EndpointResponse):
        raise TypeError(f"{endpoint.url_path} answered {type(result).__name__}, not an EndpointResponse")
    headers = {str(name): str(value) for name, value in result.headers.items()}
    if result.location is not None:
        # A redirect goes to a web page only, on one line: nothing a handler reads from a request
        # can turn it into a script URL or a second header.
        if not re.fullmatch(r"https?://[^\s]+", result.location) or result.status not in (301, 302, 303, 307, 308):
            raise ValueError(f"{endpoint.url_path} redirects to an unsafe or malformed location")
        return Response(None, status_code=result.status, headers={**headers, "location": result.location})
    if not 200 <= result.status <= 599:
        raise ValueError(f"{endpoint.url_path} answered status {result.status}")
    return Response(result.body, status_code=result.status, headers=headers, media_type="application/json")


def _message(status: int, message: str) -> Response:
    return Response({"message": message}, status_code=status)


def _handler(endpoint: Endpoint) -> HTTPRouteHandler:
    public = endpoint.scope == PUBLIC
    # Public endpoints are called by servers that sign their bodies (or are links a browser
    # follows to a redirect): no cookie credential is involved, so CSRF does not apply.
    opt = scope_opt(endpoint.scope, **({EXCLUDE_KEY: True} if public else {}))

    async def serve(request: Request) -> Response:
        hub = request.app.state.hub
        try:
            body = await request.body() if request.method != "GET" else b""
        except RequestEntityTooLarge:
            log.warning("Endpoint %s refused: body larger than %d bytes", endpoint.url_path,
                        hub.settings.hub.max_body_bytes)
            return _message(413, "request body too large")
        plain = EndpointRequest(method=request.method, path=request.url.path,
                                query={key: values[0] for key, values in request.query_params.dict().items() if values},
                                headers={name.lower(): value for name, value in request.headers.items()}, body=body)
        context = EndpointContext(hub)

        async def handle() -> Any:
            return await await_maybe(endpoint.handler(plain, context))

        try:
            result = await asyncio.wait_for(handle(), timeout=endpoint.timeout_seconds)
            return _answer(result, endpoint)
        except EndpointError as error:
            status = error.status if 400 <= error.status <= 599 else 400
            return _message(status, error.message)
        except asyncio.TimeoutError:
            log.error("Endpoint %s did not answer within %.1f s: answered 503", endpoint.url_path,
                      endpoint.timeout_seconds)
            return _message(503, f"no answer within {endpoint.timeout_seconds:g} seconds, try again")
        except DATABASE_ERRORS as error:
            log.error("Endpoint %s: database unavailable (%s)", endpoint.url_path, type(error).__name__)
            return _message(503, "database unavailable")
        except Exception:
            # The plugin's bug, not the caller's: the traceback goes to the log, nothing to the caller.
            log.exception("Endpoint %s failed with an internal error", endpoint.url_path)
            return _message(500, "internal error")

    name = f"endpoint:{'|'.join(endpoint.methods)}:{endpoint.url_path}"
    return route(endpoint.url_path, http_method=list(endpoint.methods), name=name, opt=opt,
                 summary=endpoint.summary or None, tags=[endpoint.namespace], include_in_schema=not public,
                 status_code=200)(serve)


def endpoint_handlers(endpoints: Iterable[Endpoint]) -> list[HTTPRouteHandler]:
    """The Litestar route handlers serving ``endpoints``."""
    return [_handler(endpoint) for endpoint in endpoints]
