"""Sentry's UI components through the real app, on both databases: Issue Link (create, link, search),
Alert Rule Action (settings saved, then applied to an arriving alert), Stack Trace Link.

Request bodies are in the shapes of Sentry's own requesters (tests/fixtures/sentry/components/INDEX.md),
signed as Sentry signs them: ``Sentry-App-Signature``, HMAC-SHA256 of the body with the client secret.
"""

from __future__ import annotations

import copy
import json
import time
import uuid

import httpx
import sqlalchemy as sa

from hub.models import Delivery, ExternalIssue, Job
from support import FIXTURES, sign

SECRET = "test-client-secret-0123456789"
ENV = {"SENTRY_CLIENT_SECRET": SECRET}
COMPONENTS = FIXTURES / "sentry" / "components"
SENTRY_ISSUE = "1117540176"
#: These tests are about where deliveries land, not the webhook's 0.8 s budget (tested on its
#: own): on a loaded machine the budget alone could turn a delivery into a 503.
RAW = {"database": {"webhook_timeout_seconds": 10}}


def body_of(name: str) -> dict:
    return json.loads((COMPONENTS / name).read_text())


async def component(hc, path: str, payload=None, *, query=None, secret=SECRET, request_id=None):
    """A request as Sentry's servers send it: JSON body (or a GET), signed, with a Request-ID."""
    raw = b"" if payload is None else (payload if isinstance(payload, bytes) else json.dumps(payload).encode())
    headers = {"content-type": "application/json", "request-id": request_id or uuid.uuid4().hex}
    if secret:
        headers["sentry-app-signature"] = sign(raw, secret)
    if payload is None:
        return await hc.client.get(f"/api/sentry/{path}", params=query or {}, headers=headers)
    return await hc.client.post(f"/api/sentry/{path}", content=raw, headers=headers)


async def webhook(hc, payload: dict, resource: str = "issue"):
    raw = json.dumps(payload).encode()
    answer = await hc.client.post("/api/sentry/webhook", content=raw, headers={
        "content-type": "application/json", "sentry-hook-resource": resource,
        "sentry-hook-signature": sign(raw, SECRET), "sentry-hook-timestamp": str(int(time.time()))})
    return answer  # (the installation uuid's write beside it is awaited by the test client)


def regressed(issue_id: str) -> dict:
    payload = json.loads((FIXTURES / "sentry" / "mocks-integration-platform-example" / "issue-created.json").read_text())
    payload["action"] = "unresolved"
    payload["data"]["issue"].update(id=issue_id, substatus="regressed", lastSeen="2030-01-01T00:00:00Z")
    return payload


async def deliveries(hc) -> int:
    """Rows in the delivery log."""
    async with hc.hub.engine.connect() as connection:
        return (await connection.execute(sa.text("SELECT count(*) FROM hub_delivery"))).scalar_one()


async def links(hc) -> list[dict]:
    async with hc.hub.engine.connect() as connection:
        table = ExternalIssue.__table__
        return [dict(row) for row in (await connection.execute(sa.select(table.c.issue_id, table.c.source,
                                                                          table.c.external_id))).mappings()]


async def test_create_from_the_sidebar_then_the_regression_webhook_lands_on_the_same_issue(hub_client):
    async with hub_client(env=ENV, raw=RAW) as hc:
        created = await component(hc, "issue-link/create", body_of("issue-link-create.json"))
        assert created.status_code == 200, created.text
        answer = created.json()
        # Sentry's ISSUE_LINKER_SCHEMA: webUrl, identifier, project, all strings; shown as CHIPP#1.
        assert answer == {"webUrl": "http://127.0.0.1:8000/issues/CHIPP-1", "project": "CHIPP", "identifier": "1"}
        issue = (await hc.client.get("/api/issues/CHIPP-1")).json()
        assert issue["title"] == "[front-end] ReferenceError: heck is not defined"
        assert issue["priority"] == "P1" and issue["assignee"] == "jane"
        assert {label["name"] for label in issue["labels"]} == {"Sentry", "frontend", "checkout"}
        assert "Seen on checkout after the last deploy." in issue["description"]
        assert "[View in Sentry](https://sentry.io/organizations/test-org/issues/1117540176/)" in issue["description"]
        assert "Created from Sentry by Jane Doe" in issue["description"]
        # Kept in the delivery log like a webhook delivery, its signature header never.
        async with hc.hub.engine.connect() as connection:
            [logged] = (await connection.execute(sa.select(Delivery.__table__))).mappings().all()
        assert logged["event"] == "issue-link create, issue=1117540176, by Jane Doe"
        assert logged["outcome"] == "created" and logged["response"] == answer
        assert "sentry-app-signature" not in logged["headers"] and "request-id" in logged["headers"]

        delivered = await webhook(hc, regressed(SENTRY_ISSUE))
        assert delivered.status_code == 200, delivered.text
        assert delivered.json()["deduplicated"] is True
        assert delivered.json()["issue"]["identifier"] == "CHIPP-1"
        assert [link["external_id"] for link in await links(hc)] == [SENTRY_ISSUE]
        assert (await hc.client.get("/api/issues")).json()["total"] == 1


