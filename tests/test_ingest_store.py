"""The webhook path's stores: what they refuse, and rows they write that the rest reads back."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from hub.config import ConfigError, DatabaseSettings
from hub.store import open_store
from support import sentry_headers, sentry_issue_body


@pytest.mark.parametrize("url", ["sqlite+aiosqlite:///:memory:", "sqlite://", "sqlite:///file:hub?mode=memory"])
async def test_in_memory_sqlite_is_refused_with_a_clear_error(url):
    with pytest.raises(ConfigError, match="SQLite needs a file path"):
        await open_store(DatabaseSettings(url=url))


async def test_rows_the_webhook_store_writes_read_back_through_the_api(hub_client):
    # The stores write with the drivers directly; the API reads with SQLAlchemy: the formats
    # (SQLite's datetime text, JSON) must agree.
    async with hub_client() as hc:
        body = sentry_issue_body("77")
        created = await hc.client.post("/api/sentry/webhook", content=body, headers=sentry_headers(body))
        assert created.status_code == 200, created.text
        identifier = created.json()["issue"]["identifier"]
        issue = (await hc.client.get(f"/api/issues/{identifier}")).json()
        assert issue["identifier"] == identifier and issue["status"] == "open" and issue["source"] == "sentry"
        created_at = datetime.fromisoformat(issue["created_at"].replace("Z", "+00:00"))
        assert abs((datetime.now(timezone.utc) - created_at).total_seconds()) < 60
        assert issue["links"][0]["external_id"] == "77" and issue["links"][0]["metadata"]["project"]["slug"]
        again = await hc.client.post("/api/sentry/webhook", content=body, headers=sentry_headers(body))
        assert again.json()["deduplicated"] is True
        assert again.json()["issue"] == created.json()["issue"]


async def test_sqlite_commits_are_on_disk_before_the_answer(tmp_path, sqlite_template):
    # WAL with synchronous=NORMAL may lose the last commits on power loss: answered 200 would
    # not mean stored. Both connections that write (the store's and the engine's) use FULL.
    import shutil

    import sqlalchemy as sa

    from hub import db

    path = tmp_path / "hub.db"
    shutil.copy(sqlite_template, path)
    settings = DatabaseSettings(url=f"sqlite:///{path}")
    store = await open_store(settings)
    try:
        levels = await store.driver._call(lambda: store.driver.connection.execute("PRAGMA synchronous").fetchone()[0])
    finally:
        await store.close()
    engine = db.create_engine(settings)
    try:
        async with engine.connect() as connection:
            engine_level = (await connection.exec_driver_sql("PRAGMA synchronous")).scalar_one()
    finally:
        await engine.dispose()
    assert (levels, engine_level) == (2, 2)  # 2 = FULL
