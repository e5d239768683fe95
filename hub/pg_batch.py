"""The PostgreSQL hot path's statements, and group commit: deliveries that arrive together are written together.

Each statement takes its rows as ``unnest``-ed arrays, ``ord`` telling them apart. (A create
alone uses ``hub.pg_ingest``'s single-row statement: measured, the array form cost more for one
row.) While ``max_in_flight`` statements of a kind are running,
further deliveries wait in a queue; the next statement takes everything queued (up to
``max_batch``), so a burst costs one round trip, one statement start and one WAL flush per batch
instead of per delivery. Every delivery is still answered only after its rows are committed, and
a lone delivery is written at once: batching adds no wait when the hub is idle. If a batch fails
(a replayed Request-ID, a stale label id: one row spoils the statement), each of its deliveries
is written again alone, so each gets its own outcome.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable

from hub.store import DELIVERIES, ISSUE_LABELS, ISSUES, JOBS, LINKED_ISSUE_COLUMNS, LINKED_ISSUE_FROM, LINKS, NUMBERS

__all__ = ["Batcher", "CREATE_COLUMNS", "CREATE_MANY", "DEDUPE_COLUMNS", "DEDUPE_MANY", "batch_params"]

log = logging.getLogger("hub.db")

#: Per-delivery parameters, in the order of the arrays ``CREATE_MANY`` unnests.
CREATE_COLUMNS = (
    ("link_id", "text"), ("issue_id", "text"), ("source", "text"), ("external_id", "text"),
    ("external_url", "text"), ("metadata", "jsonb"), ("title", "text"), ("description", "text"),
    ("priority", "text"), ("assignee", "text"), ("job_id", "text"), ("payload", "jsonb"), ("enqueue", "bool"),
    ("delivery_id", "text"), ("request_id", "text"), ("event", "text"), ("headers", "jsonb"), ("response", "jsonb"),
)

#: ... and the arrays ``DEDUPE_MANY`` unnests.
DEDUPE_COLUMNS = (
    ("source", "text"), ("external_id", "text"), ("delivery_id", "text"), ("request_id", "text"), ("event", "text"),
    ("headers", "jsonb"), ("response", "jsonb"),
)


def _input(columns: tuple[tuple[str, str], ...]) -> str:
    return (f"SELECT * FROM unnest(%(ord)s::int[], {', '.join(f'%({name})s::{kind}[]' for name, kind in columns)})"
            f" AS t(ord, {', '.join(name for name, _ in columns)})")


# The deliveries' records already linked: the lookup, and the issue and link hooks receive.
# LATERAL keeps it one unique-index probe per delivery in any plan: the statements run on a
# generic plan (hub.pg_ingest), made once per connection, whatever the tables' size then.
_FOUND = f"""
    SELECT input.ord, linked.*
    FROM input CROSS JOIN LATERAL (
        SELECT {LINKED_ISSUE_COLUMNS} FROM {LINKED_ISSUE_FROM}
        WHERE l.source = input.source AND l.external_id = input.external_id
    ) AS linked
"""

# A duplicate's delivery row; its response is dedupe_response's, built in SQL.
_DUPLICATE_ROWS = f"""
    SELECT input.delivery_id, input.source, input.request_id, input.event, 'deduplicated',
           %(message)s || found.identifier, found.id, input.headers,
           jsonb_build_object('success', true, 'deduplicated', true,
                              'issue', jsonb_build_object('id', found.id, 'identifier', found.identifier))
           || input.response || jsonb_build_object('message', %(message)s || found.identifier), NULL::jsonb,
           %(now)s
    FROM input JOIN found USING (ord)
"""

_FOUND_RESULT = """
SELECT ord, true AS found, id, identifier, title, description, priority, status, assignee, created_at, closed_at,
       source, external_id, external_url, metadata
