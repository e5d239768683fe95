"""Database engines, sessions and migrations for SQLite (embedded) and PostgreSQL (production)."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from hub.config import DatabaseSettings

__all__ = [
    "DATABASE_ERRORS",
    "DatabaseUrlError",
    "async_url",
    "check_url",
    "create_engine",
    "dialect_of",
    "engine_pool_size",
    "is_postgres",
    "libpq_url",
    "migration_config",
    "pg_connect_args",
    "ping",
    "sync_url",
    "upgrade",
    "upgrade_sync",
]

log = logging.getLogger("hub.db")

#: Errors that mean "the database is not reachable right now": a webhook answers 503, not 500,
#: and the metrics count the delivery as ``unavailable``. A pool that has no connection to
#: give in time raises psycopg_pool.PoolTimeout, an OperationalError.
DATABASE_ERRORS = (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError, psycopg.OperationalError,
                   psycopg.InterfaceError, sqlite3.OperationalError, ConnectionError, TimeoutError)

MIGRATIONS = Path(__file__).parent / "migrations"
#: How long an SQLite writer waits for another connection's write lock before failing.
SQLITE_BUSY_TIMEOUT_SECONDS = 10.0
#: Any constant: migrations of concurrently starting processes take turns on this advisory lock.
_MIGRATION_LOCK = 7_401_133


#: Dead PostgreSQL connections are found by TCP, not by waiting for a query that never returns:
#: probe an idle connection after 10 s, every 5 s, give up after 3 unanswered probes.
PG_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3}


class DatabaseUrlError(ValueError):
    """The database URL cannot name a database the hub runs on; the message says why, on one line."""


def check_url(url: str) -> str:
    """Return ``url`` if it names an SQLite or PostgreSQL database; raise DatabaseUrlError otherwise."""
    try:
        parsed = make_url(async_url(url))
        backend = parsed.get_backend_name()
        parsed.port  # noqa: B018 (a port that is not a number fails here, not deep in a driver)
    except Exception as exc:  # SQLAlchemy raises ArgumentError, ValueError or others for a bad URL
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise DatabaseUrlError(f"cannot be parsed: {reason}") from None
    if backend not in ("sqlite", "postgresql"):
        raise DatabaseUrlError(f"unsupported database {backend!r}: the hub runs on postgresql:// or sqlite://")
    return url


def pg_connect_args(settings: DatabaseSettings) -> dict[str, Any]:
    """libpq connection parameters for every PostgreSQL connection the hub opens.

    ``connect_timeout`` bounds a new connection; TCP keepalives find an idle pooled connection
    whose peer is gone; ``tcp_user_timeout`` drops a connection whose sent data stays
    unacknowledged (a network partition) instead of waiting on TCP's retransmissions (minutes).
    """
    timeout_ms = int(settings.statement_timeout_seconds * 1000)
    return {
        "connect_timeout": max(1, int(settings.connect_timeout_seconds)),
        "options": f"-c statement_timeout={timeout_ms}",
        "tcp_user_timeout": int((settings.statement_timeout_seconds + settings.connect_timeout_seconds) * 1000),
        **PG_KEEPALIVES,
    }


def async_url(url: str) -> str:
    """Normalise a database URL to the async drivers (plain ``postgresql://`` is accepted)."""
    for prefix in ("postgresql://", "postgres://", "postgresql+psycopg2://", "postgresql+asyncpg://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    if url.startswith("sqlite://"):
        return "sqlite+aiosqlite://" + url[len("sqlite://"):]
    return url


def sync_url(url: str) -> str:
    """The same database through a synchronous driver (Alembic runs synchronously)."""
    url = async_url(url)
    if url.startswith("sqlite+aiosqlite://"):
        return "sqlite://" + url[len("sqlite+aiosqlite://"):]
    return url


def libpq_url(url: str) -> str:
    """A PostgreSQL URL as libpq and psycopg expect it (no SQLAlchemy driver suffix)."""
    return make_url(async_url(url)).set(drivername="postgresql").render_as_string(hide_password=False)


def dialect_of(url: str) -> str:
    """``sqlite`` or ``postgresql``."""
    return make_url(async_url(url)).get_backend_name()


def is_postgres(url: str) -> bool:
    """Whether the URL names a PostgreSQL database."""
    return dialect_of(url) == "postgresql"


def engine_pool_size(settings: DatabaseSettings) -> int:
    """Steady connections of the SQLAlchemy engine on PostgreSQL (webhooks have their own pool)."""
    return max(2, settings.pool_size // 4)


def create_engine(settings: DatabaseSettings) -> AsyncEngine:
    """Create the async engine with connection limits that fail fast when the database is gone."""
    url = async_url(check_url(settings.url))
    if is_postgres(url):
        return create_async_engine(
            url,
            pool_size=engine_pool_size(settings),
            max_overflow=engine_pool_size(settings),
            pool_timeout=settings.connect_timeout_seconds,
            pool_pre_ping=False,
            connect_args=pg_connect_args(settings),
        )
    _ensure_sqlite_dir(url)
    # SQLite has one writer. With several pooled connections, writers wait on SQLite's busy
    # handler, which sleeps in growing steps (p99 over a second at 32 concurrent webhooks); one
    # connection makes them queue on the pool instead, in order, without sleeping.
    engine = create_async_engine(url, connect_args={"timeout": settings.connect_timeout_seconds},
                                 pool_size=1, max_overflow=0, pool_timeout=30)
    _configure_sqlite(engine.sync_engine)
    return engine


def _ensure_sqlite_dir(url: str) -> None:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def _configure_sqlite(engine: sa.Engine) -> None:
    """WAL, foreign keys, and BEGIN IMMEDIATE.

    SQLite allows one writer. A deferred transaction that reads and then writes can fail with
    "database is locked" when another writer got in between; taking the write lock at BEGIN
    makes concurrent writers queue (busy timeout) instead.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let SQLAlchemy's "begin" below emit BEGIN
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=FULL")  # durable commits, as hub.store.sqlite
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_SECONDS * 1000)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def session_factory(engine: AsyncEngine) -> async_sessionmaker:
    """Sessions that keep loaded objects usable after commit (no lazy loads under async)."""
    return async_sessionmaker(engine, expire_on_commit=False)


async def ping(engine: AsyncEngine) -> None:
    """Run ``SELECT 1``; raises when the database is unreachable."""
    async with engine.connect() as connection:
        await connection.execute(sa.text("SELECT 1"))


def migration_config(url: str) -> AlembicConfig:
    """An Alembic config for the hub's migrations against ``url``."""
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", sync_url(url).replace("%", "%%"))
    return config


def upgrade_sync(url: str, revision: str = "head") -> None:
    """Apply migrations up to ``revision``; on PostgreSQL one process at a time (advisory lock)."""
    check_url(url)
    config = migration_config(url)
    if not is_postgres(url):
        _ensure_sqlite_dir(async_url(url))
        command.upgrade(config, revision)
        return
    engine = sa.create_engine(sync_url(url), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": _MIGRATION_LOCK})
            try:
                command.upgrade(config, revision)
            finally:
                connection.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": _MIGRATION_LOCK})
                connection.commit()
    finally:
        engine.dispose()


async def upgrade(url: str, revision: str = "head") -> None:
    """Apply migrations without blocking the event loop."""
    await asyncio.to_thread(upgrade_sync, url, revision)
