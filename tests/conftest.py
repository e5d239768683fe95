"""Shared fixtures: every database test runs on SQLite and on PostgreSQL.

PostgreSQL: ``HUB_TEST_DATABASE_URL`` (a server URL; the suite creates its own database there and
drops it afterwards), else the local server on 127.0.0.1:5432. Missing server: the PostgreSQL
half is skipped with a reason, except under ``CI=true``, where that is a failure.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Any, Callable

import pytest
import sqlalchemy as sa

from hub import db
from support import hub_client_factory

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
TABLES = ("hub_link_state", "chipp_issue_event", "hub_session", "hub_token", "hub_user", "hub_login_attempt", "hub_login_link",
          "hub_secret", "hub_cache", "hub_job", "hub_delivery", "chipp_comment", "chipp_issue_label", "chipp_label",
          "chipp_external_issue", "chipp_issue", "chipp_issue_number")


def _server_url() -> str:
    return db.sync_url(os.environ.get("HUB_TEST_DATABASE_URL") or DEFAULT_PG)


@pytest.fixture(scope="session")
def postgres_url() -> Any:
    """A fresh, migrated PostgreSQL database for this test session (dropped at the end)."""
    server = _server_url()
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool,
                             connect_args={"connect_timeout": 3})
    try:
        with admin.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        reason = f"PostgreSQL not reachable at {sa.engine.make_url(server).render_as_string(hide_password=True)}: {exc.orig}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason + " (CI=true: PostgreSQL tests must run)")
        pytest.skip(reason)
    name = f"hub_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(server).set(database=name).render_as_string(hide_password=False)
    try:
        db.upgrade_sync(url)
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each test copies (migrating once is faster than per test)."""
    path = tmp_path_factory.mktemp("template") / "hub.db"
    db.upgrade_sync(f"sqlite:///{path}")
    return path


def _truncated(postgres_url: str) -> str:
    engine = sa.create_engine(db.sync_url(postgres_url), poolclass=sa.pool.NullPool)
    with engine.begin() as connection:
        connection.execute(sa.text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return db.async_url(postgres_url)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """An empty, migrated database: a SQLite file, or the session's PostgreSQL database truncated."""
    if request.param == "sqlite":
        path = tmp_path / "hub.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite+aiosqlite:///{path}"
    return _truncated(request.getfixturevalue("postgres_url"))


@pytest.fixture
def pg_database_url(postgres_url: str) -> str:
    """The session's PostgreSQL database, emptied: for what only PostgreSQL does (several processes)."""
    return _truncated(postgres_url)


@pytest.fixture
def hub_client(database_url: str) -> Callable[..., Any]:
    """Factory: ``async with hub_client(raw=..., env=..., transport=..., pm=...) as hc`` on each database."""
    return hub_client_factory(database_url)


@pytest.fixture
def sqlite_hub_client(tmp_path: Path, sqlite_template: Path) -> Callable[..., Any]:
    """The same factory on SQLite only: for behaviour above the database (routing, signatures,
    redirects), where a second run on PostgreSQL would test nothing new."""
    path = tmp_path / "hub.db"
    shutil.copy(sqlite_template, path)
    return hub_client_factory(f"sqlite+aiosqlite:///{path}")


@pytest.fixture
def pg_hub_client(pg_database_url: str) -> Callable[..., Any]:
    """The same factory on PostgreSQL only: several hubs sharing one database, as in production."""
    return hub_client_factory(pg_database_url)


ECHO_SITE = Path(__file__).parent / "plugins" / "site"


@pytest.fixture
def echo_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Install the test plugin ``hub-test-echo`` the way pip would: a dist-info with an entry point on sys.path."""
    monkeypatch.syspath_prepend(str(ECHO_SITE))


def _encodable(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    """Reports that UTF-8 can carry: hostile-input tests log lone surrogates, and pytest-xdist's
    workers send each report (its captured log included) to the controller as UTF-8, where one
    such character ends the whole run. Shown as ``\\ud800``, as the hub's own log lines show it."""
    outcome = yield
    report = outcome.get_result()
    report.sections = [(title, _encodable(content)) for title, content in report.sections]
    if report.longrepr is not None:
        text = str(report.longrepr)
        if _encodable(text) != text:  # only then: the structured traceback becomes its text
            report.longrepr = _encodable(text)
