"""``POST`` and ``GET /api/<source>/webhook``, built for each source a plugin registers."""

from __future__ import annotations

import logging

from litestar import Request, Response, get, post
from litestar.handlers import HTTPRouteHandler

from hub.ingest import DATABASE_ERRORS, handle_webhook
from hub.types import Source

__all__ = ["webhook_handlers"]

log = logging.getLogger("hub.webhook")


def _is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


def webhook_handlers(source: Source) -> list[HTTPRouteHandler]:
    """The route handlers serving ``source``: its health check and its delivery endpoint."""
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
        content_type = request.headers.get("content-type", "")
        if not _is_json(content_type):
            log.warning("%s Rejected: content type %r is not JSON", source.prefix, content_type)
            return Response({"success": False, "error": "content type must be application/json"}, status_code=415)
        body = await request.body()
        hub = request.app.state.hub
        for attempt in (1, 2):
            try:
                answer = await handle_webhook(hub, source, request.headers, body)
                break
            except DATABASE_ERRORS as exc:
                # A pooled connection that died (database restart, proxy cut) is discarded by
                # SQLAlchemy; one more try on a fresh connection is safe because a delivery is
                # idempotent (dedupe on the external id, Request-ID on the delivery log).
                if attempt == 1 and getattr(exc, "connection_invalidated", False):
                    log.warning("%s Database connection lost; retrying on a new one", source.prefix)
                    continue
                log.error("%s Database unavailable, delivery not stored: %s", source.prefix, type(exc).__name__)
                log.debug("database error detail", exc_info=True)
                return Response({"success": False, "error": "database unavailable"}, status_code=503)
            except Exception:
                # A bug, not the sender's fault: say so in the log with the traceback, and answer
                # JSON like every other outcome. Nothing was committed (one transaction).
                log.exception("%s Delivery failed with an internal error, nothing stored", source.prefix)
                return Response({"success": False, "error": "internal error"}, status_code=500)
        return Response(answer.body, status_code=answer.status)

    return [webhook_health, receive]
