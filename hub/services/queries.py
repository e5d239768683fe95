"""The console's reads: lists in keyset pages, capped totals, and the overview's figures.

Every list is ordered by columns an index ends in (hub/models.py: one index per filter), and a
page continues *after* the last row shown (a cursor) instead of skipping an offset: the first
page and the ten-thousandth cost the same. Totals are counted up to ``COUNT_CAP`` and shown as
"1,000+" past it, because an exact count reads every matching row.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from hub.models import Comment, Delivery, ExternalIssue, Issue, IssueEvent, IssueLabel, Job, Label, as_utc, utcnow

__all__ = ["COUNT_CAP", "IssueFilters", "Page", "decode_cursor", "delivery", "issue_detail", "list_deliveries",
           "list_issues", "list_jobs", "overview"]

ISSUES, DELIVERIES, JOBS = Issue.__table__, Delivery.__table__, Job.__table__
LABELS, ISSUE_LABELS, LINKS = Label.__table__, IssueLabel.__table__, ExternalIssue.__table__
COMMENTS, EVENTS = Comment.__table__, IssueEvent.__table__

#: Counted past this, a total is shown as "COUNT_CAP+".
COUNT_CAP = 1000
PER_PAGE = 50


@dataclass
class Page:
    """One page of a list: its rows, the cursor of the next page (None on the last), a capped total."""

    rows: list[dict[str, Any]]
    next_cursor: str | None
    total: int
    total_capped: bool


@dataclass
class IssueFilters:
    """The issue list's filters, as checked query parameters."""

    status: str | None = None
    priority: str | None = None
    label: str | None = None
    source: str | None = None
    assignee: str | None = None
    q: str | None = None
    sort: str = "newest"
    #: Issues with a link to this source (the API's ``source``: made by it, or mirrored to it).
    link_source: str | None = None


def encode_cursor(values: list[Any]) -> str:
    """An opaque cursor for the row after which the next page starts."""
    plain = [value.isoformat() if isinstance(value, datetime) else value for value in values]
    return base64.urlsafe_b64encode(json.dumps(plain).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, kinds: tuple[type, ...]) -> list[Any]:
    """The values of ``cursor`` typed as ``kinds`` (datetime, int, str); ValueError when it is not one."""
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, UnicodeDecodeError):
        raise ValueError("malformed cursor") from None
    if not isinstance(values, list) or len(values) != len(kinds):
        raise ValueError("malformed cursor")
    typed = []
    for value, kind in zip(values, kinds):
        if kind is datetime:
            if not isinstance(value, str):
                raise ValueError("malformed cursor")
            typed.append(as_utc(datetime.fromisoformat(value)))
        elif kind is int:
            if not isinstance(value, int) or isinstance(value, bool) or not -2**63 <= value < 2**63:
                raise ValueError("malformed cursor")
            typed.append(value)
        else:
            if not isinstance(value, str) or len(value) > 200 or not value.isprintable():
                raise ValueError("malformed cursor")
            typed.append(value)
    return typed


async def _capped_count(connection: Any, query: sa.Select) -> tuple[int, bool]:
    limited = query.with_only_columns(sa.literal(1), maintain_column_froms=True).order_by(None).limit(COUNT_CAP + 1).subquery()
    count = (await connection.execute(sa.select(sa.func.count()).select_from(limited))).scalar_one()
    return min(count, COUNT_CAP), count > COUNT_CAP


async def _keyset_page(connection: Any, query: sa.Select, order: list[sa.Column], kinds: tuple[type, ...],
                       descending: bool, cursor: str | None, per_page: int, offset: int = 0
                       ) -> tuple[list[dict[str, Any]], str | None]:
    """One page of ``query`` in ``order`` (columns that make a unique key), continuing after
    ``cursor``: its rows, and the cursor of the next page (None on the last). Rows come from
    the order's index, never counted or skipped (but for ``offset``)."""
    key = sa.tuple_(*order)
    ordered = query.order_by(*(column.desc() if descending else column for column in order))
    if cursor:
        after = sa.tuple_(*(sa.literal(value, type_=column.type)
                            for value, column in zip(decode_cursor(cursor, kinds), order)))
        ordered = ordered.where(key < after if descending else key > after)
    if offset:
        ordered = ordered.offset(offset)
    rows = [dict(row) for row in (await connection.execute(ordered.limit(per_page + 1))).mappings()]
    more = len(rows) > per_page
    rows = rows[:per_page]
    return rows, encode_cursor([rows[-1][column.name] for column in order]) if more else None


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _issue_query(filters: IssueFilters, label_id: str | None = None) -> sa.Select:
    query = sa.select(ISSUES)
    for name in ("status", "priority", "source", "assignee"):
        value = getattr(filters, name)
        if value:
            query = query.where(ISSUES.c[name] == value)
    if label_id is not None:
        # EXISTS on the (issue_id, label_id) key, with the label's id as a constant (looked up
        # first): the planner knows from label_id's statistics how common the label is, and
        # walks the order's index checking each row, or starts from the label's rows when they
        # are few. Joined by name instead, it guessed half of all issues and counted a 1% label
        # in 560 ms at 1M issues.
        query = query.where(sa.exists().where(ISSUE_LABELS.c.issue_id == ISSUES.c.id,
                                              ISSUE_LABELS.c.label_id == label_id))
    if filters.link_source:
        query = query.where(sa.exists().where(LINKS.c.issue_id == ISSUES.c.id, LINKS.c.source == filters.link_source))
    if filters.q:
        # Title by substring (a trigram index on PostgreSQL), identifier exactly (its unique index).
        query = query.where(sa.or_(ISSUES.c.title.ilike(_like(filters.q), escape="\\"),
                                   ISSUES.c.identifier == filters.q.strip().upper()))
    return query


