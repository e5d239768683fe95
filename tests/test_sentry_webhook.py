"""The Sentry webhook through the real app: signed fixture deliveries, the seed's tables and answers."""

from __future__ import annotations

import asyncio
import json
import time
from contextlib import AsyncExitStack

import pytest
import sqlalchemy as sa

from support import FIXTURES, sign
from hub.models import Delivery, ExternalIssue, Issue, Job, Label

SECRET = "test-client-secret-0123456789"
ENV = {"SENTRY_CLIENT_SECRET": SECRET}
MOCKS = FIXTURES / "sentry" / "mocks-integration-platform-example"


def fixture(name: str) -> dict:
    path = MOCKS / name if (MOCKS / name).exists() else FIXTURES / "sentry" / name
    return json.loads(path.read_text())


def issue_payload(action="created", substatus=None, issue_id="123", **changes) -> dict:
    payload = fixture("issue-created.json")
    payload["action"] = action
    issue = payload["data"]["issue"]
    issue["id"] = issue_id
    if substatus is not None:
        issue["substatus"] = substatus
    issue.update(changes)
    return payload


async def deliver(hc, payload, *, resource="issue", secret=SECRET, signature=None, headers=None):
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    sent = {"content-type": "application/json", "sentry-hook-resource": resource,
            "sentry-hook-timestamp": str(int(time.time()))}
    if signature is None and secret:
        signature = sign(raw, secret)
    if signature is not None:
        sent["sentry-hook-signature"] = signature
    sent.update(headers or {})
    return await hc.client.post("/api/sentry/webhook", content=raw, headers=sent)


async def rows(hc, model) -> list[dict]:
    async with hc.hub.engine.connect() as connection:
        return [dict(row) for row in (await connection.execute(sa.select(model.__table__))).mappings()]


async def test_get_returns_the_seed_health_json(hub_client):
    async with hub_client(env=ENV) as hc:
        response = await hc.client.get("/api/sentry/webhook")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "endpoint": "/api/sentry/webhook",
        "description": "Sentry webhook endpoint for automatic issue creation",
        "supported_events": [
            "issue.created (substatus=new)",
            "issue.unresolved (substatus=regressed)",
            "issue.unresolved (substatus=escalating)",
        ],
    }


async def test_created_answers_as_the_seed_and_stores_issue_link_label_job(hub_client):
    async with hub_client(env=ENV) as hc:
        response = await deliver(hc, issue_payload(substatus="new"))
        assert response.status_code == 200, response.text
        answer = response.json()
        assert list(answer) == ["success", "issue", "sentry"]
        assert answer["success"] is True
        assert answer["issue"]["identifier"] == "CHIPP-1"
        assert answer["sentry"] == {"id": "123", "shortId": "IPE-1"}
        [issue] = await rows(hc, Issue)
        assert issue["id"] == answer["issue"]["id"]
        assert issue["title"] == "[ipe] Error #1: This is a test error!"
        assert issue["priority"] == "P3"
        assert "## Error" in issue["description"] and "## Links" in issue["description"]
        [link] = await rows(hc, ExternalIssue)
        assert (link["source"], link["external_id"]) == ("sentry", "123")
        assert link["metadata"] == {
            "shortId": "IPE-1",
            "project": {"id": "456", "name": "ipe", "slug": "ipe", "platform": "javascript-react"},
            "substatus": "new",
            "priority": None,
            "level": "error",
            "platform": "javascript",
        }
        [label] = await rows(hc, Label)
        assert (label["name"], label["color"]) == ("Sentry", "#362D59")
        assert len(await rows(hc, Job)) == 1


async def test_duplicate_answers_as_the_seed(hub_client):
    async with hub_client(env=ENV) as hc:
        first = (await deliver(hc, issue_payload(substatus="new"))).json()
        second = await deliver(hc, issue_payload(substatus="new"))
        assert second.status_code == 200
        assert second.json() == {
            "success": True,
            "deduplicated": True,
            "issue": first["issue"],
            "sentry": {"id": "123", "shortId": "IPE-1"},
            "message": f"Issue already tracked as {first['issue']['identifier']}",
        }
        assert len(await rows(hc, Issue)) == 1


@pytest.mark.parametrize(
    ("action", "substatus"),
    [("created", "new"), ("unresolved", "regressed"), ("unresolved", "escalating"), ("created", "escalating"),
     ("created", None)],
)
async def test_events_that_create_issues(hub_client, action, substatus):
    async with hub_client(env=ENV) as hc:
        payload = issue_payload(action=action, substatus=substatus)
        if substatus is None:
            payload["data"]["issue"].pop("substatus", None)
        response = await deliver(hc, payload)
        assert response.status_code == 200 and response.json()["issue"]["identifier"] == "CHIPP-1"


