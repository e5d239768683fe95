"""The webhook hot path on PostgreSQL: psycopg directly, one statement per call.

Measured (docs/performance.md): through SQLAlchemy's async layer each statement cost about
0.4 ms of CPU in Python and a new issue took 9 round trips. Here a new issue, its link, labels,
enrichment job and delivery row are one statement (data-modifying CTEs, so atomic without
BEGIN/COMMIT) on an autocommit connection from a psycopg pool; psycopg prepares it after a few
uses. Under load one statement carries many deliveries (``hub.pg_batch``, group commit). Table
and column names come from ``hub.models`` through ``hub.store``'s table objects.
"""

from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable, Mapping, TypeVar

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from hub.config import DatabaseSettings
from hub.db import libpq_url
from hub.ingest_store import Created, dedupe_message
from hub.pg_batch import CREATE_COLUMNS, CREATE_MANY, DEDUPE_COLUMNS, DEDUPE_MANY, Batcher, batch_params
from hub.models import new_id, utcnow
from hub.store import DELIVERIES, ISSUE_LABELS, ISSUES, JOBS, LABELS, LINKED_ISSUE_COLUMNS, LINKED_ISSUE_FROM, \
    LINKS, NUMBERS, LinkedIssue, issue_view, link_view, storable
from hub.types import IssueDraft, IssueView

__all__ = ["PostgresIngestStore"]

log = logging.getLogger("hub.db")

T = TypeVar("T")

_FIND_LINKED = f"""
SELECT {LINKED_ISSUE_COLUMNS} FROM {LINKED_ISSUE_FROM}
WHERE l.source = %(source)s AND l.external_id = %(external_id)s
"""

# One delivery alone: both outcomes of a "create" in one statement (hub.pg_batch has the same
# for many deliveries; its arrays cost more than plain parameters for one). ``found`` is the
# lookup; only when it is empty does ``link`` insert, and the link decides every race: when
# another delivery linked the record in between, ON CONFLICT leaves ``link`` empty and every
# other insert selects from nothing (the caller then answers with the winner's issue). The issue
# number is taken only after the link exists, so a lost race burns none. Foreign keys are
# checked at the end of the statement, when the issue row exists. A duplicate gets its delivery
# row here too.
_CREATE = f"""
WITH found AS ({_FIND_LINKED}), link AS (
    INSERT INTO {LINKS.name} (id, issue_id, source, external_id, external_url, metadata, created_at)
    SELECT %(link_id)s, %(issue_id)s, %(source)s, %(external_id)s, %(external_url)s, %(metadata)s, %(now)s
    WHERE NOT EXISTS (SELECT FROM found)
    ON CONFLICT (source, external_id) DO NOTHING
    RETURNING issue_id
), num AS (
    INSERT INTO {NUMBERS.name} (number)
    SELECT nextval(pg_get_serial_sequence('{NUMBERS.name}', 'number')) FROM link
    RETURNING number
), issue AS (
    INSERT INTO {ISSUES.name}
        (id, number, identifier, title, description, priority, status, assignee, created_at, updated_at, closed_at)
    SELECT link.issue_id, num.number, %(prefix)s || '-' || num.number, %(title)s, %(description)s, %(priority)s,
           'open', %(assignee)s, %(now)s, %(now)s, NULL
    FROM link, num
    RETURNING id, identifier
), labels AS (
    INSERT INTO {ISSUE_LABELS.name} (issue_id, label_id)
    SELECT issue.id, label_id FROM issue, unnest(%(label_ids)s::text[]) AS label_id
), job AS (
    INSERT INTO {JOBS.name} (id, kind, issue_id, source, payload, status, attempts, run_after, created_at, updated_at)
    SELECT %(job_id)s, 'enrich', issue.id, %(source)s, %(payload)s, 'queued', 0, %(now)s, %(now)s, %(now)s
    FROM issue WHERE %(enqueue)s
), delivery AS (
    INSERT INTO {DELIVERIES.name}
        (id, source, request_id, event, outcome, reason, issue_id, headers, response, changes, created_at)
    SELECT %(delivery_id)s, %(source)s, %(request_id)s, %(event)s, 'created', NULL::text, issue.id, %(headers)s,
           jsonb_build_object('success', true, 'issue', jsonb_build_object('id', issue.id,
                                                                              'identifier', issue.identifier))
           || %(response)s, NULL::jsonb, %(now)s
    FROM issue
    UNION ALL
    SELECT %(delivery_id)s, %(source)s, %(request_id)s, %(event)s, 'deduplicated', %(message)s || found.identifier,
           found.id, %(headers)s,
           jsonb_build_object('success', true, 'deduplicated', true,
                              'issue', jsonb_build_object('id', found.id, 'identifier', found.identifier))
           || %(response)s || jsonb_build_object('message', %(message)s || found.identifier), NULL::jsonb,
           %(now)s
    FROM found
)
SELECT false AS found, issue.id, issue.identifier, NULL::text AS title, NULL::text AS description,
       NULL::varchar AS priority, NULL::varchar AS status, NULL::text AS assignee, NULL::timestamptz AS created_at,
       NULL::timestamptz AS closed_at, NULL::text AS source, NULL::text AS external_id, NULL::text AS external_url,
       NULL::jsonb AS metadata
FROM issue
UNION ALL
SELECT true, found.* FROM found
"""