async def list_issues(engine: Any, filters: IssueFilters, cursor: str | None = None,
                      per_page: int = PER_PAGE, offset: int = 0) -> Page:
    """A page of issues: newest first, or by priority (P0 first, oldest first within one).

    ``cursor`` continues after a page's last row; ``offset`` (the API's old ``page``) skips rows,
    which costs what it skips: kept for callers that page by number.
    """
    label_id = None
    if filters.label:
        async with engine.connect() as connection:
            label_id = (await connection.execute(
                sa.select(LABELS.c.id).where(LABELS.c.name == filters.label))).scalar()
        if label_id is None:
            return Page([], None, 0, False)
    query = _issue_query(filters, label_id)
    by_priority = filters.sort == "priority"
    if by_priority:
        order, kinds, descending = [ISSUES.c.priority, ISSUES.c.created_at, ISSUES.c.number], (str, datetime, int), False
    else:
        order, kinds, descending = [ISSUES.c.created_at, ISSUES.c.number], (datetime, int), True
    async with engine.connect() as connection:
        # A search is not counted: a substring that is common in every title ("handler") makes
        # the trigram index intersect long lists just to count, while the page itself walks
        # the order's index and stops at 51 rows. Its total is the page's, "+" when more follow.
        total, capped = (0, False) if filters.q else await _capped_count(connection, query)
        rows, next_cursor = await _keyset_page(connection, query, order, kinds, descending, cursor, per_page, offset)
        await _add_labels(connection, rows)
    if filters.q:
        total, capped = offset + len(rows), next_cursor is not None
    return Page(rows, next_cursor, total, capped)


async def _add_labels(connection: Any, rows: list[dict[str, Any]]) -> None:
    by_id = {row["id"]: row for row in rows}
    for row in rows:
        row["labels"] = []
    if not by_id:
        return
    labels = await connection.execute(
        sa.select(ISSUE_LABELS.c.issue_id, LABELS.c.name, LABELS.c.color)
        .join(LABELS, LABELS.c.id == ISSUE_LABELS.c.label_id)
        .where(ISSUE_LABELS.c.issue_id.in_(list(by_id))).order_by(LABELS.c.name))
    for issue_id, name, color in labels:
        by_id[issue_id]["labels"].append({"name": name, "color": color})


async def issue_detail(engine: Any, identifier: str) -> dict[str, Any] | None:
    """One issue with its labels, links, comments, jobs and timeline (oldest first); None when unknown.

    Read as of one moment (one snapshot on PostgreSQL, one transaction on SQLite): a job shown
    done has its section in the description shown beside it.
    """
    async with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            await connection.execution_options(isolation_level="REPEATABLE READ")
        row = (await connection.execute(sa.select(ISSUES).where(ISSUES.c.identifier == identifier))).mappings().first()
        if row is None:
            return None
        issue = dict(row)
        await _add_labels(connection, [issue])
        issue_id = issue["id"]

        async def many(table: sa.Table, *order: Any) -> list[dict[str, Any]]:
            result = await connection.execute(sa.select(table).where(table.c.issue_id == issue_id).order_by(*order))
            return [dict(item) for item in result.mappings()]

        issue["links"] = await many(LINKS, LINKS.c.created_at)
        issue["comments"] = await many(COMMENTS, COMMENTS.c.created_at)
        issue["jobs"] = await many(JOBS, JOBS.c.created_at)
        issue["events"] = await many(EVENTS, EVENTS.c.created_at, EVENTS.c.id)
        deliveries = await connection.execute(
            sa.select(DELIVERIES.c.id, DELIVERIES.c.outcome, DELIVERIES.c.event, DELIVERIES.c.created_at)
            .where(DELIVERIES.c.issue_id == issue_id).order_by(DELIVERIES.c.created_at.desc()).limit(20))
        issue["deliveries"] = [dict(item) for item in deliveries.mappings()]
    return issue


