"""``hub sentry backfill`` against a fake Sentry API (recorded shapes), on both databases.

The must-show: the hub is down while 20 new issues appear in Sentry; one backfill brings exactly
those 20, each with the description the webhook path makes for the same issue (a second hub
that got Sentry's deliveries for them is the witness), their enrichment queued in the outbox;
a second backfill changes nothing.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
from datetime import timedelta

import pytest
import sqlalchemy as sa

import hub.cli
from hub.models import Issue, Job
from hub.pipeline import Pipeline
from hub_sentry.backfill import delivery_for, reconcile, stats_period
from hub_sentry.commands import backfill
from sentry_api_fake import ORG, TOKEN, FakeSentry
from support import SENTRY_SECRET, hub_client_factory, sentry_headers

ENV = {"SENTRY_CLIENT_SECRET": SENTRY_SECRET, "SENTRY_AUTH_TOKEN": TOKEN, "SENTRY_ORG": ORG}
RAW = {"sentry": {"projects": {"exclude": ["*-staging"]}}}


async def _webhook(hc, payload: dict) -> dict:
    body = json.dumps(payload).encode()
    response = await hc.client.post("/api/sentry/webhook", content=body, headers=sentry_headers(body))
    assert response.status_code == 200, response.text
    return response.json()


async def _issues(hc) -> dict[str, dict]:
    """Every issue by its Sentry id."""
    table, links = Issue.__table__, sa.table("chipp_external_issue", sa.column("issue_id"), sa.column("source"),
                                             sa.column("external_id"))
    query = (sa.select(table, links.c.external_id).join(links, links.c.issue_id == table.c.id)
             .where(links.c.source == "sentry"))
    async with hc.hub.engine.connect() as connection:
        return {row.external_id: dict(row._mapping) for row in await connection.execute(query)}


async def _jobs(hc, kind: str) -> int:
    table = Job.__table__
    async with hc.hub.engine.connect() as connection:
        return (await connection.execute(sa.select(sa.func.count()).where(table.c.kind == kind))).scalar_one()


async def test_one_backfill_brings_exactly_what_was_missed_and_a_second_changes_nothing(
        hub_client, tmp_path, sqlite_template, monkeypatch):
    monkeypatch.setattr("hub_sentry.api.PAGE_SIZE", 10)  # three pages for 26 issues: the cursor is followed
    fake = FakeSentry()
    before = [fake.add_issue(str(100 + n), last_seen=fake.now - timedelta(hours=2)) for n in range(3)]
    async with hub_client(raw=RAW, env=ENV, transport=fake.transport()) as hc:
        for issue in before:
            await _webhook(hc, fake.webhook(issue["id"], "created", {"type": "application", "id": "sentry",
                                                                     "name": "Sentry"}))
        # The hub is down. Sentry goes on: 20 new errors, one of the known ones resolved, one new
        # issue resolved at once, a staging error, and an old issue seen again (ongoing).
        new = [str(500 + n) for n in range(20)]
        for n, issue_id in enumerate(new):
            fake.add_issue(issue_id, last_seen=fake.now - timedelta(minutes=n))
        fake.issues["100"]["status"], fake.issues["100"]["substatus"] = "resolved", None
        fake.add_issue("900", status="resolved", substatus=None)
        fake.add_issue("901", slug="web-staging", project_id="9")
        fake.add_issue("902", substatus="ongoing", first_seen=fake.now - timedelta(days=30))
        fake.add_issue("903", last_seen=fake.now - timedelta(days=3))  # outside the window
        fake.fail_next(429, "/issues/", headers={"retry-after": "0", "x-sentry-rate-limit-remaining": "0"})

        out = io.StringIO()
        args = argparse.Namespace(since=timedelta(hours=24), project=None)
        assert await backfill(args, hc.hub.settings, hc.hub.pm, out=out, http_transport=fake.transport()) == 0
        summary = out.getvalue().splitlines()[0]
        assert summary.startswith("sentry backfill: 26 seen, 20 created, 1 updated, 2 unchanged, 3 skipped")
        for reason in ("resolved in Sentry, never tracked", "project web-staging is not enabled",
                       "action=created, substatus=ongoing: not a new unique error"):
            assert reason in summary
        assert [call[2].get("cursor") for call in fake.calls("GET", "/issues/")] == [None, None, ["0:10:0"],
                                                                                    ["0:20:0"]]

        found = await _issues(hc)
        assert set(found) == {"100", "101", "102", *new}
        assert found["100"]["status"] == "closed"
        assert await _jobs(hc, "enrich") == 23  # enrichment through the outbox, as for a webhook
        rows_after_first = {key: (row["status"], row["description"], row["updated_at"]) for key, row in found.items()}

        # The witness: another hub that did get Sentry's deliveries for the 20.
        twin_db = tmp_path / "twin.db"
        shutil.copy(sqlite_template, twin_db)
        async with hub_client_factory(f"sqlite+aiosqlite:///{twin_db}")(raw=RAW, env=ENV) as twin:
            for issue_id in new:
                await _webhook(twin, fake.webhook(issue_id, "created", {"type": "application", "id": "sentry",
                                                                        "name": "Sentry"}))
            witnessed = await _issues(twin)
        for issue_id in new:
            assert found[issue_id]["description"] == witnessed[issue_id]["description"], issue_id
            assert found[issue_id]["title"] == witnessed[issue_id]["title"]
            assert found[issue_id]["priority"] == witnessed[issue_id]["priority"]

        # A second backfill: nothing to do, nothing changed.
        tally = await reconcile(Pipeline(hc.hub), timedelta(hours=24))
        assert (tally.seen, tally.created, tally.updated, tally.unchanged, sum(tally.skipped.values())) == (26, 0, 0, 23, 3)
        again = await _issues(hc)
        assert {key: (row["status"], row["description"], row["updated_at"]) for key, row in again.items()} == \
            rows_after_first
        assert await _jobs(hc, "enrich") == 23


async def test_a_regression_missed_reopens_and_a_project_backfill_asks_for_that_project(hub_client):
    fake = FakeSentry()
    fake.add_issue("7", slug="api", project_id="11")
    fake.add_issue("8", slug="web", project_id="12")
    async with hub_client(env=ENV, transport=fake.transport()) as hc:
        await _webhook(hc, fake.webhook("7", "created", {"type": "application", "id": "sentry", "name": "Sentry"}))
        await _webhook(hc, {**fake.webhook("7", "resolved", {"type": "user", "id": 1, "name": "Jane"})})
        assert (await _issues(hc))["7"]["status"] == "closed"
        fake.issues["7"].update(status="unresolved", substatus="regressed",
                                lastSeen=fake.issues["7"]["lastSeen"].replace("Z", "1Z"))
        tally = await reconcile(Pipeline(hc.hub), timedelta(hours=1), project="api")
        assert (tally.seen, tally.updated) == (1, 1)
        assert fake.calls("GET", "/issues/")[-1][2]["project"] == ["11"]
        assert (await _issues(hc))["7"]["status"] == "open"
        assert "8" not in await _issues(hc)


async def test_a_refusing_sentry_ends_the_backfill_in_words(hub_client):
    # (Each refusal's words: plugins/sentry/tests/test_api.py.)
    fake = FakeSentry()
    fake.fail_next(401, "/api/0/")
    words = "Sentry refused the token"
    async with hub_client(env=ENV, transport=fake.transport()) as hc:
        args = argparse.Namespace(since=timedelta(hours=24), project=None)
        with pytest.raises(hub.CommandError) as raised:
            await backfill(args, hc.hub.settings, hc.hub.pm, out=io.StringIO(), http_transport=fake.transport())
        assert words in str(raised.value) and TOKEN not in str(raised.value)


def test_the_command_says_what_is_missing_and_what_does_not_answer(tmp_path, sqlite_template, monkeypatch, capsys):
    db_file = tmp_path / "hub.db"
    shutil.copy(sqlite_template, db_file)
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "sqlite+aiosqlite:///{db_file}"\n[sentry]\napi_url = "http://127.0.0.1:9"\n')
    for name in ("SENTRY_AUTH_TOKEN", "SENTRY_ORG", "SENTRY_API_URL", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    assert hub.cli.main(["sentry", "backfill", "--since", "2h", "--config", str(config)]) == 1
    assert "hub: the backfill asks Sentry's API: set SENTRY_AUTH_TOKEN" in capsys.readouterr().err
    monkeypatch.setenv("SENTRY_AUTH_TOKEN", TOKEN)
    monkeypatch.setenv("SENTRY_ORG", ORG)
    assert hub.cli.main(["sentry", "backfill", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "hub: sentry backfill: cannot read the token's scopes: Sentry at http://127.0.0.1:9 did not answer" in err
    assert TOKEN not in err
    with pytest.raises(SystemExit) as exited:
        hub.cli.main(["sentry", "backfill", "--since", "soon", "--config", str(config)])
    assert exited.value.code == 2 and "expected a positive age such as 7d" in capsys.readouterr().err


def test_what_each_listed_issue_becomes():
    from hub.types import IssueView
    from datetime import datetime, timezone

    def view(status: str) -> IssueView:
        return IssueView(id="i", identifier="CHIPP-1", title="t", description="", priority="P3", status=status,
                         assignee=None, created_at=datetime.now(timezone.utc))

    assert delivery_for({"status": "unresolved", "substatus": "new"}, None)[0] == "created"
    assert delivery_for({"status": "unresolved"}, None)[0] == "created"  # older Sentry: no substatus
    assert delivery_for({"status": "unresolved", "substatus": "regressed"}, None)[0] == "unresolved"
    assert delivery_for({"status": "resolved"}, None) == (None, "resolved in Sentry, never tracked")
    assert delivery_for({"status": "ignored"}, None) == (None, "archived in Sentry, never tracked")
    assert delivery_for({"status": "resolved"}, view("open"))[0] == "resolved"
    assert delivery_for({"status": "ignored"}, view("open"))[0] == "ignored"
    assert delivery_for({"status": "resolved"}, view("closed")) == (None, "in step")
    assert delivery_for({"status": "unresolved", "substatus": "escalating"}, view("closed"))[0] == "unresolved"
    assert delivery_for({"status": "unresolved", "substatus": "ongoing"}, view("closed")) == (None, "in step")
    assert [stats_period(timedelta(hours=24)), stats_period(timedelta(minutes=90)), stats_period(timedelta(days=14))] \
        == ["1d", "90m", "2w"]


async def test_the_periodic_reconcile_runs_in_one_process_per_interval(hub_client):
    from hub.periodic import PeriodicRunner

    fake = FakeSentry()
    fake.add_issue("77")
    async with hub_client(raw={"sentry": {"reconcile_interval_minutes": 15}}, env=ENV, transport=fake.transport()) as hc:
        runner, other = PeriodicRunner(hc.hub), PeriodicRunner(hc.hub)
        assert [(periodic.name, periodic.interval_seconds) for periodic in runner.periodics] == [
            ("sentry.reconcile", 900.0)]
        assert await runner.tick() == ["sentry.reconcile"]
        assert await other.tick() == []
        (run,) = runner._runs.values()
        await run
        assert "77" in await _issues(hc)
    async with hub_client(env=ENV, transport=fake.transport()) as hc:
        assert PeriodicRunner(hc.hub).periodics == []  # off by default


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


async def test_on_a_terminal_a_progress_bar_then_the_summary(hub_client):
    fake = FakeSentry()
    for number in range(3):
        fake.add_issue(str(60 + number))
    async with hub_client(env=ENV, transport=fake.transport()) as hc:
        out = Terminal()
        args = argparse.Namespace(since=timedelta(hours=1), project=None)
        assert await backfill(args, hc.hub.settings, hc.hub.pm, out=out, http_transport=fake.transport()) == 0
        bar, summary, queued = out.getvalue().rsplit("\r", 1)[1].splitlines()
        assert bar.startswith("[##############################] 3/3") and bar.endswith("3 created")
        assert summary == "sentry backfill: 3 seen, 3 created, 0 updated, 0 unchanged, 0 skipped"
        assert queued == "sentry backfill: the new issues' enrichment is queued for the hub's worker"
