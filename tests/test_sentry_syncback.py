"""Sentry both ways through the real app, on both databases, against the fake Sentry API:
the hub issue linked in Sentry, its status and assignee sent back, and Sentry's own report of
what the hub did never coming back as a new change."""

from __future__ import annotations

import json

import httpx
import pytest
import sqlalchemy as sa

from hub.jobs import Worker
from hub.models import Comment, IssueEvent, Job
from hub_sentry import installation, syncback
from sentry_api_fake import INSTALLATION, ORG, TOKEN, FakeSentry
from support import FIXTURES, SENTRY_SECRET, make_settings, sentry_headers

ENV = {"SENTRY_CLIENT_SECRET": SENTRY_SECRET, "SENTRY_AUTH_TOKEN": TOKEN, "SENTRY_ORG": ORG}
RAW = {"hub": {"public_url": "https://hub.example.com/"},
       "sentry": {"sync_back": True, "assignees": {"jane@example.com": "jane", "team:backend": "backend-oncall"}}}
SENTRY = {"type": "application", "id": "sentry", "name": "Sentry"}


@pytest.fixture(autouse=True)
def _fresh_process_hint(monkeypatch):
    # Each test's database starts empty; a process's "already remembered" hint must too.
    monkeypatch.setattr(installation, "_asked", {})


async def deliver(hc, payload: dict, resource: str = "issue") -> dict:
    body = json.dumps(payload).encode()
    response = await hc.client.post("/api/sentry/webhook", content=body, headers=sentry_headers(body, resource=resource))
    assert response.status_code == 200, response.text
    return response.json()


async def rows(hc, model, **where) -> list[dict]:
    table = model.__table__
    query = sa.select(table).where(*(table.c[key] == value for key, value in where.items()))
    async with hc.hub.engine.connect() as connection:
        return [dict(row) for row in (await connection.execute(query)).mappings()]


async def test_the_round_trip_links_sends_status_back_and_nothing_echoes(hub_client):
    fake = FakeSentry()
    fake.add_issue("42")
    async with hub_client(raw=RAW, env=ENV, transport=fake.transport(), token_scope="write") as hc:
        assert [sink.name for sink in hc.hub.store.sinks] == ["sentry"]
        created = await deliver(hc, fake.webhook("42", "created", SENTRY))
        identifier = created["issue"]["identifier"]
        assert (await hc.hub.cache.get("sentry.installation", "current"))["uuid"] == INSTALLATION
        await Worker(hc.hub).run_due()
        # The link in Sentry: the hub's identifier and its console page.
        (made,) = fake.external.values()
        assert made["issueId"] == "42" and made["webUrl"] == f"https://hub.example.com/issues/{identifier}"
        assert made["displayName"] == identifier.replace("-", "#")  # CHIPP#1, as the Issue Link shows it
        assert fake.calls("PUT") == []  # a new issue sends no status

        # A person resolves it in the hub: resolved in Sentry.
        assert (await hc.client.patch(f"/api/issues/{identifier}", json={"status": "closed"})).status_code == 200
        await Worker(hc.hub).run_due()
        assert [call[3] for call in fake.calls("PUT")] == [{"status": "resolved"}]
        # Sentry reports it, as made by the integration: the hub's own change, not a new one.
        echo = await deliver(hc, fake.webhook("42", "resolved"))
        assert echo["skipped"] is True and "made by this integration" in echo["reason"]
        issue = (await hc.client.get(f"/api/issues/{identifier}")).json()
        assert issue["status"] == "closed" and await rows(hc, Comment, issue_id=issue["id"]) == []

        # Reopened and assigned in the hub: unresolved and assigned in Sentry, echoes skipped.
        await hc.client.patch(f"/api/issues/{identifier}", json={"status": "open", "assignee": "jane"})
        await Worker(hc.hub).run_due()
        assert [call[3] for call in fake.calls("PUT")][1:] == [{"status": "unresolved"},
                                                               {"assignedTo": "jane@example.com"}]
        for action in ("unresolved", "assigned"):
            echo = await deliver(hc, fake.webhook("42", action))
            assert echo.get("skipped") is True, echo
        issue = (await hc.client.get(f"/api/issues/{identifier}")).json()
        assert (issue["status"], issue["assignee"]) == ("open", "jane")
        assert await Worker(hc.hub).run_due() == 0

        # A person resolves it in Sentry: the hub follows, and sends nothing back.
        fake.issues["42"]["status"] = "resolved"
        changed = await deliver(hc, fake.webhook("42", "resolved", {"type": "user", "id": 7, "name": "Jane"}))
        assert [change["kind"] for change in changed["changes"]] == ["close", "comment"]
        assert await Worker(hc.hub).run_due() == 0 and len(fake.calls("PUT")) == 3
        events = await rows(hc, IssueEvent, issue_id=issue["id"], kind="close")
        assert [event["actor"] for event in events][-1] == "sentry"
        publishes = await rows(hc, Job, issue_id=issue["id"], kind="publish")
        assert all(job["status"] == "done" for job in publishes)


