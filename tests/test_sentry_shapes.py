"""Real Sentry deliveries of other versions and installs, signed, through the app on both databases:
never refused with a 4xx for a field the hub can derive; extreme dates are stored, not a 500."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support import SENTRY_SECRET, sentry_headers

PLUGIN_FIXTURES = Path(__file__).parents[1] / "plugins" / "sentry" / "tests" / "fixtures"
#: file -> Sentry-Hook-Resource (fixtures/README.md says where each file came from)
REAL = {
    "zulip-issue_created_for_exception.json": "issue",
    "zulip-issue_created_for_message.json": "issue",
    "zulip-issue_assigned_to_team.json": "issue",
    "zulip-event_for_message_golang.json": "event_alert",
    "issue-created-escalating.json": "issue",
    "event_alert-triggered.json": "event_alert",
    "metric_alert-resolved.json": "metric_alert",
    "error-created.json": "error",
}
ENV = {"SENTRY_CLIENT_SECRET": SENTRY_SECRET}


async def post(hc, body: bytes, resource: str = "issue"):
    return await hc.client.post("/api/sentry/webhook", content=body, headers=sentry_headers(body, resource=resource))


async def test_real_deliveries_of_every_shape_are_accepted(hub_client):
    async with hub_client(env=ENV) as hc:
        for name, resource in REAL.items():
            answer = await post(hc, (PLUGIN_FIXTURES / name).read_bytes(), resource)
            assert answer.status_code == 200, (name, answer.text)
        golang = (await post(hc, (PLUGIN_FIXTURES / "zulip-event_for_message_golang.json").read_bytes(),
                             "event_alert")).json()
        issue = (await hc.client.get(f"/api/issues/{golang['issue']['identifier']}")).json()
    assert issue["title"] == "[zulip-integration-testing] A test message event from golang."


@pytest.mark.parametrize("when", ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00", "2024-02-30T00:00:00Z",
                                  "2024-12-01T10:30:00+00:00", "2024-12-01T10:30:00.123456Z", "1" * 200])
async def test_extreme_dates_are_stored_and_left_out(hub_client, when):
    payload = json.loads((PLUGIN_FIXTURES / "zulip-issue_created_for_exception.json").read_text())
    payload["data"]["issue"].update(firstSeen=when, lastSeen=when)
    async with hub_client(env=ENV) as hc:
        answer = await post(hc, json.dumps(payload).encode())
        assert answer.status_code == 200, answer.text
        issue = (await hc.client.get(f"/api/issues/{answer.json()['issue']['identifier']}")).json()
    understood = when.startswith("2024-12-01")
    assert ("**First seen:**" in issue["description"]) is understood
