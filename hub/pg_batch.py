"""Group commit for the PostgreSQL create path: deliveries that arrive together are written together.

While ``max_in_flight`` create statements are running, further deliveries wait in a queue; the
next statement takes everything queued (up to ``max_batch``) and writes it as one multi-row
statement, so a burst costs one round trip, one statement start and one WAL flush per batch
instead of per delivery. Every delivery is still answered only after its rows are committed.
A lone delivery is written at once, alone: batching adds no wait when the hub is idle.

The multi-row statement is ``hub.pg_ingest``'s single-row statement over ``unnest``-ed arrays.
If it fails (a replayed Request-ID, a stale label id: one row spoils the statement), each
delivery of the batch is written again on its own, so each gets its own outcome.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable

from hub.store import DELIVERIES, ISSUE_LABELS, ISSUES, JOBS, LINKS, NUMBERS

__all__ = ["CreateBatcher", "CREATE_MANY"]

log = logging.getLogger("hub.db")

#: Per-delivery parameters, in the order of the arrays ``CREATE_MANY`` unnests.
COLUMNS = (
    ("link_id", "text"), ("issue_id", "text"), ("source", "text"), ("external_id", "text"),
    ("external_url", "text"), ("metadata", "jsonb"), ("title", "text"), ("description", "text"),
    ("priority", "text"), ("assignee", "text"), ("job_id", "text"), ("payload", "jsonb"), ("enqueue", "bool"),
    ("delivery_id", "text"), ("request_id", "text"), ("event", "text"), ("headers", "jsonb"), ("response", "jsonb"),
)

# Read ``hub.pg_ingest._CREATE`` first: this is the same statement for many rows, ``ord`` telling
# them apart. Two deliveries of one record in a batch: the second link insert meets the first
# and does nothing, so the second gets no row back and is written again alone (a duplicate).
CREATE_MANY = f"""
WITH input AS (
    SELECT * FROM unnest(%(ord)s::int[], {", ".join(f"%({name})s::{kind}[]" for name, kind in COLUMNS)})
        AS t(ord, {", ".join(name for name, _ in COLUMNS)})
), found AS (
    SELECT input.ord, i.id, i.identifier, i.title, i.description, i.priority, i.status, i.assignee, i.created_at,
           i.closed_at, l.source, l.external_id, l.external_url, l.metadata
    FROM input
    JOIN {LINKS.name} AS l ON l.source = input.source AND l.external_id = input.external_id
    JOIN {ISSUES.name} AS i ON i.id = l.issue_id
), link AS (
    INSERT INTO {LINKS.name} (id, issue_id, source, external_id, external_url, metadata, created_at)
    SELECT link_id, issue_id, source, external_id, external_url, metadata, %(now)s FROM input
    WHERE NOT EXISTS (SELECT FROM found WHERE found.ord = input.ord)
    ORDER BY source, external_id  -- one lock order for every batch: no deadlock between two
    ON CONFLICT (source, external_id) DO NOTHING
    RETURNING issue_id
), numbered AS (
    SELECT input.*, nextval(pg_get_serial_sequence('{NUMBERS.name}', 'number')) AS number
    FROM input JOIN link USING (issue_id)
), num AS (
    INSERT INTO {NUMBERS.name} (number) SELECT number FROM numbered
), issue AS (
    INSERT INTO {ISSUES.name}
        (id, number, identifier, title, description, priority, status, assignee, created_at, updated_at, closed_at)
    SELECT issue_id, number, %(prefix)s || '-' || number, title, description, priority, 'open', assignee, %(now)s,
           %(now)s, NULL
    FROM numbered
), labels AS (
    INSERT INTO {ISSUE_LABELS.name} (issue_id, label_id)
    SELECT numbered.issue_id, pair.label_id
    FROM unnest(%(label_ord)s::int[], %(label_id)s::text[]) AS pair(ord, label_id) JOIN numbered USING (ord)
), job AS (
    INSERT INTO {JOBS.name} (id, kind, issue_id, source, payload, status, attempts, run_after, created_at, updated_at)
    SELECT job_id, 'enrich', issue_id, source, payload, 'queued', 0, %(now)s, %(now)s, %(now)s
    FROM numbered WHERE enqueue
), delivery AS (
    INSERT INTO {DELIVERIES.name}
        (id, source, request_id, event, outcome, reason, issue_id, headers, response, changes, created_at)
    SELECT delivery_id, source, request_id, event, 'created', NULL::text, issue_id, headers,
           jsonb_build_object('success', true, 'issue', jsonb_build_object('id', issue_id,
                                                                              'identifier', %(prefix)s || '-' || number))
           || response, NULL::jsonb, %(now)s
    FROM numbered
    UNION ALL
    SELECT input.delivery_id, input.source, input.request_id, input.event, 'deduplicated',
           %(message)s || found.identifier, found.id, input.headers,
           jsonb_build_object('success', true, 'deduplicated', true,
                              'issue', jsonb_build_object('id', found.id, 'identifier', found.identifier))
           || input.response || jsonb_build_object('message', %(message)s || found.identifier), NULL::jsonb,
           %(now)s
    FROM input JOIN found USING (ord)
)
SELECT ord, false AS found, issue_id AS id, %(prefix)s || '-' || number AS identifier, NULL::text AS title, NULL::text AS description,
       NULL::varchar AS priority, NULL::varchar AS status, NULL::text AS assignee, NULL::timestamptz AS created_at,
       NULL::timestamptz AS closed_at, NULL::text AS source, NULL::text AS external_id, NULL::text AS external_url,
       NULL::jsonb AS metadata
