"""Admin routes (scope ``admin``): the token list and retrying a failed job."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from litestar import Request, get, post
from litestar.exceptions import ClientException, NotFoundException
from litestar.params import FromPath

from hub.auth import scope_opt
from hub.auth.tokens import list_tokens
from hub.models import Job, as_utc, utcnow

__all__ = ["retry_job", "tokens"]

JOBS = Job.__table__


@get("/api/tokens", tags=["admin"], summary="API tokens: name, scope, created, last used", opt=scope_opt("admin"))
async def tokens(request: Request) -> dict[str, Any]:
    """Every API token's name, scope, creation and last use; never the token or its digest."""
    rows = await list_tokens(request.app.state.hub.engine)
    return {"items": [{**row, "created_at": as_utc(row["created_at"]).isoformat(),
                       "last_used_at": row["last_used_at"] and as_utc(row["last_used_at"]).isoformat()}
                      for row in rows]}


@post("/api/jobs/{job_id:str}/retry", tags=["admin"], summary="Queue a failed job again", opt=scope_opt("admin"),
      status_code=200)
async def retry_job(request: Request, job_id: FromPath[str]) -> dict[str, Any]:
    """A failed job runs again now (its attempts start over); 404 unknown, 409 when it has not failed."""
    if len(job_id) > 64 or not job_id.isprintable():
        raise ClientException("malformed job id")
    hub = request.app.state.hub
    now = utcnow()
    async with hub.engine.begin() as connection:
        status = (await connection.execute(sa.select(JOBS.c.status).where(JOBS.c.id == job_id))).scalar()
        if status is None:
            raise NotFoundException(f"no job {job_id}")
        if status != "failed":
            raise ClientException(f"job {job_id} is {status}, not failed", status_code=409)
        await connection.execute(sa.update(JOBS).where(JOBS.c.id == job_id).values(
            status="queued", attempts=0, run_after=now, updated_at=now, locked_by=None, locked_until=None))
    hub.notify_jobs()
    return {"id": job_id, "status": "queued"}
