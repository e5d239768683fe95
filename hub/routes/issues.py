"""``GET /api/issues`` and ``GET /api/issues/{identifier}``: issues with labels, links, comments, jobs and
their timeline (``events``). Scope ``read``.

Query parameters are checked here, not by the database: a NUL or an offset past 64 bits would
otherwise reach PostgreSQL and come back as a 500.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from types import SimpleNamespace
from typing import Any, Literal

import re

from litestar import Request, get
from litestar.exceptions import ClientException, NotFoundException
from litestar.params import FromPath, FromQuery
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.auth import scope_opt
from hub.models import Comment, ExternalIssue, Issue, IssueEvent, IssueLabel, Job, Label, as_utc
from hub.services import queries

__all__ = ["checked_identifier", "get_issue", "issue_json", "list_issues", "load_issue_json"]

MAX_PAGE = 100_000
MAX_PER_PAGE = 200
MAX_FILTER_LENGTH = 200
_IDENTIFIER = re.compile(r"[A-Z][A-Z0-9]*-[1-9][0-9]{0,17}")


def checked_identifier(identifier: str) -> str:
    """``identifier`` when it has the shape ``PREFIX-<n>``; else 400 (before any query)."""
    if not _IDENTIFIER.fullmatch(identifier):
        raise ClientException("identifier must look like CHIPP-5")
    return identifier


def _checked_text(name: str, value: str | None) -> str | None:
    if value is not None and (len(value) > MAX_FILTER_LENGTH or not value.isprintable()):
        raise ClientException(f"{name} must be printable text of at most {MAX_FILTER_LENGTH} characters")
    return value


def _checked_int(name: str, value: int, highest: int) -> int:
    if not 1 <= value <= highest:
        raise ClientException(f"{name} must be between 1 and {highest}")
    return value


def _time(value: Any) -> str | None:
    return as_utc(value).isoformat() if value is not None else None


#: The issue's columns the API shows: all of them but the internal number (``identifier`` has
#: it), so a column added to ``chipp_issue`` appears here without an edit.
_ISSUE_COLUMNS = tuple(column.name for column in Issue.__table__.columns if column.name != "number")


def issue_json(issue: Any, related: dict[str, dict[str, list[dict[str, Any]]]]) -> dict[str, Any]:
    """The API's JSON of an issue (an Issue, or any object with its columns as attributes): its
    columns (times as ISO 8601 in UTC) and its related rows."""
    values = {name: getattr(issue, name) for name in _ISSUE_COLUMNS}
    return {
        **{name: _time(value) if isinstance(value, datetime) else value for name, value in values.items()},
        **{name: rows.get(issue.id, []) for name, rows in related.items()},
    }


async def _related(session: AsyncSession, ids: list[str]) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Labels, links, comments and jobs of many issues, one query each (no lazy loads under async)."""
    related: dict[str, dict[str, list[dict[str, Any]]]] = {
        name: defaultdict(list) for name in ("labels", "links", "comments", "jobs", "events")
    }
    if not ids:
        return related
    labels = await session.exec(
        select(IssueLabel.issue_id, Label.name, Label.color)
        .join(Label, col(Label.id) == col(IssueLabel.label_id))
        .where(col(IssueLabel.issue_id).in_(ids))
        .order_by(Label.name)
    )
    for issue_id, name, color in labels:
        related["labels"][issue_id].append({"name": name, "color": color})
    for link in await session.exec(select(ExternalIssue).where(col(ExternalIssue.issue_id).in_(ids))):
        related["links"][link.issue_id].append({
            "source": link.source, "external_id": link.external_id, "external_url": link.external_url,
            "metadata": link.meta, "created_at": _time(link.created_at),
        })
    comments = await session.exec(
        select(Comment).where(col(Comment.issue_id).in_(ids)).order_by(Comment.created_at)
    )
    for comment in comments:
        related["comments"][comment.issue_id].append({
            "id": comment.id, "author": comment.author, "body": comment.body, "created_at": _time(comment.created_at),
        })
    for job in await session.exec(select(Job).where(col(Job.issue_id).in_(ids)).order_by(Job.created_at)):
        related["jobs"][job.issue_id].append({
            "id": job.id, "kind": job.kind, "status": job.status, "attempts": job.attempts,
            "last_error": job.last_error, "note": job.note, "run_after": _time(job.run_after),
            "created_at": _time(job.created_at), "updated_at": _time(job.updated_at),
        })
    events = await session.exec(
        select(IssueEvent).where(col(IssueEvent.issue_id).in_(ids)).order_by(IssueEvent.created_at, IssueEvent.id)
    )
    for event in events:
        related["events"][event.issue_id].append({
            "kind": event.kind, "actor": event.actor, "value": event.value, "text": event.text,
            "created_at": _time(event.created_at),
        })
    return related


