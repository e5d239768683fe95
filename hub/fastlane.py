"""The webhook fast lane: ``POST /api/<source>/webhook`` answered before Litestar routes anything.

Deliveries are the hub's hot path, and Litestar's routing, middleware stack, request and response
objects cost about a seventh of a delivery's CPU (docs/performance.md). The lane takes exactly
the deliveries (an HTTP ``POST`` to the exact path of a registered source) and answers them with
the function the Litestar route uses too (``hub.routes.webhooks.answer_delivery``): one
definition of what a delivery is answered. Everything else, the webhook's health ``GET``
included, goes to Litestar. Nothing a delivery needs is skipped: a webhook is public (its source
signs it), exempt from CSRF (servers post it, not browsers), and ``answer_delivery`` turns every
error into an answer itself.
"""

from __future__ import annotations

import logging
from typing import Any, Iterable

import msgspec
from litestar import Litestar

from hub.routes.webhooks import INTERNAL_ERROR, BodyTooLarge, answer_delivery
from hub.types import Source

__all__ = ["LaneApp"]

log = logging.getLogger("hub.webhook")

_encode = msgspec.json.Encoder().encode


class _Disconnected(Exception):
    """The sender went away before its body was in: nobody to answer."""


class LaneApp(Litestar):
    """A Litestar app whose ``POST /api/<source>/webhook`` requests take the fast lane."""

    def __init__(self, *args: Any, lanes: Iterable[Source], max_body_bytes: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lanes = {f"/api/{source.name}/webhook": source for source in lanes}
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Deliveries to the lane, the rest to Litestar."""
        if scope["type"] == "http" and scope["method"] == "POST":
            source = self.lanes.get(scope["path"])
            hub = getattr(self.state, "hub", None)
            if source is not None and hub is not None:
                await self._deliver(hub, source, scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    async def _deliver(self, hub: Any, source: Source, scope: Any, receive: Any, send: Any) -> None:
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:  # ASGI: names lower-case; the first of a repeated name counts
            headers.setdefault(name.decode("latin-1"), value.decode("latin-1"))
        limit = self.max_body_bytes

        async def read_body() -> bytes:
            declared = headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                raise BodyTooLarge
            chunks: list[bytes] = []
            size = 0
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise _Disconnected
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise BodyTooLarge
                chunks.append(chunk)
                if not message.get("more_body", False):
                    return chunks[0] if len(chunks) == 1 else b"".join(chunks)

        try:
            status, body = await answer_delivery(hub, source, headers, read_body)
        except _Disconnected:
            log.info("%s Sender disconnected before its body was in: nothing stored", source.prefix)
            return
        except Exception:  # answer_delivery answers every delivery's error; this is the lane's own bug
            log.exception("%s Delivery failed with an internal error, nothing stored", source.prefix)
            status, body = INTERNAL_ERROR
        encoded = _encode(body)
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(encoded))]})
        await send({"type": "http.response.body", "body": encoded})
