"""``POST`` and ``GET /api/<source>/webhook``, built for each source a plugin registers."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable, Mapping

from litestar import Request, Response, get, post
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.handlers import HTTPRouteHandler

from hub.background import Background
from hub.db import DATABASE_ERRORS
from hub.delivery import error_answer
from hub.ingest import handle_webhook, received, record_rejection
from hub.types import Source

__all__ = ["BodyTooLarge", "answer_delivery", "webhook_handlers"]

log = logging.getLogger("hub.webhook")

#: Deliveries answered 503 while their task still ran: kept until it ends, its exception read.
_abandoned = Background(log, "A delivery answered 503 ended later with %s")


#: What a delivery that the database could not take is answered.
UNAVAILABLE = (503, {"success": False, "error": "database unavailable"})
#: What a delivery that failed with a bug is answered (nothing was committed: one transaction).
INTERNAL_ERROR = (500, {"success": False, "error": "internal error"})


class BodyTooLarge(Exception):
    """Raised by a body reader past ``[hub] max_body_bytes``."""


def _is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


async def answer_delivery(hub: Any, source: Source, headers: Mapping[str, str],
                          read_body: Callable[[], Awaitable[bytes]]) -> tuple[int, Any]:
    """A ``POST /api/<source>/webhook``, whatever serves it: its status and JSON body.

    The one definition of the webhook's HTTP side, for the Litestar route and the fast lane
    (hub.fastlane): content type, body limit (``read_body`` raises BodyTooLarge), the time
    budget, and what a database outage or a bug is answered.
    """
    content_type = headers.get("content-type", "")
    if not _is_json(content_type):
        log.warning("%s Rejected: content type %r is not JSON", source.prefix, content_type)
        return await _refused(hub, source, headers, 415, "content type must be application/json")
    try:
        body = await read_body()
    except BodyTooLarge:
        log.warning("%s Rejected: body larger than %d bytes", source.prefix, hub.settings.hub.max_body_bytes)
        return await _refused(hub, source, headers, 413, "request body too large")
    # The delivery runs as a task of its own so that its answer never waits longer than the
    # budget: a database that hangs (a partition) is answered 503 at once, and the task is
    # cancelled in the background, where the driver cleans up its connection.
    task = asyncio.ensure_future(handle_webhook(hub, source, headers, body))
    done, _ = await asyncio.wait({task}, timeout=hub.settings.database.webhook_timeout_seconds)
    if not done:
        task.cancel()
        _abandoned.keep(task)
        log.error("%s Database did not answer within %.1f s: answered 503 (what it had sent may still commit)",
                  source.prefix, hub.settings.database.webhook_timeout_seconds)
        return UNAVAILABLE
    try:
        answer = task.result()
    except DATABASE_ERRORS as exc:
        log.error("%s Database unavailable, delivery not stored: %s", source.prefix, type(exc).__name__)
        log.debug("database error detail", exc_info=True)
        return UNAVAILABLE
    except Exception:
        # A bug, not the sender's fault: say so in the log with the traceback, and answer
        # JSON like every other outcome. Nothing was committed (one transaction).
        log.exception("%s Delivery failed with an internal error, nothing stored", source.prefix)
        return INTERNAL_ERROR
    return answer.status, answer.body


async def _refused(hub: Any, source: Source, headers: Mapping[str, str], status: int, message: str) -> tuple[int, Any]:
    # Logged with its reason and without its body (unread: it was not JSON, or too large).
    try:
        answer = await record_rejection(hub, received(source, headers, b""), error_answer(status, "rejected", message))
    except DATABASE_ERRORS as exc:
        log.error("%s Database unavailable, rejection not logged: %s", source.prefix, type(exc).__name__)
        return UNAVAILABLE
    return answer.status, answer.body


def webhook_handlers(source: Source) -> list[HTTPRouteHandler]:
    """The route handlers serving ``source``: its health check and its delivery endpoint.

    ``POST`` is served by the fast lane (hub.fastlane) before Litestar routes anything; this
    route answers the same (``answer_delivery``) wherever the lane does not take a request,
    and gives the endpoint its place in the route table and the OpenAPI document.
    """
    path = f"/api/{source.name}/webhook"
    health_body = {
        "status": "ok",
        "endpoint": path,
        "description": source.description,
        "supported_events": list(source.supported_events),
    }

    @get(path, name=f"{source.name}-webhook-health", summary=f"{source.name} webhook health", tags=["webhooks"],
         sync_to_thread=False)
    def webhook_health() -> dict:
        return health_body

    @post(path, name=f"{source.name}-webhook", summary=f"Receive a {source.name} webhook", tags=["webhooks"],
          status_code=200)
    async def receive(request: Request) -> Response:
        async def read_body() -> bytes:
            try:
                return await request.body()
            except RequestEntityTooLarge:
                raise BodyTooLarge from None

        status, body = await answer_delivery(request.app.state.hub, source, request.headers, read_body)
        return Response(body, status_code=status)

    return [webhook_health, receive]
