"""``GET /api/health``: is this process able to reach its database? Public, so status only.

The dialect is detail for operators: shown only to a caller with ``read``. An unhealthy answer
has none: the caller could not be authenticated without the database (and a lookup could hang).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from litestar import Request, Response, get

from hub import db
from hub.auth import PUBLIC, allows, scope_opt
from hub.auth.guard import principal_of

__all__ = ["health"]

log = logging.getLogger("hub")


@get("/api/health", tags=["health"], summary="Database reachability", opt=scope_opt(PUBLIC))
async def health(request: Request) -> Response:
    """200 ``{"status": "ok"}`` when ``SELECT 1`` succeeds (with ``read``, the dialect too), else 503."""
    hub = request.app.state.hub
    try:
        await _ping_within(request.app.state, hub.engine, hub.settings.database.connect_timeout_seconds)
    except Exception as exc:  # any failure to reach the database is "unhealthy", never a 500
        log.warning("Health check: database unreachable (%s)", type(exc).__name__)
        return Response({"status": "error"}, status_code=503)
    detail = {"database": "ok", "dialect": hub.engine.dialect.name} if await _may_see_detail(request) else {}
    return Response({"status": "ok", **detail})


async def _may_see_detail(request: Request) -> bool:
    # Only callers who sent credentials cost a lookup: a load balancer's probe stays one query.
    if "authorization" not in request.headers and not request.cookies:
        return False
    try:
        principal = await principal_of(request)
    except Exception:  # the database went away since the ping: no detail, still a plain health answer
        return False
    return principal is not None and allows(principal.scope, "read")


async def _ping_within(state: Any, engine: Any, timeout: float) -> None:
    """``SELECT 1`` within ``timeout`` seconds, or TimeoutError at ``timeout``.

    ``asyncio.wait_for`` waits for the cancelled ping to finish: a query on a connection whose
    packets vanish (a network partition) ignores the cancel until the driver gives up, 15 s with
    a 5 s timeout. So the answer does not wait for the ping, and while one ping hangs, later
    probes wait on that same ping instead of tying up one more pooled connection each.
    """
    probe: asyncio.Task[None] | None = getattr(state, "health_probe", None)
    if probe is None or probe.done():
        probe = asyncio.ensure_future(db.ping(engine))
        probe.add_done_callback(_retrieve)
        state.health_probe = probe
    done, _ = await asyncio.wait({probe}, timeout=timeout)
    if not done:
        raise TimeoutError(f"no answer from the database within {timeout:g} s")
    probe.result()


def _retrieve(task: "asyncio.Task[None]") -> None:
    # A ping left hanging fails on its own later; its error was already answered as 503.
    if not task.cancelled():
        task.exception()
