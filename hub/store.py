"""The hub's writes and reads, as small functions over an async SQLAlchemy connection.

Updates with changes, replays, the API and the worker use these: SQLAlchemy Core, one statement
per row, no ORM unit-of-work, conflicts resolved by the database (ON CONFLICT). The webhook hot
path (a new issue, a duplicate) is in ``hub.pg_ingest`` and ``hub.sqlite_ingest``, which share
this module's table objects and ``storable``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable, Mapping

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.models import as_utc, Comment, Delivery, ExternalIssue, Issue, IssueLabel, IssueNumber, Job, Label, new_id, utcnow
from hub.types import Change, IssueView, LinkView

__all__ = [
    "LinkedIssue",
    "apply_changes",
    "find_linked_issue",
    "issue_view",
    "load_issue_with_link",
    "record_delivery",
    "replace_delivery",
    "storable",
]

ISSUES = Issue.__table__
LINKS = ExternalIssue.__table__
LABELS = Label.__table__
ISSUE_LABELS = IssueLabel.__table__
COMMENTS = Comment.__table__
DELIVERIES = Delivery.__table__
JOBS = Job.__table__
NUMBERS = IssueNumber.__table__


#: For driver SQL (hub.pg_ingest, hub.pg_batch, hub.sqlite_ingest): the issue and link columns
#: ``issue_view`` and ``link_view`` read, and the join they come from.
LINKED_ISSUE_COLUMNS = ("i.id, i.identifier, i.title, i.description, i.priority, i.status, i.assignee, i.created_at, "
                        "i.closed_at, l.source, l.external_id, l.external_url, l.metadata")
LINKED_ISSUE_FROM = f"{LINKS.name} AS l JOIN {ISSUES.name} AS i ON i.id = l.issue_id"


def storable(value: Any) -> Any:
    """``value`` with NUL characters replaced (U+FFFD), recursively.

    PostgreSQL cannot store U+0000 in text or JSONB, and a sender's error message may carry one;
    the row must still be written, so the character is replaced rather than the delivery refused.
    """
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    if isinstance(value, dict):
        return {storable(key): storable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [storable(item) for item in value]
    return value


def _insert(connection: AsyncConnection, table: sa.Table) -> Any:
    """A dialect-specific INSERT that supports ON CONFLICT."""
    module = postgresql if connection.dialect.name == "postgresql" else sqlite
    return module.insert(table)


@dataclass(frozen=True)
class LinkedIssue:
    """An issue found through its external link."""

    issue: IssueView
    link: LinkView


def issue_view(row: Mapping[str, Any]) -> IssueView:
    """Build the read-only IssueView hooks receive from a ``chipp_issue`` row."""
    return IssueView(
        id=row["id"],
        identifier=row["identifier"],
        title=row["title"],
        description=row["description"],
        priority=row["priority"],
        status=row["status"],
        assignee=row["assignee"],
        created_at=as_utc(row["created_at"]),
        closed_at=as_utc(row["closed_at"]),
    )


def link_view(row: Mapping[str, Any]) -> LinkView:
    """Build the read-only LinkView hooks receive from a ``chipp_external_issue`` row."""
    return LinkView(
        source=row["source"],
        external_id=row["external_id"],
        external_url=row["external_url"],
        metadata=row["metadata"] or {},
    )


async def find_linked_issue(connection: AsyncConnection, source: str, external_id: str) -> LinkedIssue | None:
    """The issue linked to ``(source, external_id)``, or None."""
    query = (
        sa.select(ISSUES, LINKS.c.source, LINKS.c.external_id, LINKS.c.external_url, LINKS.c.metadata)
        .join(LINKS, LINKS.c.issue_id == ISSUES.c.id)
        .where(LINKS.c.source == source, LINKS.c.external_id == storable(external_id))
    )
    row = (await connection.execute(query)).mappings().first()
    if row is None:
        return None
    return LinkedIssue(issue=issue_view(row), link=link_view(row))


async def attach_label(
    connection: AsyncConnection, issue_id: str, name: str, color: str, label_ids: dict[str, str] | None = None
) -> None:
    """Attach the label ``name`` to the issue, creating the label once (shared by all issues).

    ``label_ids`` caches name -> id for the process: labels are created once and never change,
    so two statements per issue are saved. The foreign key still checks the id.
    """
    label_id = label_ids.get(name) if label_ids is not None else None
    if label_id is None:
        label_id, created = await _label_id(connection, name, color)
        # Only a committed row may be cached: an id this transaction just created does not
        # exist for anyone else until it commits, and never if it rolls back.
        if label_ids is not None and not created:
            label_ids[name] = label_id
    await connection.execute(
        _insert(connection, ISSUE_LABELS)
        .values(issue_id=issue_id, label_id=label_id)
        .on_conflict_do_nothing(index_elements=["issue_id", "label_id"])
    )


async def _label_id(connection: AsyncConnection, name: str, color: str) -> tuple[str, bool]:
    """The label's id, and whether this transaction created it."""
    created = (
        _insert(connection, LABELS)
        .values(id=new_id(), name=storable(name), color=storable(color), created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["name"])
        .returning(LABELS.c.id)
    )
    label_id = (await connection.execute(created)).scalar()
    if label_id is not None:
        return label_id, True
    existing = sa.select(LABELS.c.id).where(LABELS.c.name == storable(name))
    return (await connection.execute(existing)).scalar_one(), False