FROM found
"""

# Both outcomes of a "create" delivery. ``found`` is the lookup; only the rows it misses go on to
# ``link``, and the link decides every race: a record linked by another delivery in between (or
# by an earlier row of the same batch) makes ON CONFLICT skip the row, and every other insert
# selects from what ``link`` returned, so that delivery gets no row back and nothing written (the
# caller then answers with the winner's issue). A number is taken only for a link that was
# inserted. Foreign keys are checked at the end of the statement, when the issue rows exist.
CREATE_MANY = f"""
WITH input AS ({_input(CREATE_COLUMNS)}
), found AS ({_FOUND}
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
    UNION ALL{_DUPLICATE_ROWS}
)
SELECT ord, false AS found, issue_id AS id, %(prefix)s || '-' || number AS identifier, NULL::text AS title,
       NULL::text AS description, NULL::varchar AS priority, NULL::varchar AS status, NULL::text AS assignee, NULL::timestamptz AS created_at,
       NULL::timestamptz AS closed_at, NULL::text AS source, NULL::text AS external_id, NULL::text AS external_url,
       NULL::jsonb AS metadata
FROM numbered
UNION ALL{_FOUND_RESULT}"""

# A delivery whose record the hub has linked before: only the lookup and the duplicate's row. A
# record not (or no longer) linked gets no row back and nothing written.
DEDUPE_MANY = f"""
WITH input AS ({_input(DEDUPE_COLUMNS)}
), found AS ({_FOUND}
), delivery AS (
    INSERT INTO {DELIVERIES.name}
        (id, source, request_id, event, outcome, reason, issue_id, headers, response, changes, created_at){_DUPLICATE_ROWS}
){_FOUND_RESULT}"""


def batch_params(columns: tuple[tuple[str, str], ...], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A statement's parameters for the per-delivery parameter dicts ``rows`` (one batch)."""
    params: dict[str, Any] = {name: [row[name] for row in rows] for name, _ in columns}
    params["ord"] = list(range(len(rows)))
    if "label_ids" in rows[0]:
        params["label_ord"] = [ord_ for ord_, row in enumerate(rows) for _ in row["label_ids"]]
        params["label_id"] = [label for row in rows for label in row["label_ids"]]
    # One clock for the batch, and the scalars every row shares.
    first = rows[0]
    params.update({name: first[name] for name in ("now", "prefix", "message") if name in first})
    return params


Write = Callable[[list[dict[str, Any]]], Awaitable[list[dict[str, Any] | None]]]


class Batcher:
    """Queues one kind of write and runs it for many deliveries at once; each caller gets its own row.

    ``write(rows)`` runs the statement for ``rows`` and returns their result rows in order (None
    for a delivery that got no row back).
    """

    def __init__(self, write: Write, max_in_flight: int, max_batch: int = 64) -> None:
        self._write_rows = write
        self.max_in_flight = max_in_flight
        self.max_batch = max_batch
        self.queue: list[tuple[dict[str, Any], asyncio.Future[dict[str, Any] | None]]] = []
        self.in_flight = 0
        self.tasks: set[asyncio.Task[None]] = set()
        #: Statements that carried more than one delivery, and the deliveries they carried.
        self.batches = 0
        self.batched = 0

    async def write(self, params: dict[str, Any]) -> dict[str, Any] | None:
        """Write one delivery (alone or with others that wait); its result row, or None."""
        future: asyncio.Future[dict[str, Any] | None] = asyncio.get_running_loop().create_future()
        self.queue.append((params, future))
        if self.in_flight < self.max_in_flight:
            self._flush()
        return await future

    def _flush(self) -> None:
        batch, self.queue = self.queue[: self.max_batch], self.queue[self.max_batch:]
        self.in_flight += 1
        task = asyncio.create_task(self._write_batch(batch))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _write_batch(self, batch: list[tuple[dict[str, Any], asyncio.Future[dict[str, Any] | None]]]) -> None:
        try:
            if len(batch) == 1:
                await self._write_alone(*batch[0])
                return
            try:
                rows = await self._write_rows([params for params, _ in batch])
                self.batches += 1
                self.batched += len(batch)
            except Exception as exc:  # one row spoiled the statement: give each its own outcome
                log.debug("A batch of %d deliveries failed (%s); writing each alone", len(batch), type(exc).__name__)
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
            [row] = await self._write_rows([params])
        except BaseException as exc:  # the caller's delivery decides what an error means
            if not future.done():
                future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
        else:
            if not future.done():
                future.set_result(row)
