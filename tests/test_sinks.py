"""Sinks through a third-party plugin (tests/plugins/site/hub_test_echo, installed by entry point):
what the host queues, in which order, with which actor, and what it never sends back."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from hub.jobs import Worker
from hub.models import Job
from hub.types import Change, Sink

pytestmark = pytest.mark.usefixtures("echo_installed")

RAW = {"echo": {"sink": True}}
ENV = {"ECHO_TOKEN": "echo-secret"}


def _echo(payload: dict) -> tuple[bytes, dict[str, str]]:
    return json.dumps(payload).encode(), {"content-type": "application/json", "x-echo-token": "echo-secret"}


async def test_hook_register_sinks_a_third_party_sink_gets_the_issue_and_its_changes_in_order(hub_client):
    async with hub_client(raw=RAW, env=ENV, token_scope="write") as hc:
        assert [sink.name for sink in hc.hub.store.sinks] == ["echo-out"]
        body, headers = _echo({"id": "e1", "title": "Boom", "action": "open"})
        created = (await hc.client.post("/api/echo/webhook", content=body, headers=headers)).json()
        identifier = created["issue"]["identifier"]
        body, headers = _echo({"id": "e1", "action": "close", "at": "1"})
        await hc.client.post("/api/echo/webhook", content=body, headers=headers)
        await hc.client.post(f"/api/issues/{identifier}/comments", json={"body": "On it"})
        # The issue, then its close (with Echo's comment), then the API's comment: one at a time.
        assert await Worker(hc.hub).run_due() >= 3
        issue = (await hc.client.get(f"/api/issues/{identifier}")).json()
        seen = await hc.hub.cache.get("echo-out", issue["id"])
        assert seen[0] == {"link": None, "status": "closed", "changes": []}
        assert seen[1]["link"] == f"out-{identifier}"
        assert seen[1]["changes"] == [["close", "echo", None], ["comment", "echo", "Echo closed it"]]
        assert seen[2]["changes"][0][0] == "comment" and seen[2]["changes"][0][1].startswith("token:")
        assert [(link["source"], link["external_id"]) for link in issue["links"]] == [
            ("echo", "e1"), ("echo-out", f"out-{identifier}")]


async def test_a_change_made_by_the_sink_itself_is_never_queued_for_it(hub_client):
    async with hub_client(raw=RAW, env=ENV) as hc:
        body, headers = _echo({"id": "e2", "title": "Boom", "action": "open"})
        created = (await hc.client.post("/api/echo/webhook", content=body, headers=headers)).json()
        issue = (await hc.client.get(f"/api/issues/{created['issue']['identifier']}")).json()
        view = await _view(hc, issue["id"])
        applied, _ = await hc.hub.store.apply(view, [Change("comment", text="from outside", actor="echo-out:bob"),
                                                     Change("close", actor="echo-out")], "echo")
        assert [change["kind"] for change in applied] == ["comment", "close"]
        async with hc.hub.engine.connect() as connection:
            jobs = (await connection.execute(sa.select(Job.__table__.c.payload).where(
                Job.__table__.c.kind == "publish"))).scalars().all()
        assert jobs == [None]  # only the new issue's


def test_sink_mirrors_only_its_own_actors():
    sink = Sink(name="github", description="GitHub Issues")
    assert sink.mirrors("github") and sink.mirrors("github:octocat")
    assert not sink.mirrors("githubber") and not sink.mirrors("sentry") and not sink.mirrors(None)


async def _view(hc, issue_id: str):
    from hub.store import ISSUES, issue_view
    from hub.store.tables import decode_row

    async with hc.hub.engine.connect() as connection:
        row = (await connection.execute(sa.select(ISSUES).where(ISSUES.c.id == issue_id))).mappings().one()
        return issue_view(decode_row(connection.dialect.name, (ISSUES,), row))
