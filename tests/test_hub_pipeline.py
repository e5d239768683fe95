"""hub.Pipeline: a delivery without HTTP takes the webhook's path (the rest: tests/test_sentry_backfill.py)."""

from __future__ import annotations

import json

import pytest

from hub.pipeline import Pipeline, UnknownSource
from support import sentry_issue_body


async def test_a_delivery_without_http_is_the_webhooks_own(hub_client):
    async with hub_client() as hc:
        pipeline = Pipeline(hc.hub)
        answer = await pipeline.deliver("sentry", {"Sentry-Hook-Resource": "issue"}, sentry_issue_body("31"))
        assert answer.status == 200 and answer.outcome == "created"
        again = await pipeline.deliver("sentry", {"sentry-hook-resource": "issue"}, sentry_issue_body("31"))
        assert again.outcome == "deduplicated"
        linked = await pipeline.linked("sentry", "31")
        assert linked is not None and linked.identifier == answer.body["issue"]["identifier"]
        assert await pipeline.linked("sentry", "32") is None
        refused = await pipeline.deliver("sentry", {}, json.dumps({"action": "created"}).encode())
        assert refused.status == 400 and refused.body["error"] == "missing Sentry-Hook-Resource header"
        with pytest.raises(UnknownSource, match="no plugin serves the source 'nope'"):
            await pipeline.deliver("nope", {}, b"{}")


async def test_a_delivery_without_http_has_written_what_it_remembers_when_it_returns(hub_client, monkeypatch):
    """No webhook budget to keep: the installation uuid the delivery carries is in the cache as soon
    as ``deliver`` returns (a command may exit right after), without waiting for other deliveries."""
    from hub import ingest
    from hub_sentry import installation

    monkeypatch.setattr(installation, "_asked", {})  # this test's database starts empty
    async with hub_client() as hc:
        payload = json.loads(sentry_issue_body("41"))
        payload["installation"] = {"uuid": "7a485448-a9e2-4c85-8a3c-4f44175783c9"}
        spawned = []
        monkeypatch.setattr(ingest._REMEMBERING, "keep", spawned.append)  # a write beside the answer
        await Pipeline(hc.hub).deliver("sentry", {"sentry-hook-resource": "issue"}, json.dumps(payload).encode())
        assert spawned == []
        assert (await hc.hub.cache.get("sentry.installation", "current"))["uuid"] == payload["installation"]["uuid"]
