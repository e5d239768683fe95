"""``GET /api/health``: is this process able to reach its database?"""

from __future__ import annotations

import asyncio

from litestar import Request, Response, get

from hub import db

__all__ = ["health"]


@get("/api/health", tags=["health"], summary="Database reachability")
async def health(request: Request) -> Response:
    """200 with ``database: ok`` when ``SELECT 1`` succeeds, else 503 naming the error class."""
    hub = request.app.state.hub
    try:
        await asyncio.wait_for(db.ping(hub.engine), timeout=hub.settings.database.connect_timeout_seconds)
    except Exception as exc:  # any failure to reach the database is "unhealthy", never a 500
        return Response({"status": "error", "database": f"unreachable ({type(exc).__name__})"}, status_code=503)
    return Response({"status": "ok", "database": "ok", "dialect": hub.engine.dialect.name})