async def record_delivery(
    connection: AsyncConnection,
    *,
    source: str,
    request_id: str | None,
    event: str,
    outcome: str,
    reason: str | None,
    issue_id: str | None,
    headers: Mapping[str, str],
    response: Mapping[str, Any],
    changes: Iterable[Mapping[str, Any]] = (),
    delivery_id: str | None = None,
) -> None:
    """Append a row to the delivery log (``delivery_id``: its id, when the caller needs it)."""
    await connection.execute(
        sa.insert(DELIVERIES),
        storable({
            "id": delivery_id or new_id(),
            "source": source,
            "request_id": request_id,
            "event": event,
            "outcome": outcome,
            "reason": reason,
            "issue_id": issue_id,
            "headers": dict(headers),
            "response": dict(response),
            "changes": list(changes) or None,
        }) | {"created_at": utcnow()},
    )


async def replace_delivery(
    connection: AsyncConnection, delivery_id: str, *, outcome: str, reason: str | None, issue_id: str | None,
    response: Mapping[str, Any], changes: Iterable[Mapping[str, Any]] = (),
) -> None:
    """Rewrite the outcome of a delivery-log row written earlier in the same delivery."""
    await connection.execute(
        sa.update(DELIVERIES).where(DELIVERIES.c.id == delivery_id).values(
            storable({"outcome": outcome, "reason": reason, "issue_id": issue_id, "response": dict(response),
                      "changes": list(changes) or None})
        )
    )


async def apply_changes(
    connection: AsyncConnection, issue: IssueView, changes: Iterable[Change], author: str,
    label_ids: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Apply ``external_update``'s changes to an issue; return the ones that changed something.

    Each change is idempotent: closing a closed issue, or a comment whose key the issue already
    has, changes nothing and is left out of the result.
    """
    applied: list[dict[str, Any]] = []
    now = utcnow()
    status = issue.status
    for change in changes:
        update: dict[str, Any] = {}
        if change.kind == "close" and status != "closed":
            update = {"status": "closed", "closed_at": now}
        elif change.kind == "reopen" and status != "open":
            update = {"status": "open", "closed_at": None}
        elif change.kind == "assign" and change.value != issue.assignee:
            update = {"assignee": change.value}
        elif change.kind == "priority" and change.value and change.value != issue.priority:
            update = {"priority": change.value}
        elif change.kind == "comment":
            if not await _add_comment(connection, issue.id, change, author, now):
                continue
        elif change.kind == "label" and change.value:
            await attach_label(connection, issue.id, change.value, change.color, label_ids)
        else:
            continue
        if update:
            status = update.get("status", status)
            await connection.execute(
                sa.update(ISSUES).where(ISSUES.c.id == issue.id).values(**storable(update), updated_at=now)
            )
        applied.append({"kind": change.kind, **({"value": change.value} if change.value else {}),
                        **({"text": change.text} if change.text else {})})
    return applied


async def _add_comment(connection: AsyncConnection, issue_id: str, change: Change, author: str, now: datetime) -> bool:
    statement = (
        _insert(connection, COMMENTS)
        .values(id=new_id(), issue_id=issue_id, author=author, body=storable(change.text), key=storable(change.key),
                created_at=now)
        .on_conflict_do_nothing(index_elements=["issue_id", "key"])
        .returning(COMMENTS.c.id)
    )
    return (await connection.execute(statement)).first() is not None


async def load_issue_with_link(connection: AsyncConnection, issue_id: str, source: str) -> LinkedIssue | None:
    """The issue and its (first) link from ``source``, or None when the issue is gone."""
    query = (
        sa.select(ISSUES, LINKS.c.source, LINKS.c.external_id, LINKS.c.external_url, LINKS.c.metadata)
        .join(LINKS, LINKS.c.issue_id == ISSUES.c.id)
        .where(ISSUES.c.id == issue_id, LINKS.c.source == source)
        .order_by(LINKS.c.created_at)
        .limit(1)
    )
    row = (await connection.execute(query)).mappings().first()
    if row is None:
        return None
    return LinkedIssue(issue=issue_view(row), link=link_view(row))
