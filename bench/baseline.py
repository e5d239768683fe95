"""The baseline: the least a server must do to accept one webhook durably.

A bare ASGI app (no framework, no ORM) served by the same server as the hub. Per POST it verifies
the HMAC of the raw body, parses the JSON, and inserts two rows (the issue, the delivery) in one
transaction, then answers 200. That is "the machine's limit for one durable write per webhook"
the hub is compared with.

Configured by the environment (the server imports the factory ``app_from_env`` with no args):
``BENCH_SECRET``; ``BENCH_BASELINE_DSN`` (PostgreSQL: raw psycopg through
``psycopg_pool.AsyncConnectionPool``) or ``BENCH_BASELINE_SQLITE`` (a file: stdlib sqlite3, WAL).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["POOL_MAX", "POOL_MIN", "app_from_env"]

#: The hub's webhook path keeps up to 20 connections (its default ``[database] pool_size``); the
#: baseline gets the same, kept open. Commits in flight at once share a WAL flush, so the two
#: must have the same number of connections to be compared.
POOL_MIN = POOL_MAX = 20

_PG_SCHEMA = (
    ("CREATE TABLE IF NOT EXISTS bench_issue (id BIGSERIAL PRIMARY KEY, external_id TEXT NOT NULL UNIQUE,"
     " title TEXT NOT NULL, payload JSONB NOT NULL, created_at TIMESTAMPTZ NOT NULL DEFAULT now())"),
    ("CREATE TABLE IF NOT EXISTS bench_delivery (id BIGSERIAL PRIMARY KEY, request_id TEXT,"
     " external_id TEXT NOT NULL, created_at TIMESTAMPTZ NOT NULL DEFAULT now())"),
)
_SQLITE_SCHEMA = (
    ("CREATE TABLE IF NOT EXISTS bench_issue (id INTEGER PRIMARY KEY AUTOINCREMENT, external_id TEXT NOT NULL UNIQUE,"
     " title TEXT NOT NULL, payload TEXT NOT NULL, created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"),
    ("CREATE TABLE IF NOT EXISTS bench_delivery (id INTEGER PRIMARY KEY AUTOINCREMENT, request_id TEXT,"
     " external_id TEXT NOT NULL, created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"),
)
_ISSUE = "INSERT INTO bench_issue (external_id, title, payload) VALUES ({p}, {p}, {j}) ON CONFLICT (external_id) DO NOTHING"
_DELIVERY = "INSERT INTO bench_delivery (request_id, external_id) VALUES ({p}, {p})"
_JSON = [(b"content-type", b"application/json")]

Send = Callable[[dict[str, Any]], Awaitable[None]]
Write = Callable[[bytes, str, str, str | None], Awaitable[None]]


async def _answer(send: Send, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [*_JSON, (b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": body})


async def _body(receive: Callable[[], Awaitable[dict[str, Any]]]) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


class _Postgres:
    """Two INSERTs and the COMMIT in one pipeline: one round trip, one fsync per webhook."""

    def __init__(self, dsn: str) -> None:
        from psycopg_pool import AsyncConnectionPool

        self.pool = AsyncConnectionPool(dsn, min_size=POOL_MIN, max_size=POOL_MAX, open=False)
        self.issue = _ISSUE.format(p="%s", j="%s::jsonb")
        self.delivery = _DELIVERY.format(p="%s")

    async def open(self) -> None:
        await self.pool.open(wait=True)
        async with self.pool.connection() as connection:
            for statement in _PG_SCHEMA:
                await connection.execute(statement)

    async def write(self, body: bytes, external_id: str, title: str, request_id: str | None) -> None:
        async with self.pool.connection() as connection, connection.pipeline(), connection.transaction():
            await connection.execute(self.issue, (external_id, title, body.decode()))
            await connection.execute(self.delivery, (request_id, external_id))

    async def close(self) -> None:
        await self.pool.close()


class _Sqlite:
    """stdlib sqlite3 on the event loop's thread: SQLite has one writer, and a transaction of two
    small INSERTs takes tens of microseconds, less than a hop to a thread would cost."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.connection: sqlite3.Connection | None = None
        self.issue = _ISSUE.format(p="?", j="?")
        self.delivery = _DELIVERY.format(p="?")

    async def open(self) -> None:
        self.connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        # The hub's own pragmas (hub/store/sqlite.py), so both write with the same durability:
        # synchronous=FULL, a commit on disk before it returns (NORMAL, which the baseline used
        # until issue 19, can lose the last commits on power loss: not "accepted durably").
        self.connection.execute("PRAGMA journal_mode=WAL")
        self.connection.execute("PRAGMA synchronous=FULL")
        self.connection.execute("PRAGMA busy_timeout=10000")
        for statement in _SQLITE_SCHEMA:
            self.connection.execute(statement)

    async def write(self, body: bytes, external_id: str, title: str, request_id: str | None) -> None:
        connection = self.connection
        connection.execute("BEGIN IMMEDIATE")
        try:
            connection.execute(self.issue, (external_id, title, body.decode()))
            connection.execute(self.delivery, (request_id, external_id))
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    async def close(self) -> None:
        if self.connection is not None:
            self.connection.close()


def app_from_env() -> Callable[..., Awaitable[None]]:
    """The baseline ASGI app for the database the environment names (a factory taking no args)."""
    secret = os.environ["BENCH_SECRET"].encode()
    dsn = os.environ.get("BENCH_BASELINE_DSN")
    store = _Postgres(dsn) if dsn else _Sqlite(os.environ["BENCH_BASELINE_SQLITE"])

    async def lifespan(receive: Any, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await store.open()
                except Exception as exc:  # the server prints it and exits: the runner shows the log
                    await send({"type": "lifespan.startup.failed", "message": repr(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await store.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def app(scope: dict[str, Any], receive: Any, send: Send) -> None:
        if scope["type"] == "lifespan":
            return await lifespan(receive, send)
        if scope["type"] != "http":
            return None
        if scope["method"] != "POST":
            return await _answer(send, 200, b'{"status":"ok"}')
        body = await _body(receive)
        signature = request_id = None
        for name, value in scope["headers"]:
            if name == b"sentry-hook-signature":
                signature = value.decode()
            elif name == b"request-id":
                request_id = value.decode()
        expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
        if signature is None or not hmac.compare_digest(expected, signature):
            return await _answer(send, 401, b'{"success":false,"error":"invalid signature"}')
        try:
            issue = json.loads(body)["data"]["issue"]
            external_id, title = str(issue["id"]), str(issue["title"])
        except (ValueError, KeyError, TypeError):
            return await _answer(send, 400, b'{"success":false,"error":"not a Sentry issue"}')
        await store.write(body, external_id, title, request_id)
        await _answer(send, 200, b'{"success":true}')

    return app
