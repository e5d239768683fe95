"""The webhook path's stores: what they refuse, and rows they write that the rest reads back."""

from __future__ import annotations

import pytest

from hub.config import ConfigError, DatabaseSettings
from hub.ingest_store import open_ingest_store
from support import sentry_headers, sentry_issue_body


@pytest.mark.parametrize("url", ["sqlite+aiosqlite:///:memory:", "sqlite://", "sqlite:///file:hub?mode=memory"])
async def test_in_memory_sqlite_is_refused_with_a_clear_error(url):
    with pytest.raises(ConfigError, match="SQLite needs a file path"):
        await open_ingest_store(DatabaseSettings(url=url))


async def test_a_created_issue_reads_back_through_the_api_with_aware_times(hub_client):
    async with hub_client() as hc:
        body = sentry_issue_body("77")
        created = await hc.client.post("/api/sentry/webhook", content=body, headers=sentry_headers(body))
        assert created.status_code == 200, created.text
        identifier = created.json()["issue"]["identifier"]
        issue = (await hc.client.get(f"/api/issues/{identifier}")).json()
        assert issue["identifier"] == identifier and issue["status"] == "open"
        assert issue["created_at"].endswith(("+00:00", "Z"))
        again = await hc.client.post("/api/sentry/webhook", content=body, headers=sentry_headers(body))
        assert again.json()["deduplicated"] is True
        assert again.json()["issue"] == created.json()["issue"]
