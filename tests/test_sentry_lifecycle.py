"""Sentry lifecycle sync through the real app, on both databases: every transition and order problem."""

from __future__ import annotations

import asyncio
import json
import time

import sqlalchemy as sa

from hub import Change
from hub.models import Comment, Delivery
from support import FIXTURES, SENTRY_SECRET, sign

ENV = {"SENTRY_CLIENT_SECRET": SENTRY_SECRET}
MOCKS = FIXTURES / "sentry" / "mocks-integration-platform-example"


def payload(name="issue-created.json", **issue_changes) -> dict:
    data = json.loads((MOCKS / name if (MOCKS / name).exists() else FIXTURES / "sentry" / name).read_text())
    if "issue" in data.get("data", {}):
        data["data"]["issue"].update(issue_changes)
    return data


def issue_event(action, substatus=None, **changes) -> dict:
    data = payload(**changes)
    data["action"] = action
    data["data"]["issue"]["substatus"] = substatus
    return data


async def deliver(hc, body, resource="issue"):
    raw = json.dumps(body).encode()
    headers = {"content-type": "application/json", "sentry-hook-resource": resource,
               "sentry-hook-signature": sign(raw, SENTRY_SECRET), "sentry-hook-timestamp": str(int(time.time()))}
    response = await hc.client.post("/api/sentry/webhook", content=raw, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def issue(hc, identifier="CHIPP-1") -> dict:
    return (await hc.client.get(f"/api/issues/{identifier}")).json()


async def test_resolved_closes_with_a_comment_once(hub_client):
    async with hub_client(env=ENV) as hc:
        await deliver(hc, issue_event("created", "new"))
        resolved = issue_event("resolved", statusDetails={"inRelease": "v1.2.3"})
        resolved["actor"] = {"type": "user", "id": "1", "name": "Jane"}
        answer = await deliver(hc, resolved)
        assert answer["updated"] is True and [c["kind"] for c in answer["changes"]] == ["close", "comment"]
        again = await deliver(hc, resolved)
        assert "changes" not in again
        detail = await issue(hc)
        assert detail["status"] == "closed" and detail["closed_at"]
        assert [c["body"] for c in detail["comments"]] == ["Resolved in Sentry by Jane in release v1.2.3."]


async def test_resolved_for_an_unknown_issue_is_skipped(hub_client):
    async with hub_client(env=ENV) as hc:
        answer = await deliver(hc, issue_event("resolved"))
        assert answer == {"success": True, "skipped": True, "reason": "no issue is linked to sentry 123"}


async def test_auto_resolve_off_leaves_the_issue_open(hub_client):
    async with hub_client(raw={"sentry": {"auto_resolve": False}}, env=ENV) as hc:
        await deliver(hc, issue_event("created", "new"))
        answer = await deliver(hc, issue_event("resolved"))
        assert answer["skipped"] is True and "error was fixed" in answer["reason"]
        assert (await issue(hc))["status"] == "open"


async def test_regression_reopens_and_comments_without_a_second_issue(hub_client):
    async with hub_client(env=ENV) as hc:
        created = await deliver(hc, issue_event("created", "new"))
        await deliver(hc, issue_event("resolved"))
        regressed = issue_event("unresolved", "regressed", count="57", userCount=21, lastSeen="2024-12-14T09:00:00Z")
        answer = await deliver(hc, regressed)
        assert answer["deduplicated"] is True and answer["message"] == "Issue already tracked as CHIPP-1"
        assert answer["issue"] == created["issue"]
        assert [c["kind"] for c in answer["changes"]] == ["reopen", "comment"]
        repeat = await deliver(hc, regressed)
        assert repeat["deduplicated"] is True and "changes" not in repeat
        detail = await issue(hc)
        assert detail["status"] == "open"
        assert detail["comments"][-1]["body"] == (
            "Sentry: this error regressed after being marked as resolved (57 events, 21 users); "
            "last seen 2024-12-14T09:00:00Z.")
        assert len((await hc.client.get("/api/issues")).json()["items"]) == 1


async def test_regression_arriving_twice_at_once_comments_once(hub_client):
    async with hub_client(env=ENV) as hc:
        await deliver(hc, issue_event("created", "new"))
        escalating = issue_event("unresolved", "escalating", count="900")
        answers = await asyncio.gather(*[deliver(hc, escalating) for _ in range(2)])
        assert all(a["deduplicated"] for a in answers)
        comments = (await issue(hc))["comments"]
        assert [c["body"].startswith("Sentry: this error is escalating (900 events") for c in comments] == [True]


async def test_assignee_sync_maps_records_unmapped_and_clears(hub_client):
    raw = {"sentry": {"assignees": {"person@example.com": "agent-7", "team:backend": "backend-oncall"}}}
    async with hub_client(raw=raw, env=ENV) as hc:
        await deliver(hc, issue_event("created", "new", assignedTo=None))
        assert (await issue(hc))["assignee"] is None
        await deliver(hc, issue_event("assigned", assignedTo={"type": "user", "email": "person@example.com", "name": "P"}))
        assert (await issue(hc))["assignee"] == "agent-7"
        await deliver(hc, issue_event("assigned", assignedTo={"type": "team", "name": "backend", "slug": "backend"}))
        assert (await issue(hc))["assignee"] == "backend-oncall"
        unmapped = await deliver(hc, issue_event("assigned", assignedTo={"type": "user", "email": "x@y.z"}))
        assert [c["kind"] for c in unmapped["changes"]] == ["comment"]
        detail = await issue(hc)
        assert detail["assignee"] == "backend-oncall"
        assert "x@y.z, who has no hub agent" in detail["comments"][-1]["body"]
        await deliver(hc, issue_event("assigned", assignedTo=None))
        assert (await issue(hc))["assignee"] is None


async def test_assigned_before_created(hub_client):
    raw = {"sentry": {"assignees": {"person@example.com": "agent-7"}}}
    async with hub_client(raw=raw, env=ENV) as hc:
        early = await deliver(hc, issue_event("assigned"))  # the mock's assignee is person@example.com
        assert early["skipped"] is True
        await deliver(hc, issue_event("created", "new"))
        assert (await issue(hc))["assignee"] == "agent-7"


async def test_archived_comments_by_default_and_closes_when_configured(hub_client):
    async with hub_client(env=ENV) as hc:
        await deliver(hc, issue_event("created", "new"))
        await deliver(hc, payload("issue-ignored.json"))
        detail = await issue(hc)
        assert detail["status"] == "open" and detail["comments"][-1]["body"].startswith("Archived in Sentry")
    async with hub_client(raw={"sentry": {"archived": "close"}}, env=ENV) as hc:
        await deliver(hc, issue_event("created", "new", id="999"))
        await deliver(hc, issue_event("ignored", id="999"))
        closed = [i for i in (await hc.client.get("/api/issues")).json()["items"] if i["links"][0]["external_id"] == "999"]
        assert closed[0]["status"] == "closed"


async def test_metric_alert_incident_lifecycle(hub_client):
    async with hub_client(env=ENV) as hc:
        critical = await deliver(hc, payload("metric_alert-critical.json"), resource="metric_alert")
        identifier = critical["issue"]["identifier"]
        detail = await issue(hc, identifier)
        assert detail["title"] == "[alert] metric alert" and detail["priority"] == "P1"
        assert [label["name"] for label in detail["labels"]] == ["Sentry Alert"]
        assert detail["links"][0]["external_id"] == "metric_alert:789"
        again = await deliver(hc, payload("metric_alert-critical.json"), resource="metric_alert")
        assert again["deduplicated"] is True
        warning = await deliver(hc, payload("metric_alert-warning.json"), resource="metric_alert")
        assert {c["kind"] for c in warning["changes"]} == {"priority", "comment"}
        assert (await issue(hc, identifier))["priority"] == "P2"
        await deliver(hc, payload("metric_alert-resolved.json"), resource="metric_alert")  # the mock: incident 789
        assert (await issue(hc, identifier))["status"] == "closed"
        never_seen = json.loads((FIXTURES / "sentry" / "metric_alert-resolved.json").read_text())  # incident 4
        assert (await deliver(hc, never_seen, resource="metric_alert"))["skipped"] is True


async def test_event_alert_creates_or_links_to_the_events_issue(hub_client):
    async with hub_client(env=ENV) as hc:
        alert = payload("event_alert-triggered.json")  # the mock: event of Sentry issue 123
        created = await deliver(hc, alert, resource="event_alert")
        detail = await issue(hc, created["issue"]["identifier"])
        assert detail["title"] == "[sentry] Error #1: This is a test error!"
        assert detail["links"][0]["external_url"] == "https://sentry.io/organizations/lxyz/issues/123/"
        linked = await deliver(hc, alert, resource="event_alert")
        assert linked["deduplicated"] is True
        # The issue webhook for the same Sentry issue finds the same hub issue.
        same = await deliver(hc, issue_event("unresolved", "regressed"))
        assert same["issue"] == created["issue"]
        comments = [c["body"] for c in (await issue(hc, created["issue"]["identifier"]))["comments"]]
        assert comments[0] == 'Sentry alert rule "an alert rule" fired for event def456.'


async def test_the_delivery_log_says_what_each_delivery_changed(hub_client):
    async with hub_client(env=ENV) as hc:
        await deliver(hc, issue_event("created", "new"))
        await deliver(hc, issue_event("resolved"))
        async with hc.hub.engine.connect() as connection:
            rows = (await connection.execute(
                sa.select(Delivery.__table__.c.outcome, Delivery.__table__.c.changes)
                .order_by(Delivery.__table__.c.created_at))).all()
        assert [row.outcome for row in rows] == ["created", "updated"]
        assert [change["kind"] for change in rows[1].changes] == ["close", "comment"]
        async with hc.hub.engine.connect() as connection:
            assert (await connection.execute(sa.select(sa.func.count()).select_from(Comment.__table__))).scalar() == 1


async def test_a_replayed_resolved_does_not_close_an_issue_that_regressed_since(hub_client):
    """Sentry signs only the body: a captured `resolved` re-sent with a fresh timestamp and
    Request-ID verifies. Its lastSeen is older than the regression's: logged and ignored."""
    async with hub_client(env=ENV) as hc:
        await deliver(hc, issue_event("created", "new", lastSeen="2026-01-01T10:00:00Z"))
        resolved = issue_event("resolved", lastSeen="2026-01-01T10:00:00Z")
        assert (await deliver(hc, resolved))["changes"][0]["kind"] == "close"
        regressed = issue_event("unresolved", "regressed", lastSeen="2026-01-01T12:00:00Z")
        assert [c["kind"] for c in (await deliver(hc, regressed))["changes"]] == ["reopen", "comment"]
        replay = await deliver(hc, resolved)  # the same signed body, new headers
        assert "changes" not in replay
        assert (await issue(hc))["status"] == "open"


async def test_an_older_resolved_arriving_after_a_newer_regression_is_ignored(hub_client):
    async with hub_client(env=ENV) as hc:
        await deliver(hc, issue_event("created", "new", lastSeen="2026-01-01T10:00:00Z"))
        await deliver(hc, issue_event("unresolved", "regressed", lastSeen="2026-01-01T12:00:00Z"))
        late = await deliver(hc, issue_event("resolved", lastSeen="2026-01-01T11:00:00Z"))
        assert "changes" not in late and [c["kind"] for c in late["ignored"]] == ["close", "comment"]
        detail = await issue(hc)
        assert detail["status"] == "open" and not any("Resolved" in c["body"] for c in detail["comments"])
        later = await deliver(hc, issue_event("resolved", lastSeen="2026-01-01T12:00:00Z"))
        assert later["changes"][0]["kind"] == "close"


async def test_a_body_that_closed_the_issue_does_not_close_it_again_after_a_person_reopened_it(hub_client):
    async with hub_client(env=ENV) as hc:
        await deliver(hc, issue_event("created", "new"))
        resolved = issue_event("resolved")
        first = await deliver(hc, resolved)
        hub = hc.hub
        linked = await hub.store.find_linked("sentry", resolved["data"]["issue"]["id"])
        await hub.store.apply(linked.issue, [Change("reopen")], "user:pat")
        again = await deliver(hc, resolved)
        assert again == first  # answered as the first time: a replay
        assert (await issue(hc))["status"] == "open"