_RECORD = f"""
INSERT INTO {DELIVERIES.name}
    (id, source, request_id, event, outcome, reason, issue_id, headers, response, changes, created_at)
VALUES (%(id)s, %(source)s, %(request_id)s, %(event)s, %(outcome)s, %(reason)s, %(issue_id)s, %(headers)s,
        %(response)s, NULL, %(now)s)
"""

# A label is created once and shared; it commits on its own (autocommit), so its id can be
# cached for the process at once: no other transaction can miss it.
_LABEL = f"""
WITH new AS (
    INSERT INTO {LABELS.name} (id, name, color, created_at) VALUES (%(id)s, %(name)s, %(color)s, %(now)s)
    ON CONFLICT (name) DO NOTHING RETURNING id
)
SELECT id FROM new UNION ALL SELECT id FROM {LABELS.name} WHERE name = %(name)s
"""


class PostgresIngestStore:
    """``IngestStore`` on PostgreSQL over a psycopg pool of autocommit connections."""

    def __init__(self, pool: AsyncConnectionPool, max_in_flight: int) -> None:
        self.pool = pool
        self.batcher = Batcher(self._creates, max_in_flight)
        self.dedupe_batcher = Batcher(self._duplicates, max_in_flight)

    @classmethod
    async def open(cls, settings: DatabaseSettings) -> "PostgresIngestStore":
        """Open the pool (connections are made in the background, so start-up does not wait)."""
        timeout_ms = int(settings.statement_timeout_seconds * 1000)
        pool = AsyncConnectionPool(
            libpq_url(settings.url),
            min_size=min(2, settings.pool_size),
            max_size=settings.pool_size,
            timeout=settings.connect_timeout_seconds,
            kwargs={
                "autocommit": True,
                "connect_timeout": max(1, int(settings.connect_timeout_seconds)),
                # The hot path's statements take their rows as arrays: plan them once per
                # connection (generic plan) instead of again for every execution (custom plans
                # cost ~2 ms of planning each; measured in docs/performance.md).
                "options": f"-c statement_timeout={timeout_ms} -c plan_cache_mode=force_generic_plan",
            },
            open=False,
            name="hub-ingest",
        )
        await pool.open(wait=False)
        # Two create statements (a tenth of the pool) in flight at once; deliveries beyond that
        # wait and go out together (hub.pg_batch): fewer, larger batches measured best.
        return cls(pool, max_in_flight=max(1, settings.pool_size // 10))

    async def close(self) -> None:
        """Close every connection of the pool."""
        await self.pool.close()

    async def _run(self, work: Callable[[psycopg.AsyncConnection], Awaitable[T]]) -> T:
        # A pooled connection can be dead (database restarted, proxy cut): the pool drops it
        # when it comes back broken, and one more try on another connection is safe because
        # every call is idempotent (link ON CONFLICT, UNIQUE Request-ID on the delivery log).
        for attempt in (1, 2):
            async with self.pool.connection() as connection:
                try:
                    return await work(connection)
                except psycopg.OperationalError:
                    if attempt == 2 or not connection.broken:
                        raise
            log.warning("Database connection lost; retrying on a new one")
            # Its siblings died with it: drop every dead idle connection before the retry.
            await self.pool.check()
        raise AssertionError("unreachable")

    async def find_linked(self, source: str, external_id: str) -> LinkedIssue | None:
        """The issue linked to ``(source, external_id)``, or None."""
        async def work(connection: psycopg.AsyncConnection) -> dict[str, Any] | None:
            cursor = connection.cursor(row_factory=dict_row)
            await cursor.execute(_FIND_LINKED, {"source": source, "external_id": storable(external_id)})
            return await cursor.fetchone()

        row = await self._run(work)
        if row is None:
            return None
        return LinkedIssue(issue=issue_view(row), link=link_view(row))

    async def _label_ids(self, labels: Any, cache: dict[str, str]) -> list[str]:
        missing = [label for label in labels if label.name not in cache]
        if missing:
            async def work(connection: psycopg.AsyncConnection) -> None:
                for label in missing:
                    params = {"id": new_id(), "name": storable(label.name), "color": storable(label.color)}
                    row = None
                    while row is None:
                        # Empty only when another transaction inserted the name after this
                        # statement's snapshot was taken: the next statement sees it.
                        cursor = await connection.execute(_LABEL, params | {"now": utcnow()})
                        row = await cursor.fetchone()
                    cache[label.name] = row[0]

            await self._run(work)
        return list(dict.fromkeys(cache[label.name] for label in labels))

    async def create(self, source: str, draft: IssueDraft, prefix: str, label_ids: dict[str, str],
                     job_payload: Any | None, delivery: Mapping[str, Any], response: Mapping[str, Any]
                     ) -> Created | None:
        """The issue's rows, or a duplicate's delivery row, in one statement; None if a race was lost."""
        labels = await self._label_ids(draft.labels, label_ids)
        now = utcnow()
        metadata = draft.link.metadata
        params = {
            "link_id": new_id(),
            "issue_id": new_id(),
            "source": source,
            "external_id": storable(draft.link.external_id),
            "external_url": storable(draft.link.external_url),
            "metadata": Jsonb(storable(dict(metadata))) if metadata is not None else None,
            "now": now,
            "prefix": prefix,
            "title": storable(draft.title),
            "description": storable(draft.description),
            "priority": draft.priority,
            "assignee": storable(draft.assignee),
            "label_ids": labels,
            "job_id": new_id(),
            "payload": Jsonb(job_payload),
            "enqueue": job_payload is not None,
            "delivery_id": new_id(),
            "request_id": storable(delivery["request_id"]),
            "event": storable(delivery["event"]),
            "headers": Jsonb(storable(dict(delivery["headers"]))),
            "response": Jsonb(storable(dict(response))),
            "message": dedupe_message(""),
        }

        row = await self.batcher.write(params)
        if row is None:
            return None
        if row["found"]:
            return Created(linked=LinkedIssue(issue=issue_view(row), link=link_view(row)),
                           delivery_id=params["delivery_id"])
        issue = IssueView(id=row["id"], identifier=row["identifier"], title=params["title"],
                          description=params["description"], priority=draft.priority, status="open",
                          assignee=draft.assignee, created_at=now, closed_at=None)
        return Created(issue=issue)

    async def log_duplicate(self, source: str, external_id: str, delivery: Mapping[str, Any],
                            response: Mapping[str, Any]) -> Created | None:
        """When linked, the ``deduplicated`` delivery row in one statement; None (nothing written) if not."""
        params = {
            "source": source,
            "external_id": storable(external_id),
            "delivery_id": new_id(),
            "request_id": storable(delivery["request_id"]),
            "event": storable(delivery["event"]),
            "headers": Jsonb(storable(dict(delivery["headers"]))),
            "response": Jsonb(storable(dict(response))),
            "now": utcnow(),
            "message": dedupe_message(""),
        }
        row = await self.dedupe_batcher.write(params)
        if row is None:
            return None
        return Created(linked=LinkedIssue(issue=issue_view(row), link=link_view(row)), delivery_id=params["delivery_id"])

    async def _creates(self, rows: list[dict[str, Any]]) -> list[dict[str, Any] | None]:
        if len(rows) > 1:
            return await self._write_many(CREATE_MANY, CREATE_COLUMNS, rows)

        async def work(connection: psycopg.AsyncConnection) -> dict[str, Any] | None:
            cursor = connection.cursor(row_factory=dict_row)
            await cursor.execute(_CREATE, rows[0])
            return await cursor.fetchone()

        return [await self._run(work)]

    async def _duplicates(self, rows: list[dict[str, Any]]) -> list[dict[str, Any] | None]:
        return await self._write_many(DEDUPE_MANY, DEDUPE_COLUMNS, rows)

    async def _write_many(self, statement: str, columns: Any, rows: list[dict[str, Any]]
                          ) -> list[dict[str, Any] | None]:
        async def work(connection: psycopg.AsyncConnection) -> list[dict[str, Any]]:
            cursor = connection.cursor(row_factory=dict_row)
            await cursor.execute(statement, batch_params(columns, rows))
            return await cursor.fetchall()

        by_ord = {row["ord"]: row for row in await self._run(work)}
        return [by_ord.get(ord_) for ord_ in range(len(rows))]

    async def record(self, delivery: Mapping[str, Any], outcome: str, issue_id: str | None,
                     response: Mapping[str, Any]) -> None:
        """Append one row to the delivery log."""
        params = {
            "id": new_id(),
            "source": delivery["source"],
            "request_id": storable(delivery["request_id"]),
            "event": storable(delivery["event"]),
            "outcome": outcome,
            "reason": storable(response.get("reason") or response.get("message")),
            "issue_id": issue_id,
            "headers": Jsonb(storable(dict(delivery["headers"]))),
            "response": Jsonb(storable(dict(response))),
            "now": utcnow(),
        }

        async def work(connection: psycopg.AsyncConnection) -> None:
            await connection.execute(_RECORD, params)

        await self._run(work)
