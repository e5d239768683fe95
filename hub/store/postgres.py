"""The store's driver for PostgreSQL: psycopg directly, over a pool of autocommit connections.

Measured (docs/performance.md): through SQLAlchemy's async layer each statement cost about 0.4 ms
of Python CPU. Here a new issue (link, issue, labels, job, delivery row) is one statement of
data-modifying CTEs, atomic without BEGIN/COMMIT, and deliveries that arrive together share one
(``Batcher``, group commit); so do the delivery-log rows of duplicates. Other transactions
(changes to an issue, labels, numbers) run statement by statement inside BEGIN/COMMIT.
"""

from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable, TypeVar

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb, set_json_loads
from psycopg_pool import AsyncConnectionPool

from hub.config import DatabaseSettings
from hub.db import libpq_url, pg_connect_args
from hub.store.batching import Batcher
from hub.store.sql import FIND_LINKED_MANY, Statement, Step, pg_rows_insert
from hub.store.tables import LinkedIssue, dump_json, encode_row, issue_view, link_view, load_json, storable
from hub.store.writes import Exec, GatedInsert, Tx, find_linked

__all__ = ["PostgresDriver"]

log = logging.getLogger("hub.db")

T = TypeVar("T")


async def _configure(connection: psycopg.AsyncConnection) -> None:
    # json and jsonb columns read back through msgspec (the hub's one JSON parser, hub.store.tables).
    set_json_loads(load_json, connection)


def _jsonb(value: Any) -> Jsonb:
    return Jsonb(value, dumps=dump_json)


def rows_params(steps: tuple[Step, ...], inserts: list[GatedInsert], arrays: bool = False
                ) -> tuple[tuple[str | None, ...], dict[str, Any]]:
    """The forms and parameters of ``pg_rows_insert`` for the rows of ``inserts`` (one or many
    deliveries); ``arrays``: arrays even for a single row."""
    forms: list[str | None] = []
    params: dict[str, Any] = {}
    for index in range(len(steps)):
        rows = [row for insert in inserts for row in insert.rows[index]]
        if not rows:
            forms.append(None)
        elif len(rows) == 1 and not arrays:
            forms.append("one")
            params[f"s{index}"] = dump_json(rows[0])
        else:
            forms.append("many")
            params[f"s{index}"] = dump_json(rows)
    return tuple(forms), params


#: Seconds a batch statement runs before the next batch may go out beside it. Under load a
#: statement takes 1 to 5 ms; one slower than this waits on a lock or on the disk.
STATEMENT_PATIENCE = 0.02


