"""The store's driver for SQLite: the stdlib driver on one thread, one hop per transaction.

Measured (docs/performance.md): through SQLAlchemy and aiosqlite every statement is a round trip
to aiosqlite's thread, about 1.1 ms of CPU; on the driver directly a statement costs well under
0.1 ms. Here every transaction runs whole on one dedicated thread with its own connection, so
the event loop never waits on SQLite's lock and a delivery costs one thread hop. Values are
written in the formats SQLAlchemy reads back (``hub.store.tables.encode_row``).
"""

from __future__ import annotations

import asyncio
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, TypeVar

from hub.store.batching import Batcher
from hub.store.sql import Statement, insert
from hub.store.tables import decode_row, dump_json, encode_row
from hub.store.tables import LinkedIssue
from hub.store.writes import Exec, GatedInsert, Tx, find_linked

__all__ = ["SqliteDriver"]

T = TypeVar("T")


class SqliteDriver:
    """Runs the store's statements and transactions on SQLite: a private connection on a private thread."""

    dialect = "sqlite"

    def __init__(self, path: str, busy_timeout_seconds: float) -> None:
        self.path = path
        self.busy_timeout_ms = int(busy_timeout_seconds * 1000)
        # One thread: deliveries queue here in order instead of in SQLite's busy handler.
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hub-sqlite-store")
        self.connection: sqlite3.Connection | None = None
        # Group commit: while one transaction runs on the thread, the creates (and delivery
        # rows) that arrive queue and go out together in the next one, one COMMIT (one WAL
        # sync) for all of them.
        self.creates = Batcher(self.write_creates, max_in_flight=1)
        self.records = Batcher(self._write_records, max_in_flight=1)

    @classmethod
    async def open(cls, path: str, busy_timeout_seconds: float) -> "SqliteDriver":
        """Open the connection on the driver's thread (sqlite3 connections stay on their thread)."""
        driver = cls(path, busy_timeout_seconds)
        await driver._call(driver._connect)
        return driver

    def _connect(self) -> None:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, isolation_level=None, timeout=self.busy_timeout_ms / 1000)
        connection.row_factory = sqlite3.Row
        # synchronous=FULL: a commit is on disk before it returns, so "answered 200" means stored
        # even if the machine loses power (NORMAL could lose the last commits; the cost is in
        # docs/performance.md).
        for pragma in ("journal_mode=WAL", "foreign_keys=ON", "synchronous=FULL",
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

    # -- on the driver's thread -------------------------------------------------------------

    def _execute(self, exec_: Exec) -> list[dict[str, Any]]:
        statement: Statement = exec_.statement
        params = encode_row("sqlite", statement.table, exec_.params, dump_json)
        cursor = self.connection.execute(statement.sql("sqlite"), params)
        return [decode_row("sqlite", statement.reads, dict(row)) for row in cursor.fetchall()]

    def _drive(self, tx: Callable[[], Tx[T]], atomic: bool, rollback: bool = False) -> T:
        connection = self.connection
        generator = tx()
        if atomic:
            connection.execute("BEGIN IMMEDIATE")
        try:
            rows: list[dict[str, Any]] | None = None
            while True:
                try:
                    exec_ = generator.send(rows)  # type: ignore[arg-type]
                except StopIteration as done:
                    result = done.value
                    break
                rows = self._execute(exec_)
            if atomic:
                connection.execute("ROLLBACK" if rollback else "COMMIT")
        except BaseException:
            if atomic and connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        return result

    def _execute_many(self, statement: Statement, rows: list[Mapping[str, Any]]) -> None:
        # One call for every row of a table: the statement is looked up and stepped in C.
        self.connection.executemany(statement.sql("sqlite"),
                                    [encode_row("sqlite", statement.table, row, dump_json) for row in rows])

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE (the write lock at once), COMMIT at the end, ROLLBACK on any error."""
        connection = self.connection
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise

    def _insert_by_table(self, inserts: list[GatedInsert], first_step: int = 0) -> None:
        """The rows of ``inserts`` from step ``first_step`` on, table by table, one call each."""
        if not inserts:
            return
        steps = inserts[0].steps
        for index in range(first_step, len(steps)):
            table_rows = [row for rows in inserts for row in rows.rows[index]]
            if table_rows:
                self._execute_many(insert(steps[index].table), table_rows)

    def _write_creates(self, inserts: list[GatedInsert]) -> list[bool]:
        with self._transaction():
            # The links go in first and decide; the rows of the records they let through follow,
            # table by table, in the same transaction, so foreign keys are checked at COMMIT
            # (where they fail for a label id deleted since it was cached).
            self.connection.execute("PRAGMA defer_foreign_keys=ON")
            written = []
            for rows in inserts:
                step = rows.steps[0]
                statement = insert(step.table, on_conflict=step.on_conflict, returning=step.returning)
                written.append(bool(self._execute(Exec(statement, rows.rows[0][0]))))
            self._insert_by_table([rows for rows, passed in zip(inserts, written) if passed], first_step=1)
        return written

    def _insert_rows(self, inserts: list[GatedInsert]) -> None:
        with self._transaction():
            self._insert_by_table(inserts)

    # -- from the event loop ----------------------------------------------------------------

    async def run(self, tx: Callable[[], Tx[T]], *, atomic: bool = True, rollback: bool = False) -> T:
        """Run the transaction ``tx()`` makes, whole, on the driver's thread (one hop);
        ``rollback=True`` to roll it back at its end, whatever it did (a trial)."""
        return await self._call(self._drive, tx, atomic, rollback)

    async def find_linked(self, source: str, external_id: str) -> LinkedIssue | None:
        """The issue linked to ``(source, external_id)``, or None."""
        return await self.run(lambda: find_linked(source, external_id), atomic=False)

    async def create(self, insert: GatedInsert) -> bool:
        """Write one new issue's rows unless its record is linked already; whether it wrote them
        (together with the other creates that wait)."""
        return await self.creates.write(insert)

    async def write_creates(self, inserts: list[GatedInsert]) -> list[bool]:
        """Write the rows of several new issues in one transaction; for each, whether it was written."""
        return await self._call(self._write_creates, inserts)

    async def insert_rows(self, rows: GatedInsert) -> None:
        """Insert rows that nothing gates (a delivery-log row), together with others that wait."""
        await self.records.write(rows)

    async def _write_records(self, inserts: list[GatedInsert]) -> list[None]:
        await self._call(self._insert_rows, inserts)
        return [None] * len(inserts)

