"""The webhook hot path on SQLite: the stdlib driver on one thread, one hop per delivery.

Measured (docs/performance.md): through SQLAlchemy and aiosqlite every statement is a round trip
to aiosqlite's thread, about 1.1 ms of CPU, and a new issue took ten of them; the same
statements cost well under 0.1 ms each on the driver directly. Here each call runs its whole
transaction on one dedicated thread with its own connection, so the event loop never waits on
SQLite's lock and a delivery costs one thread hop. Rows are written in the formats SQLAlchemy
reads back (``hub.models``): datetimes as UTC text, JSON as text.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, TypeVar

from hub.ingest_store import Created, created_response, dedupe_response
from hub.models import new_id
from hub.store import DELIVERIES, ISSUE_LABELS, ISSUES, JOBS, LABELS, LINKED_ISSUE_COLUMNS, LINKED_ISSUE_FROM, LINKS, \
    NUMBERS, LinkedIssue, storable
from hub.types import IssueDraft, IssueView, LinkView

__all__ = ["SqliteIngestStore"]

T = TypeVar("T")

_FIND_LINKED = f"SELECT {LINKED_ISSUE_COLUMNS} FROM {LINKED_ISSUE_FROM} WHERE l.source = ? AND l.external_id = ?"
_NUMBER = f"INSERT INTO {NUMBERS.name} DEFAULT VALUES RETURNING number"
_ISSUE = f"""
INSERT INTO {ISSUES.name}
    (id, number, identifier, title, description, priority, status, assignee, created_at, updated_at, closed_at)