async def test_a_create_for_a_tracked_issue_answers_that_issue_and_a_replay_changes_nothing(hub_client):
    async with hub_client(env=ENV, raw=RAW) as hc:
        first = await webhook(hc, {**regressed(SENTRY_ISSUE), "action": "created"})
        assert first.json()["issue"]["identifier"] == "CHIPP-1"
        again = await component(hc, "issue-link/create", body_of("issue-link-create.json"), request_id="r-1")
        logged = await deliveries(hc)
        replay = await component(hc, "issue-link/create", body_of("issue-link-create.json"), request_id="r-1")
        assert again.json()["identifier"] == "1" and replay.json() == again.json()
        assert await deliveries(hc) == logged, "a replayed request is not logged again"
        assert (await hc.client.get("/api/issues")).json()["total"] == 1


async def test_component_requests_must_be_signed_and_well_formed(sqlite_hub_client):
    async with sqlite_hub_client(env=ENV) as hc:
        good = body_of("issue-link-create.json")
        unsigned = await component(hc, "issue-link/create", good, secret=None)
        forged = await component(hc, "issue-link/create", good, secret="not-the-secret")
        hook_header = await hc.client.post("/api/sentry/issue-link/create", content=json.dumps(good).encode(),
                                           headers={"sentry-hook-signature": sign(json.dumps(good).encode(), SECRET)})
        no_title = await component(hc, "issue-link/create", {**good, "fields": {"title": "  "}})
        bad_id = await component(hc, "issue-link/create", {**good, "issueId": "12; DROP TABLE"})
        bad_priority = await component(hc, "issue-link/create", {**good, "fields": {**good["fields"], "priority": "P9"}})
        not_json = await component(hc, "issue-link/create", b"{nope")
        listing = (await hc.client.get("/api/issues")).json()
    assert unsigned.status_code == 401 and unsigned.json() == {"message": "missing Sentry-App-Signature header"}
    assert forged.status_code == 401 and forged.json() == {"message": "invalid signature"}
    assert hook_header.status_code == 401
    assert no_title.status_code == 400 and no_title.json() == {"message": "title is required"}
    assert bad_id.status_code == 400 and "issueId" in bad_id.json()["message"]
    assert bad_priority.status_code == 400 and "priority" in bad_priority.json()["message"]
    assert not_json.status_code == 400 and not_json.json()["message"].startswith("invalid JSON")
    assert listing["total"] == 0


