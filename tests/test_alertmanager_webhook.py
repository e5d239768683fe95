"""POST /api/alertmanager/webhook through the whole app, on SQLite and PostgreSQL: bodies a real
Alertmanager sent, the bearer token, and hostile bodies (never a 5xx)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient

from hostile import hostile
from support import sync_client

FIXTURES = Path(__file__).resolve().parents[1] / "plugins" / "alertmanager" / "tests" / "fixtures"
TOKEN = "am-webhook-test-token-0123456789"
AUTH = {"authorization": f"Bearer {TOKEN}", "content-type": "application/json"}
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)


def recorded(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def client_for(database_url: str) -> TestClient:
    return sync_client(database_url, {"ALERTMANAGER_TOKEN": TOKEN})


async def test_firing_repeat_resolved_through_the_app(hub_client):
    async with hub_client(env={"ALERTMANAGER_TOKEN": TOKEN}) as hc:
        post = hc.client.post
        firing = json.dumps(recorded("firing.json")).encode()
        refused = await post("/api/alertmanager/webhook", content=firing,
                             headers={**AUTH, "authorization": "Bearer wrong"})
        assert refused.status_code == 401 and TOKEN not in refused.text
        created = await post("/api/alertmanager/webhook", content=firing, headers=AUTH)
        assert created.status_code == 200, created.text
        identifier = created.json()["issue"]["identifier"]
        repeat = await post("/api/alertmanager/webhook", content=firing, headers=AUTH)
        assert repeat.json()["deduplicated"] is True and "changes" not in repeat.json()
        resolved = await post("/api/alertmanager/webhook", content=json.dumps(recorded("resolved.json")).encode(),
                              headers=AUTH)
        assert [change["kind"] for change in resolved.json()["changes"]] == ["close", "comment"]
        issue = (await hc.client.get(f"/api/issues/{identifier}")).json()
        assert issue["status"] == "closed" and issue["priority"] == "P1"
        assert issue["title"] == "[InstanceDown] Instance web-1:9100 down"
        assert [comment["body"] for comment in issue["comments"]] == ["Resolved in Alertmanager at 12/1/2026, 9:42:36 AM."]
        # Fires again later: reopened, with a comment.
        again = recorded("firing.json")
        again["alerts"][0]["startsAt"] = "2026-12-01T10:00:00Z"
        reopened = await post("/api/alertmanager/webhook", content=json.dumps(again).encode(), headers=AUTH)
        assert [change["kind"] for change in reopened.json()["changes"]] == ["reopen", "comment"]
        truncated = await post("/api/alertmanager/webhook",
                               content=json.dumps(recorded("grouped-truncated.json")).encode(), headers=AUTH)
        assert truncated.json()["alertmanager"]["truncatedAlerts"] == 1


async def test_a_grouped_notification_makes_one_issue_per_alert(hub_client):
    # Alertmanager's default route groups by alertname: one notification, several alerts. The
    # grouped body a real Alertmanager sent, with the recorded InstanceDown alert beside its one.
    grouped = recorded("grouped-truncated.json")
    grouped["alerts"] = grouped["alerts"] + recorded("firing.json")["alerts"]
    async with hub_client(env={"ALERTMANAGER_TOKEN": TOKEN}) as hc:
        post = hc.client.post
        first = await post("/api/alertmanager/webhook", content=json.dumps(grouped).encode(), headers=AUTH)
        assert first.status_code == 200, first.text
        parts = first.json()["parts"]
        assert [part["issue"]["identifier"] for part in parts] == ["CHIPP-1", "CHIPP-2"]
        assert first.json()["alertmanager"] == {"receiver": "grouped", "alerts": 2, "truncatedAlerts": 1}
        again = await post("/api/alertmanager/webhook", content=json.dumps(grouped).encode(), headers=AUTH)
        assert [part.get("deduplicated") for part in again.json()["parts"]] == [True, True]
        # The group resolves one alert: only its issue closes.
        grouped["alerts"][1] = recorded("resolved.json")["alerts"][0]
        grouped["status"] = "firing"
        later = await post("/api/alertmanager/webhook", content=json.dumps(grouped).encode(), headers=AUTH)
        assert [bool(part.get("changes")) for part in later.json()["parts"]] == [False, True]
        listed = (await hc.client.get("/api/issues?source=alertmanager")).json()
        items = listed["items"] if isinstance(listed, dict) else listed
        assert sorted((issue["identifier"], issue["status"]) for issue in items) == [("CHIPP-1", "open"),
                                                                                     ("CHIPP-2", "closed")]


def _check(client: TestClient, body: bytes) -> None:
    response = client.post("/api/alertmanager/webhook", content=body, headers=AUTH)
    assert response.status_code < 500, response.text
    if response.status_code != 200:
        assert "\n" not in response.json()["error"]


def test_hostile_bodies_are_never_a_server_error(database_url):
    valid = recorded("firing.json")
    places = ["top", "alert", "labels", "annotations"]
    with client_for(database_url) as client:
        @FUZZ
        @given(st.sampled_from(places), st.text(max_size=12) | st.sampled_from(
            ["alerts", "status", "version", "truncatedAlerts", "externalURL", "fingerprint", "startsAt", "endsAt",
             "generatorURL", "labels", "annotations", "alertname", "summary", "severity"]),
            hostile() | st.none() | st.integers() | st.lists(st.integers(), max_size=3), st.booleans())
        def hostile_field(place: str, key: str, value: Any, resolved: bool) -> None:
            payload = copy.deepcopy(recorded("resolved.json" if resolved else "firing.json"))
            target = {"top": payload, "alert": payload["alerts"][0], "labels": payload["alerts"][0]["labels"],
                      "annotations": payload["alerts"][0]["annotations"]}[place]
            target[key] = value
            _check(client, json.dumps(payload).encode())

        @FUZZ
        @given(st.binary(max_size=512))
        def random_bytes(body: bytes) -> None:
            _check(client, body)

        hostile_field()
        random_bytes()
    assert valid  # the fixture itself was read


async def test_a_dry_run_reports_a_stale_state_as_the_delivery_would_find_it(hub_client):
    """The dry run of a duplicate applies its changes in a transaction it rolls back: an alert that
    fired before the last resolution is reported ignored, as the real delivery then is."""
    from hub.dryrun import dry_run

    async with hub_client(env={"ALERTMANAGER_TOKEN": TOKEN}) as hc:
        post = hc.client.post
        firing = json.dumps(recorded("firing.json")).encode()
        identifier = (await post("/api/alertmanager/webhook", content=firing, headers=AUTH)).json()["issue"]["identifier"]
        await post("/api/alertmanager/webhook", content=json.dumps(recorded("resolved.json")).encode(), headers=AUTH)
        source = hc.hub.sources["alertmanager"]

        # The first firing again (it started before the resolution was recorded): stale.
        stale = await dry_run(hc.hub, source, AUTH, firing)
        assert (stale["outcome"], stale["changes"], stale["written"]) == ("deduplicated", [], False)
        assert [change["kind"] for change in stale["ignored"]] == ["reopen", "comment"]
        # Firing again after the resolution: it would reopen and comment.
        again = recorded("firing.json")
        again["alerts"][0]["startsAt"] = "2026-12-01T10:00:00Z"
        later = json.dumps(again).encode()
        fresh = await dry_run(hc.hub, source, AUTH, later)
        assert fresh["outcome"] == "updated" and "ignored" not in fresh
        assert [change["kind"] for change in fresh["changes"]] == ["reopen", "comment"]
        assert (await hc.client.get(f"/api/issues/{identifier}")).json()["status"] == "closed"  # nothing written

        # What the deliveries themselves then do is what the dry runs said.
        real_stale = (await post("/api/alertmanager/webhook", content=firing, headers=AUTH)).json()
        assert [change["kind"] for change in real_stale.get("ignored", [])] == ["reopen", "comment"]
        real_fresh = (await post("/api/alertmanager/webhook", content=later, headers=AUTH)).json()
        assert real_fresh["changes"] == fresh["changes"]