VALUES (?, ?, ?, ?, ?, ?, 'open', ?, ?, ?, NULL)
"""
_LINK = f"""
INSERT INTO {LINKS.name} (id, issue_id, source, external_id, external_url, metadata, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (source, external_id) DO NOTHING RETURNING id
"""
_NEW_LABEL = f"INSERT INTO {LABELS.name} (id, name, color, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (name) DO NOTHING"
_LABEL_ID = f"SELECT id FROM {LABELS.name} WHERE name = ?"
_ISSUE_LABEL = f"INSERT INTO {ISSUE_LABELS.name} (issue_id, label_id) VALUES (?, ?) ON CONFLICT DO NOTHING"
_JOB = f"""
INSERT INTO {JOBS.name} (id, kind, issue_id, source, payload, status, attempts, run_after, created_at, updated_at)
VALUES (?, 'enrich', ?, ?, ?, 'queued', 0, ?, ?, ?)
"""
_DELIVERY = f"""
INSERT INTO {DELIVERIES.name}
    (id, source, request_id, event, outcome, reason, issue_id, headers, response, changes, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)
"""


def _now() -> str:
    # SQLAlchemy's SQLite DateTime format; the hub stores UTC and reads it back as UTC.
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")


def _datetime(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


class SqliteIngestStore:
    """``IngestStore`` on SQLite: a private connection on a private thread."""

    def __init__(self, path: str, busy_timeout_seconds: float) -> None:
        self.path = path
        self.busy_timeout_ms = int(busy_timeout_seconds * 1000)
        # One thread: deliveries queue here in order instead of in SQLite's busy handler.
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hub-sqlite-ingest")
        self.connection: sqlite3.Connection | None = None

    @classmethod
    async def open(cls, path: str, busy_timeout_seconds: float) -> "SqliteIngestStore":
        """Open the connection on the store's thread (sqlite3 connections stay on their thread)."""
        store = cls(path, busy_timeout_seconds)
        await store._call(store._connect)
        return store

    def _connect(self) -> None:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, isolation_level=None, timeout=self.busy_timeout_ms / 1000)
        for pragma in ("journal_mode=WAL", "foreign_keys=ON", "synchronous=NORMAL",
                       f"busy_timeout={self.busy_timeout_ms}"):
            connection.execute(f"PRAGMA {pragma}")
        self.connection = connection

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    async def close(self) -> None:
        """Close the connection and stop the thread."""
        if self.connection is not None:
            await self._call(self.connection.close)
            self.connection = None
        self.executor.shutdown(wait=True)

    # -- the three calls ---------------------------------------------------------------------

    async def find_linked(self, source: str, external_id: str) -> LinkedIssue | None:
        """The issue linked to ``(source, external_id)``, or None."""
        return await self._call(self._find_linked, source, external_id)

    async def create(self, source: str, draft: IssueDraft, prefix: str, label_ids: dict[str, str],
                     job_payload: Any | None, delivery: Mapping[str, Any], response: Mapping[str, Any]
                     ) -> Created | None:
        """Lookup, then the issue's rows or a duplicate's delivery row, in one transaction."""
        created, new_labels = await self._call(self._in_transaction, self._create_in_transaction, source, draft,
                                               prefix, dict(label_ids), job_payload, delivery, response)
        # Committed by now: safe to share with every later delivery of this process.
        label_ids.update(new_labels)
        return created

    async def log_duplicate(self, source: str, external_id: str, delivery: Mapping[str, Any],
                            response: Mapping[str, Any]) -> Created | None:
        """When linked, the lookup and the ``deduplicated`` delivery row in one transaction; else None."""
        created, _ = await self._call(self._in_transaction, self._log_duplicate, source, external_id, delivery,
                                      response)
        return created

    async def record(self, delivery: Mapping[str, Any], outcome: str, issue_id: str | None,
                     response: Mapping[str, Any]) -> None:
        """Append one row to the delivery log (a single INSERT is its own transaction)."""
        await self._call(self._record, delivery, outcome, issue_id, response)

    # -- on the store's thread ---------------------------------------------------------------

    def _find_linked(self, source: str, external_id: str) -> LinkedIssue | None:
        row = self.connection.execute(_FIND_LINKED, (source, storable(external_id))).fetchone()
        if row is None:
            return None
        (issue_id, identifier, title, description, priority, status, assignee, created_at, closed_at,
         link_source, link_external_id, external_url, metadata) = row
        issue = IssueView(id=issue_id, identifier=identifier, title=title, description=description,
                          priority=priority, status=status, assignee=assignee, created_at=_datetime(created_at),
                          closed_at=_datetime(closed_at))
        link = LinkView(source=link_source, external_id=link_external_id, external_url=external_url,
                        metadata=json.loads(metadata) if metadata else {})
        return LinkedIssue(issue=issue, link=link)

    def _insert_delivery(self, delivery: Mapping[str, Any], outcome: str, reason: str | None, issue_id: str | None,
                         response: Mapping[str, Any], now: str, delivery_id: str | None = None) -> str:
        delivery_id = delivery_id or new_id()
        self.connection.execute(_DELIVERY, (
            delivery_id, delivery["source"], storable(delivery["request_id"]), storable(delivery["event"]), outcome,
            storable(reason), issue_id, _json(storable(dict(delivery["headers"]))), _json(storable(dict(response))),
            now,
        ))
        return delivery_id

    def _record(self, delivery: Mapping[str, Any], outcome: str, issue_id: str | None,
                response: Mapping[str, Any]) -> None:
        self._insert_delivery(delivery, outcome, response.get("reason") or response.get("message"), issue_id,
                              response, _now())

    def _in_transaction(self, work: Callable[..., tuple[Created | None, T]], *args: Any) -> tuple[Created | None, T]:
        """``work(*args)`` in one write transaction, kept only when it returns a result."""
        connection = self.connection
        connection.execute("BEGIN IMMEDIATE")
        try:
            result, extra = work(*args)
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT" if result is not None else "ROLLBACK")
        return result, extra

    def _log_duplicate(self, source: str, external_id: str, delivery: Mapping[str, Any],
                       response: Mapping[str, Any]) -> tuple[Created | None, None]:
        linked = self._find_linked(source, external_id)
        if linked is None:
            return None, None
        body = dedupe_response(linked.issue, response)
        delivery_id = self._insert_delivery(delivery, "deduplicated", body["message"], linked.issue.id, body, _now())
        return Created(linked=linked, delivery_id=delivery_id), None

    def _create_in_transaction(self, source: str, draft: IssueDraft, prefix: str, label_ids: dict[str, str],
                               job_payload: Any, delivery: Mapping[str, Any], response: Mapping[str, Any]
                               ) -> tuple[Created | None, dict[str, str]]:
        connection = self.connection
        now = _now()
        duplicate, _ = self._log_duplicate(source, draft.link.external_id, delivery, response)
        if duplicate is not None:
            return duplicate, {}
        number = connection.execute(_NUMBER).fetchone()[0]
        issue = IssueView(id=new_id(), identifier=f"{prefix}-{number}", title=storable(draft.title),
                          description=storable(draft.description), priority=draft.priority, status="open",
                          assignee=draft.assignee, created_at=_datetime(now), closed_at=None)
        connection.execute(_ISSUE, (issue.id, number, issue.identifier, issue.title, issue.description,
                                    draft.priority, storable(draft.assignee), now, now))
        metadata = draft.link.metadata
        linked_row = connection.execute(_LINK, (
            new_id(), issue.id, source, storable(draft.link.external_id), storable(draft.link.external_url),
            _json(storable(dict(metadata))) if metadata is not None else None, now,
        )).fetchone()
        if linked_row is None:  # linked by another connection since the lookup: nothing to keep
            return None, {}
        new_labels: dict[str, str] = {}
        for label in draft.labels:
            label_id = label_ids.get(label.name) or new_labels.get(label.name)
            if label_id is None:
                connection.execute(_NEW_LABEL, (new_id(), storable(label.name), storable(label.color), now))
                label_id = new_labels[label.name] = connection.execute(_LABEL_ID, (storable(label.name),)).fetchone()[0]
            connection.execute(_ISSUE_LABEL, (issue.id, label_id))
        if job_payload is not None:
            connection.execute(_JOB, (new_id(), issue.id, source, _json(job_payload), now, now, now))
        self._insert_delivery(delivery, "created", None, issue.id, created_response(issue, response), now)
        return Created(issue=issue), new_labels
