"""The run's own databases: PostgreSQL databases created and dropped by the run, SQLite files in
its temporary directory, and the few queries the runner makes to check what the servers wrote."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from hub.db import libpq_url

__all__ = ["DEFAULT_POSTGRES", "Postgres", "count_rows", "fetch_rows", "postgres_sessions"]

#: The server the test suite uses too; ``--postgres`` or BENCH_POSTGRES_URL name another.
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"


class Postgres:
    """Creates databases named ``hub_bench_<pid>_<suffix>`` on one server and drops them all at the end."""

    def __init__(self, server_url: str) -> None:
        import psycopg

        self.server_url = libpq_url(server_url)
        self.created: list[str] = []
        self._admin = psycopg.connect(self.server_url, autocommit=True, connect_timeout=5)

    def create(self, suffix: str) -> str:
        """Create an empty database; return its URL (libpq form, which the hub accepts too)."""
        name = f"hub_bench_{os.getpid()}_{suffix}"
        self._admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._admin.execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return urlunsplit(urlsplit(self.server_url)._replace(path=f"/{name}"))

    def spare_connections(self) -> int:
        """Connections the server still accepts: max_connections minus reserved and open ones."""
        row = self._admin.execute(
            "SELECT current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int"
            " - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')").fetchone()
        return int(row[0])

    def drop_all(self) -> None:
        """Drop every database this run created (FORCE: a server killed mid-way may hold sessions)."""
        for name in reversed(self.created):
            try:
                self._admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            except Exception as exc:  # keep dropping the others; say which one is left behind
                print(f"bench: could not drop database {name}: {exc}", flush=True)
        self.created.clear()
        self._admin.close()


def postgres_sessions(url: str) -> int | None:
    """Sessions ever opened to the database of ``url`` (pg_stat_database.sessions, PostgreSQL 14+).

    Its growth during a round shows a connection pool that opens and closes connections under
    load instead of reusing them.
    """
    import psycopg

    with psycopg.connect(libpq_url(url), autocommit=True) as connection:
        row = connection.execute(
            "SELECT sessions FROM pg_stat_database WHERE datname = current_database()").fetchone()
    return None if row is None else int(row[0])


def count_rows(url: str, queries: dict[str, str]) -> dict[str, Any]:
    """Run ``{name: "SELECT count(*) ..."}`` on a PostgreSQL URL or a SQLite file path."""
    results: dict[str, Any] = {}
    if url.startswith("postgres"):
        import psycopg

        with psycopg.connect(libpq_url(url), autocommit=True) as connection:
            for name, query in queries.items():
                results[name] = connection.execute(query).fetchone()[0]
        return results
    path = url.split(":///", 1)[1] if ":///" in url else url
    with sqlite3.connect(Path(path)) as connection:
        for name, query in queries.items():
            results[name] = connection.execute(query).fetchone()[0]
    return results


def fetch_rows(url: str, query: str) -> list[tuple[Any, ...]]:
    """Every row of one query on a PostgreSQL URL or a SQLite file path."""
    if url.startswith("postgres"):
        import psycopg

        with psycopg.connect(libpq_url(url), autocommit=True) as connection:
            return [tuple(row) for row in connection.execute(query).fetchall()]
    path = url.split(":///", 1)[1] if ":///" in url else url
    with sqlite3.connect(Path(path)) as connection:
        return [tuple(row) for row in connection.execute(query).fetchall()]