@pytest.mark.parametrize(
    ("action", "substatus"),
    [("created", "ongoing"), ("resolved", None), ("assigned", None), ("archived", None), ("ignored", None),
     ("unresolved", "ongoing")],
)
async def test_events_that_are_ignored(hub_client, action, substatus):
    async with hub_client(env=ENV) as hc:
        response = await deliver(hc, issue_payload(action=action, substatus=substatus))
        assert response.status_code == 200
        answer = response.json()
        assert answer["success"] is True and answer["skipped"] is True and answer["reason"]
        assert await rows(hc, Issue) == []
        [delivery] = await rows(hc, Delivery)
        assert delivery["outcome"] == "skipped"


async def test_the_published_fixtures_are_handled(hub_client):
    async with hub_client(env=ENV) as hc:
        escalating = await deliver(hc, (FIXTURES / "sentry" / "issue-created-escalating.json").read_bytes())
        assert escalating.json()["sentry"] == {"id": "1170820242", "shortId": "FRONT-END-9"}
        for name in ("issue-assigned.json", "issue-ignored.json", "issue-resolved.json"):
            response = await deliver(hc, (MOCKS / name).read_bytes())
            assert response.status_code == 200 and response.json()["skipped"] is True, name


@pytest.mark.parametrize("resource", ["error", "metric_alert", "comment", "installation"])
async def test_other_resources_are_skipped_with_a_reason(hub_client, resource):
    files = {"error": "error-created.json", "event_alert": "event_alert-triggered.json",
             "metric_alert": "metric_alert-resolved.json", "comment": "comment-created.json",
             "installation": "installation-created.json"}
    async with hub_client(env=ENV) as hc:
        response = await deliver(hc, (FIXTURES / "sentry" / files[resource]).read_bytes(), resource=resource)
        assert response.status_code == 200
        assert response.json()["skipped"] is True and response.json()["reason"]
        assert await rows(hc, Issue) == []


@pytest.mark.parametrize(
    "signature",
    [None, "", "0" * 64, "deadbeef", "z" * 64, sign(b"other body", SECRET), "sha256=" + "0" * 64],
    ids=["missing", "empty", "wrong", "short", "non-hex", "other-body", "prefixed"],
)
async def test_bad_signatures_are_401_json_and_change_nothing(hub_client, signature):
    async with hub_client(env=ENV) as hc:
        raw = json.dumps(issue_payload()).encode()
        headers = {"content-type": "application/json", "sentry-hook-resource": "issue"}
        if signature is not None:
            headers["sentry-hook-signature"] = signature
        response = await hc.client.post("/api/sentry/webhook", content=raw, headers=headers)
        assert response.status_code == 401
        assert response.json()["success"] is False and response.json()["error"]
        assert SECRET not in response.text
        assert await rows(hc, Issue) == []
        # Logged as refused, with its reason, and without the signature it carried.
        [logged] = await rows(hc, Delivery)
        assert (logged["status"], logged["outcome"], logged["reason"]) == (401, "unauthorized", response.json()["error"])
        assert not any("signature" in name for name in logged["headers"])


async def test_signature_is_over_the_raw_bytes(hub_client):
    async with hub_client(env=ENV) as hc:
        raw = json.dumps(issue_payload(), indent=3).encode()  # not how json.dumps would re-serialise it
        response = await deliver(hc, raw)
        assert response.status_code == 200


async def test_without_a_secret_deliveries_are_accepted_unsigned(hub_client):
    async with hub_client() as hc:
        response = await deliver(hc, issue_payload(), secret=None)
        assert response.status_code == 200 and response.json()["issue"]["identifier"] == "CHIPP-1"


@pytest.mark.parametrize(
    ("raw", "missing"),
    [
        (b"{nope", "invalid JSON"),
        (b"[]", ""),
        (b'{"action": "created"}', "data"),
        (b'{"action": "created", "data": {"issue": {"title": "x"}}}', "id"),
    ],
)
async def test_malformed_bodies_are_400_naming_what_is_wrong(hub_client, raw, missing):
    async with hub_client(env=ENV) as hc:
        response = await deliver(hc, raw)
        assert response.status_code == 400
        assert missing in response.json()["error"]
        assert await rows(hc, Issue) == []
        [logged] = await rows(hc, Delivery)
        assert (logged["status"], logged["outcome"], logged["body"]) == (400, "rejected", raw.decode())


