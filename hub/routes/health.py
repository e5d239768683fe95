"""``GET /api/health``: is this process able to reach its database?"""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Request, Response, get

from hub import db

__all__ = ["health"]


@get("/api/health", tags=["health"], summary="Database reachability")
async def health(request: Request) -> Response:
    """200 with ``database: ok`` when ``SELECT 1`` succeeds, else 503 naming the error class."""
    hub = request.app.state.hub
    try:
        await _ping_within(request.app.state, hub.engine, hub.settings.database.connect_timeout_seconds)
    except Exception as exc:  # any failure to reach the database is "unhealthy", never a 500
        return Response({"status": "error", "database": f"unreachable ({type(exc).__name__})"}, status_code=503)
    return Response({"status": "ok", "database": "ok", "dialect": hub.engine.dialect.name})


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
