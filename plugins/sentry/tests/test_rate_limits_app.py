"""Sentry's rate limit through the real app (SQLite, the host's worker) against the fake Sentry:
the enrichment job is retried at the time Sentry names, the stack-trace link never waits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from hub import db
from hub.jobs import Worker
from hub.models import Job
from hub_sentry import installation
from sentry_api_fake import ORG, TOKEN, FakeSentry
from support import SENTRY_SECRET, hub_client_factory, sentry_headers

ENV = {"SENTRY_CLIENT_SECRET": SENTRY_SECRET, "SENTRY_AUTH_TOKEN": TOKEN, "SENTRY_ORG": ORG}
SENTRY = {"type": "application", "id": "sentry", "name": "Sentry"}


@pytest.fixture(autouse=True)
def _fresh_process_hint(monkeypatch):
    # Each test's database starts empty; a process's "already remembered" hint must too.
    monkeypatch.setattr(installation, "_asked", {})


@pytest.fixture
def app_on_sqlite(tmp_path: Path):
    """``async with app_on_sqlite(raw=..., transport=...) as hc``: the app on a migrated SQLite file."""
    path = tmp_path / "hub.db"
    db.upgrade_sync(f"sqlite:///{path}")
    return hub_client_factory(f"sqlite+aiosqlite:///{path}")


async def enrich_jobs(hc) -> list[dict]:
    table = Job.__table__
    async with hc.hub.engine.connect() as connection:
        return [dict(row) for row in (await connection.execute(sa.select(table).where(table.c.kind == "enrich")))
                .mappings()]


async def test_a_rate_limited_latest_event_retries_the_enrichment_at_sentrys_time(app_on_sqlite):
    fake = FakeSentry()
    fake.add_issue("42")
    fake.add_event("42")
    fake.fail_next(429, "/events/latest/", headers={"retry-after": "30", "x-sentry-rate-limit-limit": "40",
                                                    "x-sentry-rate-limit-remaining": "0"})
    async with app_on_sqlite(env=ENV, transport=fake.transport(), token_scope=None) as hc:
        body = json.dumps(fake.webhook("42", "created", SENTRY)).encode()
        answer = await hc.client.post("/api/sentry/webhook", content=body, headers=sentry_headers(body))
        assert answer.status_code == 200, answer.text
        await Worker(hc.hub).run_due()
        (job,) = await enrich_jobs(hc)
        assert job["status"] == "queued" and job["attempts"] == 1
        assert job["last_error"].startswith("cannot read the latest event of issue 42: Sentry's rate limit (HTTP 429")
        assert TOKEN not in job["last_error"]
        wait = (job["run_after"] - job["updated_at"]).total_seconds()
        assert 29 <= wait <= 31 + 3  # Sentry's Retry-After (plus the worker's jitter, at most a tenth), not its backoff
        await Worker(hc.hub).run_due()  # not due yet: Sentry is not asked again
        assert len(fake.calls("GET", "/events/latest/")) == 1

        async with hc.hub.engine.begin() as connection:  # the time Sentry named has come
            await connection.execute(sa.update(Job.__table__).values(run_after=job["updated_at"]))
        await Worker(hc.hub).run_due()
        (job,) = await enrich_jobs(hc)
        assert job["status"] == "done" and job["last_error"] is None
    assert len(fake.calls("GET", "/events/latest/")) == 2


async def test_a_rate_limited_release_sends_the_browser_to_the_default_branch_at_once(app_on_sqlite):
    fake = FakeSentry()
    fake.add_release("front-end")
    fake.fail_next(429, "/releases/", headers={"retry-after": "60", "x-sentry-rate-limit-remaining": "0"})
    query = {"projectSlug": "front-end", "filename": "src/App.tsx", "lineNo": "7"}
    async with app_on_sqlite(env=ENV, raw={"github": {"repos": {"front-end": "acme/web"}}},
                             transport=fake.transport(), token_scope=None) as hc:
        limited = await hc.client.get("/api/sentry/stacktrace-link", params=query, follow_redirects=False)
        later = await hc.client.get("/api/sentry/stacktrace-link", params=query, follow_redirects=False)
    assert limited.status_code == 302
    assert limited.headers["location"] == "https://github.com/acme/web/blob/HEAD/src/App.tsx#L7"
    sha = "6ba09a7c53235ee8a8fa5ee4c1ca8ca886e7fdbb"  # project-releases.json's lastCommit.id
    assert later.headers["location"] == f"https://github.com/acme/web/blob/{sha}/src/App.tsx#L7"
    assert len(fake.calls("GET", "/releases/")) == 2  # one question per click; the 429 was not waited out