class PostgresDriver:
    """Runs the store's statements and transactions on PostgreSQL."""

    dialect = "postgresql"

    def __init__(self, pool: AsyncConnectionPool, max_in_flight: int) -> None:
        self.pool = pool
        self.creates = Batcher(self.write_creates, max_in_flight, patience=STATEMENT_PATIENCE)
        self.records = Batcher(self._write_records, max_in_flight, patience=STATEMENT_PATIENCE)
        self.finds = Batcher(self._find_many, max_in_flight, patience=STATEMENT_PATIENCE)
        #: Use the batched statements (arrays) even for one delivery: the store tests run every
        #: scenario through both forms this way, not by timing.
        self.always_arrays = False

    @classmethod
    async def open(cls, settings: DatabaseSettings) -> "PostgresDriver":
        """Open the pool (connections are made in the background, so start-up does not wait)."""
        timeout_ms = int(settings.statement_timeout_seconds * 1000)
        pool = AsyncConnectionPool(
            libpq_url(settings.url),
            min_size=min(2, settings.pool_size),
            max_size=settings.pool_size,
            timeout=settings.connect_timeout_seconds,
            kwargs={
                **pg_connect_args(settings),
                "autocommit": True,
                # The hot path's statements take their rows as arrays: plan them once per
                # connection (generic plan) instead of again for every execution (custom plans
                # cost ~2 ms of planning each; measured in docs/performance.md).
                "options": f"-c statement_timeout={timeout_ms} -c plan_cache_mode=force_generic_plan",
            },
            open=False,
            name="hub-store",
            configure=_configure,
        )
        await pool.open(wait=False)
        # One statement of a kind at a time, a second (up to a tenth of the pool) only beside a
        # slow one: deliveries that arrive meanwhile wait and go out together, and fewer, larger
        # batches measured best (docs/performance.md).
        return cls(pool, max_in_flight=max(1, settings.pool_size // 10))

    async def close(self) -> None:
        """Close every connection of the pool."""
        await self.pool.close()

    async def _on_connection(self, work: Callable[[psycopg.AsyncConnection], Awaitable[T]]) -> T:
        # A pooled connection can be dead (database restarted, proxy cut): the pool drops it
        # when it comes back broken, and one more try on another connection is safe because
        # every write is idempotent (link ON CONFLICT, UNIQUE Request-ID on the delivery log).
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

    @staticmethod
    async def _execute(connection: psycopg.AsyncConnection, exec_: Exec) -> list[dict[str, Any]]:
        statement: Statement = exec_.statement
        params = encode_row("postgresql", statement.table, exec_.params, _jsonb)
        cursor = connection.cursor(row_factory=dict_row)
        await cursor.execute(statement.sql("postgresql"), params)
        if cursor.description is None:
            return []
        # psycopg hands back aware datetimes and parsed JSONB: nothing to decode.
        return await cursor.fetchall()

    async def run(self, tx: Callable[[], Tx[T]], *, atomic: bool = True, rollback: bool = False) -> T:
        """Run the transaction ``tx()`` makes; ``atomic=False`` for reads (each statement alone);
        ``rollback=True`` to roll it back at its end, whatever it did (a trial)."""
        async def work(connection: psycopg.AsyncConnection) -> T:
            generator = tx()
            if not atomic:
                return await self._drive(connection, generator)
            async with connection.transaction(force_rollback=rollback):
                return await self._drive(connection, generator)

        return await self._on_connection(work)

    async def _drive(self, connection: psycopg.AsyncConnection, generator: Tx[T]) -> T:
        rows: list[dict[str, Any]] | None = None
        while True:
            try:
                exec_ = generator.send(rows)  # type: ignore[arg-type]
            except StopIteration as done:
                return done.value
            rows = await self._execute(connection, exec_)

    async def find_linked(self, source: str, external_id: str) -> LinkedIssue | None:
        """The issue linked to ``(source, external_id)``, or None; looked up together with
        other lookups in flight."""
        return await self.finds.write((source, external_id))

    async def _find_many(self, keys: list[tuple[str, str]]) -> list[LinkedIssue | None]:
        if len(keys) == 1 and not self.always_arrays:
            return [await self.run(lambda: find_linked(*keys[0]), atomic=False)]
        params = {"source": [source for source, _ in keys],
                  "external_id": [storable(external_id) for _, external_id in keys]}

        async def work(connection: psycopg.AsyncConnection) -> list[dict[str, Any]]:
            cursor = connection.cursor(row_factory=dict_row)
            await cursor.execute(FIND_LINKED_MANY.sql("postgresql"), params)
            return await cursor.fetchall()

        found = {row["ord"]: LinkedIssue(issue=issue_view(row), link=link_view(row))
                 for row in await self._on_connection(work)}
        return [found.get(ord_) for ord_ in range(1, len(keys) + 1)]

    async def create(self, insert: GatedInsert) -> bool:
        """Write one new issue's rows unless its record is linked already; whether it wrote them."""
        return await self.creates.write(insert)

    async def write_creates(self, inserts: list[GatedInsert]) -> list[bool]:
        """Write the rows of several new issues in one statement; for each, whether it was written."""
        steps = inserts[0].steps
        forms, params = rows_params(steps, inserts, self.always_arrays)

        async def work(connection: psycopg.AsyncConnection) -> set[str]:
            cursor = await connection.execute(pg_rows_insert(steps, forms), params)
            return {row[0] for row in await cursor.fetchall()}

        written = await self._on_connection(work)
        gate = steps[0].returning
        return [insert.rows[0][0][gate] in written for insert in inserts]

    async def insert_rows(self, rows: GatedInsert) -> None:
        """Insert rows that nothing gates (a delivery-log row), grouped with others in flight."""
        await self.records.write(rows)

    async def _write_records(self, inserts: list[GatedInsert]) -> list[None]:
        steps = inserts[0].steps
        forms, params = rows_params(steps, inserts, self.always_arrays)

        async def work(connection: psycopg.AsyncConnection) -> None:
            await connection.execute(pg_rows_insert(steps, forms), params)

        await self._on_connection(work)
        return [None] * len(inserts)