async def test_search_then_link_and_moving_a_link_is_explicit(hub_client):
    async with hub_client(env=ENV, raw=RAW) as hc:
        for issue_id in ("501", "502"):
            assert (await webhook(hc, {**regressed(issue_id), "action": "created"})).status_code == 200
        # The async select: a signed GET (the empty body signed) with Sentry's query parameters.
        query = {"installationId": "a8e5d37a-696c-4c54-adb5-b3f28d64c7de", "projectSlug": "front-end",
                 "query": "chipp-2"}
        options = await component(hc, "issue-link/search", query=query)
        assert options.status_code == 200, options.text
        [option] = options.json()
        assert option["value"] == "CHIPP-2" and option["label"].startswith("CHIPP-2 [")
        everything = await component(hc, "issue-link/search", query={**query, "query": ""})
        assert [entry["value"] for entry in everything.json()] == ["CHIPP-2", "CHIPP-1"]

        link = body_of("issue-link-link.json")
        linked = await component(hc, "issue-link/link", link)
        assert linked.status_code == 200 and linked.json()["identifier"] == "1"
        # One Sentry issue, one hub issue: linking it elsewhere is refused unless moving is chosen.
        elsewhere = {**link, "fields": {"issue": "chipp-2", "move": "no"}}
        refused = await component(hc, "issue-link/link", elsewhere)
        assert refused.status_code == 409
        assert refused.json() == {"message": "already linked to CHIPP-1: choose to move the link to CHIPP-2 to change it"}
        moved = await component(hc, "issue-link/link", {**link, "fields": {"issue": "CHIPP-2", "move": "yes"}})
        assert moved.status_code == 200 and moved.json()["identifier"] == "2"
        unknown = await component(hc, "issue-link/link", {**link, "fields": {"issue": "CHIPP-99"}})
        assert unknown.status_code == 404 and unknown.json() == {"message": "no issue CHIPP-99 in the hub"}
        not_an_issue = await component(hc, "issue-link/link", {**link, "fields": {"issue": "<script>"}})
        assert not_an_issue.status_code == 400
        found = {link["external_id"]: link["issue_id"] for link in await links(hc)}
        by_identifier = {issue["identifier"]: issue["id"] for issue in (await hc.client.get("/api/issues")).json()["items"]}
        assert found[SENTRY_ISSUE] == by_identifier["CHIPP-2"]
        # The webhook of that Sentry issue now lands on the issue it was moved to.
        delivered = await webhook(hc, regressed(SENTRY_ISSUE))
        assert delivered.json()["issue"]["identifier"] == "CHIPP-2"


async def test_alert_rule_settings_are_checked_when_saved_and_applied_when_the_alert_arrives(hub_client):
    async with hub_client(env=ENV, raw=RAW) as hc:
        settings = body_of("alert-rule-settings.json")
        saved = await component(hc, "alert-rule-action", settings)
        assert saved.status_code == 200
        assert saved.json() == {"message": "Saved: priority P0; assignee oncall; labels checkout, paging; enrichment off"}
        wrong = copy.deepcopy(settings)
        wrong["fields"][0]["value"] = "urgent"
        refused = await component(hc, "alert-rule-action", wrong)
        assert refused.status_code == 400
        assert refused.json() == {"message": "priority must be one of P0, P1, P2, P3, P4 or 'sentry', not 'urgent'"}
        unknown = await component(hc, "alert-rule-action", {**settings, "fields": [{"name": "channel", "value": "#x"}]})
        assert unknown.status_code == 400 and "unknown setting 'channel'" in unknown.json()["message"]

        # The recorded event_alert, carrying the rule's saved settings as Sentry sends them.
        alert = json.loads((FIXTURES / "sentry" / "event_alert-triggered.json").read_text())
        alert["data"]["issue_alert"]["settings"] = settings["fields"]
        delivered = await webhook(hc, alert, resource="event_alert")
        assert delivered.status_code == 200, delivered.text
        identifier = delivered.json()["issue"]["identifier"]
        issue = (await hc.client.get(f"/api/issues/{identifier}")).json()
        assert issue["priority"] == "P0" and issue["assignee"] == "oncall"
        assert {"checkout", "paging"} <= {label["name"] for label in issue["labels"]}
        async with hc.hub.engine.connect() as connection:
            kinds = (await connection.execute(sa.select(Job.__table__.c.kind))).scalars().all()
        assert "enrich" not in kinds  # enrichment off for this rule

        # The control: the same alert of another Sentry issue, from a rule that leaves enrichment
        # on, does queue the job (so the assertion above is about the setting, not the hub).
        other = copy.deepcopy(alert)
        other["data"]["event"]["issue_id"] = "1117540177"
        other["data"]["event"]["event_id"] = "e" * 32
        other["data"]["issue_alert"]["settings"] = [field for field in settings["fields"] if field["name"] != "enrichment"]
        enriched = await webhook(hc, other, resource="event_alert")
        assert enriched.status_code == 200 and enriched.json()["issue"]["identifier"] != identifier, enriched.text
        async with hc.hub.engine.connect() as connection:
            kinds = (await connection.execute(sa.select(Job.__table__.c.kind))).scalars().all()
        assert kinds.count("enrich") == 1


