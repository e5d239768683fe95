"""The baseline: the least a server must do for one durable webhook.

A bare ASGI app (no framework) that verifies the HMAC, parses the JSON and inserts two rows in
one transaction: raw psycopg with a pool on PostgreSQL, the stdlib sqlite3 module (WAL) on
SQLite. Served by the same server as the hub (uvicorn). Configured by environment variables:
BENCH_SECRET, and BENCH_DSN (PostgreSQL) or BENCH_SQLITE (a file path).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sqlite3
import uuid

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS bench_issue (id TEXT PRIMARY KEY, title TEXT NOT NULL, body TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS bench_link (id TEXT PRIMARY KEY, issue_id TEXT NOT NULL REFERENCES bench_issue(id),"
    " external_id TEXT NOT NULL)",
)
OK = b'{"success":true}'


async def _read_body(receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _answer(send, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _verified(scope, body: bytes, secret: bytes) -> bool:
    signature = dict(scope["headers"]).get(b"sentry-hook-signature", b"").decode()
    return hmac.compare_digest(hmac.new(secret, body, hashlib.sha256).hexdigest(), signature)


def create_app():
    """The baseline ASGI app for the database named in the environment."""
    secret = os.environ["BENCH_SECRET"].encode()
    dsn = os.environ.get("BENCH_DSN")
    state: dict = {}

    async def lifespan(receive, send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if dsn:
                    from psycopg_pool import AsyncConnectionPool

                    state["pool"] = AsyncConnectionPool(dsn, min_size=10, max_size=10, open=False)
                    await state["pool"].open()
                    async with state["pool"].connection() as connection:
                        for statement in SCHEMA:
                            await connection.execute(statement)
                else:
                    connection = sqlite3.connect(os.environ["BENCH_SQLITE"], isolation_level=None,
                                                 check_same_thread=False)
                    connection.execute("PRAGMA journal_mode=WAL")
                    connection.execute("PRAGMA synchronous=NORMAL")
                    for statement in SCHEMA:
                        connection.execute(statement)
                    state["sqlite"] = connection
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if "pool" in state:
                    await state["pool"].close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def app(scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            return await lifespan(receive, send)
        if scope["method"] == "GET":
            return await _answer(send, 200, OK)
        body = await _read_body(receive)
        if not _verified(scope, body, secret):
            return await _answer(send, 401, b'{"success":false}')
        issue = json.loads(body)["data"]["issue"]
        issue_id, link_id = str(uuid.uuid4()), str(uuid.uuid4())
        if "pool" in state:
            async with state["pool"].connection() as connection:
                async with connection.transaction():
                    await connection.execute("INSERT INTO bench_issue VALUES (%s, %s, %s)",
                                             (issue_id, issue["title"], body.decode()))
                    await connection.execute("INSERT INTO bench_link VALUES (%s, %s, %s)",
                                             (link_id, issue_id, issue["id"]))
        else:
            connection = state["sqlite"]
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("INSERT INTO bench_issue VALUES (?, ?, ?)", (issue_id, issue["title"], body.decode()))
            connection.execute("INSERT INTO bench_link VALUES (?, ?, ?)", (link_id, issue_id, issue["id"]))
            connection.execute("COMMIT")
        await _answer(send, 200, OK)

    return app