async def test_escaped_unicode_is_stored_as_real_characters(hub_client):
    async with hub_client(env=ENV) as hc:
        payload = issue_payload(title="Ошибка: naïve café ☕ 🚀")
        payload["data"]["issue"]["metadata"]["value"] = "Ошибка: naïve café ☕ 🚀"
        raw = json.dumps(payload, ensure_ascii=True).encode()  # as Sentry sends it: \\uXXXX escapes
        assert b"\\u041e" in raw
        assert (await deliver(hc, raw)).status_code == 200
        [issue] = await rows(hc, Issue)
        assert issue["title"] == "[ipe] Ошибка: naïve café ☕ 🚀"
        assert "naïve café ☕ 🚀" in issue["description"]


async def test_project_filters_skip_with_the_reason(hub_client):
    raw = {"sentry": {"projects": {"include": ["chipp-*"], "exclude": ["*-staging"]}}}
    async with hub_client(raw=raw, env=ENV) as hc:
        def for_project(slug, issue_id):
            payload = issue_payload(issue_id=issue_id)
            payload["data"]["issue"]["project"]["slug"] = slug
            return payload

        outside = await deliver(hc, for_project("ipe", "1"))
        assert outside.json() == {"success": True, "skipped": True, "reason": "project ipe is not enabled"}
        staging = await deliver(hc, for_project("chipp-admin-staging", "2"))
        assert staging.json()["reason"] == "project chipp-admin-staging is not enabled"
        inside = await deliver(hc, for_project("chipp-admin", "3"))
        assert inside.json()["issue"]["identifier"] == "CHIPP-1"


async def test_many_concurrent_deliveries_of_one_issue_make_one(hub_client):
    async with hub_client(env=ENV) as hc:
        payload = issue_payload(substatus="new")
        responses = await asyncio.gather(*[deliver(hc, payload) for _ in range(25)])
        assert {r.status_code for r in responses} == {200}
        assert len({r.json()["issue"]["id"] for r in responses}) == 1
        assert sum(1 for r in responses if r.json().get("deduplicated")) == 24
        assert len(await rows(hc, Issue)) == 1 and len(await rows(hc, ExternalIssue)) == 1


async def test_two_hubs_on_one_postgresql_make_one_issue_per_sentry_issue(pg_hub_client):
    async with AsyncExitStack() as stack:
        hubs = [await stack.enter_async_context(pg_hub_client(env=ENV)) for _ in range(2)]
        payloads = [issue_payload(substatus="new", issue_id=str(n % 5)) for n in range(40)]
        responses = await asyncio.gather(*[deliver(hubs[n % 2], p) for n, p in enumerate(payloads)])
        assert {r.status_code for r in responses} == {200}
        assert len({r.json()["issue"]["identifier"] for r in responses}) == 5
        assert len(await rows(hubs[0], Issue)) == 5


async def test_nul_characters_are_stored_not_refused(hub_client):
    async with hub_client(env=ENV) as hc:
        payload = issue_payload(issue_id="nul\u0000id", title="bad \u0000 byte")
        payload["data"]["issue"]["metadata"]["value"] = "message with \u0000 inside"
        first = await deliver(hc, payload)
        assert first.status_code == 200, first.text
        again = await deliver(hc, payload)
        assert again.json()["deduplicated"] is True
        [issue] = await rows(hc, Issue)
        assert issue["title"] == "[ipe] bad \ufffd byte"
        assert "message with \ufffd inside" in issue["description"]
        skipped = await deliver(hc, issue_payload(action="odd\u0000action"))
        assert skipped.status_code == 200 and skipped.json()["skipped"] is True


@pytest.mark.parametrize("age", [-400, 400])
async def test_stale_or_future_timestamps_are_401(hub_client, age):
    async with hub_client(env=ENV) as hc:
        response = await deliver(hc, issue_payload(), headers={"sentry-hook-timestamp": str(int(time.time()) + age)})
        assert response.status_code == 401
        assert "seconds off (allowed: 300)" in response.json()["error"]
        assert await rows(hc, Issue) == []


async def test_timestamp_check_off_with_zero(hub_client):
    async with hub_client(raw={"sentry": {"max_timestamp_skew_seconds": 0}}, env=ENV) as hc:
        response = await deliver(hc, issue_payload(), headers={"sentry-hook-timestamp": "1000"})
        assert response.status_code == 200
