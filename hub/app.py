"""The app factory: ``create_app(settings, pm) -> Litestar``; the lifespan owns engine and worker."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from typing import AsyncIterator

import httpx
import pluggy
from litestar import Litestar, Request, Response
from litestar.openapi import OpenAPIConfig

from hub.config import Settings
from hub.ingest import DATABASE_ERRORS
from hub.plugins import sources
from hub.routes import get_issue, health, list_issues, webhook_handlers
from hub.runtime import Hub

__all__ = ["create_app"]

log = logging.getLogger("hub")


def _database_unavailable(_request: Request, exc: Exception) -> Response:
    log.error("Database unavailable: %s", type(exc).__name__)
    return Response({"success": False, "error": "database unavailable"}, status_code=503)


def create_app(
    settings: Settings,
    pm: pluggy.PluginManager,
    *,
    http_transport: httpx.AsyncBaseTransport | None = None,
    start_worker: bool = True,
    migrate: bool = True,
) -> Litestar:
    """Build the Litestar app: a webhook route pair per source plugin, the issues API, health, OpenAPI.

    ``http_transport`` replaces the outbound HTTP transport (tests feed recorded responses);
    ``migrate`` applies migrations at start-up.
    """

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with Hub.running(settings, pm, http_transport=http_transport, start_worker=start_worker,
                               migrate=migrate) as hub:
            app.state.hub = hub
            yield

    handlers = [handler for source in sources(pm) for handler in webhook_handlers(source)]
    return Litestar(
        route_handlers=[*handlers, health, list_issues, get_issue],
        lifespan=[lifespan],
        request_max_body_size=settings.hub.max_body_bytes,
        exception_handlers={error: _database_unavailable for error in DATABASE_ERRORS},
        openapi_config=OpenAPIConfig(title="hub", version="0.1.0", path="/schema"),
        logging_config=None,
    )