_DELIVERY_LIST_COLUMNS = [DELIVERIES.c[name] for name in
                          ("id", "source", "event", "outcome", "status", "reason", "issue_id", "created_at")]


async def list_deliveries(engine: Any, *, source: str | None = None, outcome: str | None = None,
                          since: datetime | None = None, cursor: str | None = None, per_page: int = PER_PAGE) -> Page:
    """A page of the delivery log, newest first, with the identifier of the issue each one touched."""
    query = sa.select(*_DELIVERY_LIST_COLUMNS, ISSUES.c.identifier).select_from(
        DELIVERIES.outerjoin(ISSUES, ISSUES.c.id == DELIVERIES.c.issue_id))
    if source:
        query = query.where(DELIVERIES.c.source == source)
    if outcome:
        query = query.where(DELIVERIES.c.outcome == outcome)
    if since:
        query = query.where(DELIVERIES.c.created_at >= since)
    async with engine.connect() as connection:
        total, capped = await _capped_count(connection, query)
        rows, next_cursor = await _keyset_page(connection, query, [DELIVERIES.c.created_at, DELIVERIES.c.id],
                                               (datetime, str), True, cursor, per_page)
    return Page(rows, next_cursor, total, capped)


async def delivery(engine: Any, delivery_id: str) -> dict[str, Any] | None:
    """One delivery-log row (headers, body, answer) with its issue's identifier; None when unknown."""
    async with engine.connect() as connection:
        row = (await connection.execute(
            sa.select(DELIVERIES, ISSUES.c.identifier)
            .select_from(DELIVERIES.outerjoin(ISSUES, ISSUES.c.id == DELIVERIES.c.issue_id))
            .where(DELIVERIES.c.id == delivery_id))).mappings().first()
    return dict(row) if row is not None else None


async def list_jobs(engine: Any, *, status: str | None = None, cursor: str | None = None,
                    per_page: int = PER_PAGE) -> Page:
    """A page of jobs, most recently changed first, with their issue's identifier."""
    query = sa.select(JOBS.c.id, JOBS.c.kind, JOBS.c.source, JOBS.c.status, JOBS.c.attempts, JOBS.c.run_after,
                      JOBS.c.last_error, JOBS.c.note, JOBS.c.updated_at, ISSUES.c.identifier).select_from(
        JOBS.join(ISSUES, ISSUES.c.id == JOBS.c.issue_id))
    if status:
        query = query.where(JOBS.c.status == status)
    async with engine.connect() as connection:
        total, capped = await _capped_count(connection, query)
        rows, next_cursor = await _keyset_page(connection, query, [JOBS.c.updated_at, JOBS.c.id], (datetime, str),
                                               True, cursor, per_page)
    return Page(rows, next_cursor, total, capped)


async def overview(engine: Any, now: datetime | None = None) -> dict[str, Any]:
    """The last day: deliveries per outcome, issues created per hour, queue depth, failed jobs,
    the last delivery's time. Each figure is one indexed range read."""
    now = now or utcnow()
    day_ago = now - timedelta(days=1)
    async with engine.connect() as connection:
        outcomes = dict((await connection.execute(
            sa.select(DELIVERIES.c.outcome, sa.func.count()).where(DELIVERIES.c.created_at >= day_ago)
            .group_by(DELIVERIES.c.outcome))).all())
        created = (await connection.execute(
            sa.select(ISSUES.c.created_at).where(ISSUES.c.created_at >= day_ago))).scalars().all()
        jobs = dict((await connection.execute(
            sa.select(JOBS.c.status, sa.func.count()).where(JOBS.c.status.in_(("queued", "running", "failed")))
            .group_by(JOBS.c.status))).all())
        last = (await connection.execute(sa.select(sa.func.max(DELIVERIES.c.created_at)))).scalar()
    hours = [0] * 24
    for at in created:
        index = int((as_utc(at) - day_ago).total_seconds() // 3600)
        hours[min(max(index, 0), 23)] += 1
    return {"outcomes": outcomes, "issues_per_hour": hours, "hours_start": day_ago, "queued": jobs.get("queued", 0),
            "running": jobs.get("running", 0), "failed": jobs.get("failed", 0), "last_delivery": as_utc(last)}
