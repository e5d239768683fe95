"""The app factory: ``create_app(settings, pm) -> Litestar``; the lifespan owns engine and worker."""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from typing import AsyncIterator
from urllib.parse import quote

import httpx
import pluggy
from litestar import Litestar, Request, Response, Router
from litestar.exceptions import NotAuthorizedException
from litestar.middleware.base import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.response import Redirect
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from hub.auth import PUBLIC, scope_opt
from hub.auth.csrf import EXCLUDE_KEY, CsrfGate
from hub.auth.firstrun import LINK_MINUTES, first_run_secret
from hub.auth.guard import authorize
from hub.auth.keys import server_key
from hub.config import Settings
from hub.console import CONSOLE_HANDLERS, static_files
from hub.db import DATABASE_ERRORS
from hub.endpoints import endpoint_handlers, registered_endpoints
from hub.fastlane import LaneApp
from hub.metrics import metrics, observe_response, sampling_pools
from hub.plugins import sources
from hub.routes import get_issue, health, list_issues, webhook_handlers
from hub.routes.admin import retry_job, tokens
from hub.routes.login import first_run, login, login_form, logout
from hub.routes.triage import add_comment, update_issue
from hub.runtime import Hub

__all__ = ["create_app", "first_run_url"]

log = logging.getLogger("hub")


def _database_unavailable(_request: Request, exc: Exception) -> Response:
    log.error("Database unavailable: %s", type(exc).__name__)
    return Response({"success": False, "error": "database unavailable"}, status_code=503)


def _internal_error(request: Request, exc: Exception) -> Response:
    # The path only: a query string may carry a one-time link's secret.
    log.error("Internal error on %s %s", request.method, request.url.path, exc_info=exc)
    return Response({"status_code": 500, "detail": "internal error"}, status_code=500)


def _not_authorized(request: Request, exc: NotAuthorizedException) -> Response:
    # A person opening a page is sent to the login; API callers get JSON.
    # Machines (an API client, Prometheus on /metrics) get 401: a scraper must not follow a redirect.
    if request.method == "GET" and not request.url.path.startswith(("/api/", "/schema", "/metrics")):
        return Redirect(f"/login?next={quote(request.url.path)}", status_code=303)
    return Response({"status_code": 401, "detail": exc.detail}, status_code=401, headers=exc.headers)


def first_run_url(settings: Settings, secret: str) -> str:
    """The first admin's login link, at the hub's public URL (``Settings.public_base``)."""
    return f"{settings.public_base()}/login/first-run?token={secret}"


def create_app(
    settings: Settings,
    pm: pluggy.PluginManager,
    *,
    http_transport: httpx.AsyncBaseTransport | None = None,
    start_worker: bool = True,
    migrate: bool = True,
) -> Litestar:
    """Build the Litestar app: a webhook route pair per source plugin, the issues and triage API, login,
    health, OpenAPI; every route guarded by its scope (hub.auth.guard.authorize).

    ``http_transport`` replaces the outbound HTTP transport (tests feed recorded responses);
    ``migrate`` applies migrations at start-up.
    """

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with Hub.running(settings, pm, http_transport=http_transport, start_worker=start_worker,
                               migrate=migrate) as hub:
            app.state.hub = hub
            # Outbound calls are counted by service and status as they answer (GET /metrics).
            hooks = hub.http.event_hooks
            hub.http.event_hooks = {**hooks, "response": [*hooks.get("response", []), observe_response]}
            sampler = asyncio.create_task(sampling_pools(hub))
            app.state.csrf_key = await server_key(hub.engine, "csrf")
            secret = await first_run_secret(hub.engine)
            if secret is not None:
                # Deliberately logged (as Jupyter does): the only way in before any account exists.
                log.warning("No account or API token yet. Sign in as the first admin within %d minutes "
                            "(the link works once): %s", LINK_MINUTES, first_run_url(settings, secret))
            try:
                yield
            finally:
                sampler.cancel()

    webhooks = [handler for source in sources(pm) for handler in webhook_handlers(source)]
    for handler in webhooks:
        # Authenticated by the source's own signature, and posted by servers, not browsers.
        handler.opt.update(scope_opt(PUBLIC, **{EXCLUDE_KEY: True}))
    # Plugins' own endpoints (Sentry's UI components): each declares its scope (hub.endpoints).
    endpoints = endpoint_handlers(registered_endpoints(pm, settings))
    # Deliveries take the fast lane (hub.fastlane), answered as the webhook routes answer them.
    return LaneApp(
        lanes=sources(pm),
        max_body_bytes=settings.hub.max_body_bytes,
        route_handlers=[*webhooks, *endpoints, health, metrics, list_issues, get_issue, update_issue, add_comment, tokens, retry_job,
                        login_form, login, first_run, logout, *CONSOLE_HANDLERS, static_files()],
        lifespan=[lifespan],
        guards=[authorize],
        middleware=[DefineMiddleware(CsrfGate)],
        request_max_body_size=settings.hub.max_body_bytes,
        exception_handlers={
            **{error: _database_unavailable for error in DATABASE_ERRORS},
            NotAuthorizedException: _not_authorized,
            HTTP_500_INTERNAL_SERVER_ERROR: _internal_error,
        },
        openapi_config=OpenAPIConfig(title="hub", version="0.1.0",
                                     openapi_router=Router(path="/schema", route_handlers=[], opt=scope_opt("read"))),
        logging_config=None,
    )