@get("/api/issues", tags=["issues"], summary="List issues, newest first", opt=scope_opt("read"))
async def list_issues(
    request: Request,
    status: FromQuery[Literal["open", "closed"] | None] = None,
    label: FromQuery[str | None] = None,
    source: FromQuery[str | None] = None,
    priority: FromQuery[Literal["P0", "P1", "P2", "P3", "P4"] | None] = None,
    assignee: FromQuery[str | None] = None,
    q: FromQuery[str | None] = None,
    sort: FromQuery[Literal["newest", "priority"]] = "newest",
    after: FromQuery[str | None] = None,
    page: FromQuery[int] = 1,
    per_page: FromQuery[int] = 50,
) -> dict[str, Any]:
    """Issues filtered by status, priority, label name, link source, assignee and a search of title and
    identifier; newest first or by priority. ``after`` (the previous answer's ``next``) pages from
    an index at any depth; ``page`` skips rows (slower the deeper). ``total`` is counted up to
    1,000 (``total_capped`` past it)."""
    label, source = _checked_text("label", label), _checked_text("source", source)
    assignee, q = _checked_text("assignee", assignee), _checked_text("q", q)
    if after is not None and (len(after) > 400 or not after.isascii() or not after.isprintable()):
        raise ClientException("malformed cursor")
    page, per_page = _checked_int("page", page, MAX_PAGE), _checked_int("per_page", per_page, MAX_PER_PAGE)
    filters = queries.IssueFilters(status=status, priority=priority, label=label, link_source=source,
                                   assignee=assignee, q=q, sort=sort)
    engine = request.app.state.hub.engine
    try:
        result = await queries.list_issues(engine, filters, after, per_page, 0 if after else (page - 1) * per_page)
    except ValueError as exc:  # a cursor that decodes to nothing the list can continue from
        raise ClientException(str(exc)) from None
    async with AsyncSession(engine) as session:
        related = await _related(session, [row["id"] for row in result.rows])
    return {
        "items": [issue_json(SimpleNamespace(**row), related) for row in result.rows],
        "page": page,
        "per_page": per_page,
        "total": result.total,
        "total_capped": result.total_capped,
        "next": result.next_cursor,
    }


async def load_issue_json(engine: Any, identifier: str) -> dict[str, Any]:
    """The API's JSON of one issue (labels, links, comments, jobs, events); 404 when unknown."""
    async with AsyncSession(engine) as session:
        issue = (await session.exec(select(Issue).where(Issue.identifier == identifier))).first()
        if issue is None:
            raise NotFoundException(f"no issue {identifier}")
        related = await _related(session, [issue.id])
    return issue_json(issue, related)


@get("/api/issues/{identifier:str}", tags=["issues"], summary="One issue by identifier (CHIPP-5)",
     opt=scope_opt("read"))
async def get_issue(request: Request, identifier: FromPath[str]) -> dict[str, Any]:
    """One issue with its labels, external links, comments, jobs and timeline; 404 when unknown."""
    return await load_issue_json(request.app.state.hub.engine, checked_identifier(identifier))