FROM numbered
UNION ALL
SELECT ord, true, id, identifier, title, description, priority, status, assignee, created_at, closed_at, source,
       external_id, external_url, metadata
FROM found
"""


def batch_params(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """``CREATE_MANY``'s parameters for the single-row parameter dicts ``rows`` (same batch)."""
    params: dict[str, Any] = {name: [row[name] for row in rows] for name, _ in COLUMNS}
    params["ord"] = list(range(len(rows)))
    params["label_ord"] = [ord_ for ord_, row in enumerate(rows) for _ in row["label_ids"]]
    params["label_id"] = [label for row in rows for label in row["label_ids"]]
    # One clock for the batch, and the scalars every row shares.
    first = rows[0]
    params.update(now=first["now"], prefix=first["prefix"], message=first["message"])
    return params


Write = Callable[[list[dict[str, Any]]], Awaitable[list[dict[str, Any] | None]]]
WriteOne = Callable[[dict[str, Any]], Awaitable[dict[str, Any] | None]]


class CreateBatcher:
    """Queues create parameters and writes them in batches; each caller gets its own row back."""

    def __init__(self, write_many: Write, write_one: WriteOne, max_in_flight: int, max_batch: int = 64) -> None:
        self.write_many = write_many
        self.write_one = write_one
        self.max_in_flight = max_in_flight
        self.max_batch = max_batch
        self.queue: list[tuple[dict[str, Any], asyncio.Future[dict[str, Any] | None]]] = []
        self.in_flight = 0
        self.tasks: set[asyncio.Task[None]] = set()
        #: Statements that carried more than one delivery, and the deliveries they carried.
        self.batches = 0
        self.batched = 0

    async def create(self, params: dict[str, Any]) -> dict[str, Any] | None:
        """Write one delivery's create (alone or with others); its result row, None if it lost a race."""
        future: asyncio.Future[dict[str, Any] | None] = asyncio.get_running_loop().create_future()
        self.queue.append((params, future))
        if self.in_flight < self.max_in_flight:
            self._flush()
        return await future

    def _flush(self) -> None:
        batch, self.queue = self.queue[: self.max_batch], self.queue[self.max_batch:]
        self.in_flight += 1
        task = asyncio.create_task(self._write(batch))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _write(self, batch: list[tuple[dict[str, Any], asyncio.Future[dict[str, Any] | None]]]) -> None:
        try:
            if len(batch) == 1:
                await self._write_alone(*batch[0])
                return
            try:
                rows = await self.write_many([params for params, _ in batch])
                self.batches += 1
                self.batched += len(batch)
            except Exception as exc:  # one row spoiled the statement: give each its own outcome
                log.debug("Batch of %d creates failed (%s); writing each alone", len(batch), type(exc).__name__)
                await asyncio.gather(*(self._write_alone(params, future) for params, future in batch))
                return
            for (_, future), row in zip(batch, rows):
                if not future.done():
                    future.set_result(row)
        finally:
            self.in_flight -= 1
            if self.queue:
                self._flush()

    async def _write_alone(self, params: dict[str, Any], future: asyncio.Future[dict[str, Any] | None]) -> None:
        try:
            row = await self.write_one(params)
        except BaseException as exc:  # the caller's delivery decides what an error means
            if not future.done():
                future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
        else:
            if not future.done():
                future.set_result(row)