async def test_an_alert_of_a_rule_raises_a_tracked_issue_and_ignores_settings_not_ours(hub_client):
    async with hub_client(env=ENV, raw=RAW) as hc:
        created = await webhook(hc, {**regressed(SENTRY_ISSUE), "action": "created"})
        assert created.json()["issue"]["identifier"] == "CHIPP-1"
        alert = json.loads((FIXTURES / "sentry" / "event_alert-triggered.json").read_text())
        # As recorded: another app's settings ("channel") are not the hub's, and change nothing.
        untouched = await webhook(hc, alert, resource="event_alert")
        assert [change["kind"] for change in untouched.json().get("changes", [])] == ["comment"]
        alert["data"]["event"]["event_id"] = "f" * 32
        alert["data"]["issue_alert"]["settings"] = [{"name": "priority", "value": "P0"},
                                                    {"name": "labels", "value": "paging"}]
        raised = await webhook(hc, alert, resource="event_alert")
        kinds = [change["kind"] for change in raised.json()["changes"]]
        assert kinds == ["comment", "priority", "label"]
        assert (await hc.client.get("/api/issues/CHIPP-1")).json()["priority"] == "P0"


def _sentry_api(releases: list) -> httpx.MockTransport:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if request.url.path == "/api/0/projects/test-org/front-end/releases/":
            return httpx.Response(200, json=releases)
        return httpx.Response(404, json={"detail": "The requested resource does not exist"})

    transport = httpx.MockTransport(handler)
    transport.calls = calls
    return transport


async def test_stacktrace_link_redirects_into_the_projects_repository(sqlite_hub_client):
    raw = {"github": {"repo": "acme/default", "repos": {"front-end": "acme/web"}}}
    query = {"installationId": "a8e5d37a-696c-4c54-adb5-b3f28d64c7de", "projectSlug": "front-end",
             "filename": "webpack:///./src/components/App.tsx", "lineNo": "42"}
    async with sqlite_hub_client(env=ENV, raw=raw, token_scope=None) as hc:
        # A browser follows it: no signature, no hub credential.
        moved = await hc.client.get("/api/sentry/stacktrace-link", params=query, follow_redirects=False)
        other = await hc.client.get("/api/sentry/stacktrace-link", follow_redirects=False,
                                    params={**query, "projectSlug": "api", "filename": "C:\\app\\main.py",
                                            "lineNo": "null"})
        bad_line = await hc.client.get("/api/sentry/stacktrace-link", params={**query, "lineNo": "-1"})
        no_file = await hc.client.get("/api/sentry/stacktrace-link", params={"projectSlug": "front-end"})
    assert moved.status_code == 302
    assert moved.headers["location"] == "https://github.com/acme/web/blob/HEAD/src/components/App.tsx#L42"
    assert other.headers["location"] == "https://github.com/acme/default/blob/HEAD/app/main.py"
    assert bad_line.status_code == 400 and bad_line.json() == {"message": "lineNo must be a line number"}
    assert no_file.status_code == 400 and no_file.json() == {"message": "filename is required"}


async def test_stacktrace_link_uses_the_newest_releases_commit_when_sentry_names_one(sqlite_hub_client):
    releases = json.loads((COMPONENTS / "project-releases.json").read_text())
    transport = _sentry_api(releases)
    env = {**ENV, "SENTRY_AUTH_TOKEN": "sntrys_test_token", "SENTRY_ORG": "test-org"}
    query = {"projectSlug": "front-end", "filename": "src/App.tsx", "lineNo": "7"}
    async with sqlite_hub_client(env=env, raw={"github": {"repos": {"front-end": "acme/web"}}}, transport=transport,
                          token_scope=None) as hc:
        first = await hc.client.get("/api/sentry/stacktrace-link", params=query, follow_redirects=False)
        second = await hc.client.get("/api/sentry/stacktrace-link", params={**query, "lineNo": "8"},
                                     follow_redirects=False)
        unmapped = await hc.client.get("/api/sentry/stacktrace-link", params={**query, "projectSlug": "api"},
                                       follow_redirects=False)
    sha = "6ba09a7c53235ee8a8fa5ee4c1ca8ca886e7fdbb"
    assert first.headers["location"] == f"https://github.com/acme/web/blob/{sha}/src/App.tsx#L7"
    assert second.headers["location"].endswith(f"/blob/{sha}/src/App.tsx#L8")
    assert len([call for call in transport.calls if call.url.path.endswith("/front-end/releases/")]) == 1  # cached
    assert transport.calls[0].headers["authorization"] == "Bearer sntrys_test_token"
    assert unmapped.status_code == 404
    assert unmapped.json() == {"message": "no code repository is configured for Sentry project api"}
    assert "sntrys_test_token" not in unmapped.text