async def test_without_a_known_installation_no_link_and_an_uninstall_stops_linking(hub_client):
    fake = FakeSentry()
    fake.add_issue("43")
    fake.add_issue("44")
    async with hub_client(raw=RAW, env=ENV, transport=fake.transport()) as hc:
        gone = json.loads((FIXTURES / "sentry" / "mocks-integration-platform-example" / "installation-deleted.json")
                          .read_text())
        answer = await deliver(hc, gone, resource="installation")
        assert answer["skipped"] is True and answer["reason"] == f"installation {INSTALLATION} removed"
        assert await installation.current(hc.hub.cache) is None
        payload = fake.webhook("43", "created", SENTRY)
        del payload["installation"]  # a delivery that names none
        await deliver(hc, payload)
        await Worker(hc.hub).run_due()
        assert fake.external == {}
        # Installed again (the shared fixture's own uuid): remembered from its delivery.
        made = json.loads((FIXTURES / "sentry" / "installation-created.json").read_text())
        assert (await deliver(hc, made, resource="installation"))["reason"].startswith("installation a8e5d37a")
        assert await installation.current(hc.hub.cache) == "a8e5d37a-696c-4c54-adb5-b3f28d64c7de"
        bad = await hc.client.post("/api/sentry/webhook", content=b'{"action": "created", "data": {}}',
                                   headers=sentry_headers(b'{"action": "created", "data": {}}',
                                                          resource="installation"))
        assert bad.status_code == 400 and bad.json()["error"] == "data.installation.uuid is missing (or not a uuid)"


async def test_a_refused_link_fails_the_job_with_the_reason_and_a_rate_limit_waits(hub_client):
    fake = FakeSentry()
    fake.add_issue("45")
    fake.add_issue("46")
    async with hub_client(raw=RAW, env=ENV, transport=fake.transport()) as hc:
        fake.fail_next(403, "/external-issues/")
        await deliver(hc, fake.webhook("45", "created", SENTRY))
        await Worker(hc.hub).run_due()
        (job,) = [job for job in await rows(hc, Job, kind="publish")]
        assert job["status"] == "failed" and "not allowed to (HTTP 403" in job["last_error"]
        assert TOKEN not in job["last_error"]
        fake.fail_next(429, "/external-issues/", headers={"retry-after": "120"})
        await deliver(hc, fake.webhook("46", "created", SENTRY))
        await Worker(hc.hub).run_due()
        waiting = [job for job in await rows(hc, Job, kind="publish") if job["status"] == "queued"]
        assert len(waiting) == 1 and "Sentry's rate limit" in waiting[0]["last_error"]


def _settings(**sentry):
    return make_settings("sqlite+aiosqlite:///unused.db", {"hub": {"public_url": "https://hub.example.com"},
                                                           "sentry": sentry}, ENV)


async def test_hook_check_sink_reads_the_tokens_scopes_and_the_organisation():
    fake = FakeSentry()
    async with httpx.AsyncClient(transport=fake.transport()) as http:
        assert await syncback.check(_settings(sync_back=True), http) == []
        fake.scopes = ["event:read", "project:read"]
        (problem,) = await syncback.check(_settings(sync_back=True), http)
        assert problem.startswith("the Sentry token lacks event:write (it has: event:read, project:read)")
        fake.fail_next(401, "/api/0/")
        (problem,) = await syncback.check(_settings(), http)
        assert "Sentry refused the token" in problem and TOKEN not in problem
        fake.fail_next(404, "/issues/")
        (problem,) = await syncback.check(_settings(), http)
        assert "check the organisation 'chipp'" in problem


def test_the_sink_is_there_only_with_something_to_do_and_mirrors_only_sentry():
    assert syncback.enabled(_settings()) is True  # the link: a token, an organisation and a public URL
    assert syncback.enabled(_settings(link_issues=False)) is False
    assert syncback.enabled(make_settings("sqlite+aiosqlite:///unused.db", {}, ENV)) is False  # no public URL
    assert syncback.enabled(make_settings("sqlite+aiosqlite:///unused.db", {"sentry": {"sync_back": True}},
                                          ENV)) is True
    # Changes Sentry made never go back to it; a person's, a token's and the GitHub mirror's do.
    assert syncback.SINK.mirrors("sentry") and not syncback.SINK.mirrors("github:octocat")
    assert not syncback.SINK.mirrors("user:ana") and not syncback.SINK.mirrors("token:ci")
    settings = _settings(assignees={"jane@example.com": "jane", "team:backend": "oncall"}).plugin("sentry")
    assert syncback.sentry_assignee("oncall", settings) == (True, "team:backend")
    assert syncback.sentry_assignee(None, settings) == (True, None)
    assert syncback.sentry_assignee("bob", settings) == (False, None)


def test_sync_back_or_the_reconcile_without_a_token_stops_the_start_in_one_line():
    from hub.config import ConfigError
    from hub.plugins import build_plugin_manager
    from hub.runtime import check_plugins

    pm = build_plugin_manager()
    settings = make_settings("sqlite+aiosqlite:///unused.db", {"sentry": {"sync_back": True,
                                                                          "reconcile_interval_minutes": 5}},
                             {"SENTRY_CLIENT_SECRET": SENTRY_SECRET}, pm)
    with pytest.raises(ConfigError, match=r"\[sentry\] sync_back and reconcile_interval_minutes ask Sentry's API: "
                                          r"set SENTRY_AUTH_TOKEN and SENTRY_ORG"):
        check_plugins(settings, pm)
    check_plugins(make_settings("sqlite+aiosqlite:///unused.db", {"sentry": {"sync_back": True}}, ENV, pm), pm)
