"""The GitHub Issues mirror through the real app, on both databases: Sentry -> hub -> GitHub and back.

GitHub is faked at the transport (tests/github_fake.py) with its recorded answers; GitHub's
webhook deliveries are its documented bodies, about the test's repository and issue.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from github_fake import FakeGitHubIssues, github_headers, webhook_body
from hub.jobs import Worker
from hub.models import Comment, IssueEvent, Job
from support import SENTRY_SECRET, sentry_headers, sentry_issue_body

REPO = "acme/web"
WEBHOOK_SECRET = "test-github-webhook-secret-42"
ENV = {"SENTRY_CLIENT_SECRET": SENTRY_SECRET, "GITHUB_TOKEN": "ghp_mirrorTestToken0001",
       "GITHUB_WEBHOOK_SECRET": WEBHOOK_SECRET}
RAW = {"github": {"issues": {"enabled": True, "repo": REPO, "min_write_interval_seconds": 0,
                             "labels": {"P1": "priority: critical"}, "assignees": {"alice": "Codertocat"}}},
       "auth": {"public_url": "https://hub.example.com"}}
BOT = "octokit-fixture-user-a"  # the author of the recorded create answer: the token's own login


async def run_jobs(hc) -> int:
    return await Worker(hc.hub).run_due()


async def sentry(hc, action: str = "created", substatus: str | None = "new") -> dict[str, Any]:
    body = sentry_issue_body("4242", action=action, substatus=substatus)
    response = await hc.client.post("/api/sentry/webhook", content=body, headers=sentry_headers(body))
    assert response.status_code == 200, response.text
    return response.json()


async def from_github(hc, name: str, event: str, delivery: str, number: int = 1, **changes: Any):
    body = json.dumps(webhook_body(name, REPO, number, **changes)).encode()
    return await hc.client.post("/api/github/webhook", content=body,
                                headers=github_headers(body, event, delivery, WEBHOOK_SECRET))


async def rows(hc, model, **where) -> list[Any]:
    table = model.__table__
    query = sa.select(table).where(*(table.c[key] == value for key, value in where.items()))
    async with hc.hub.engine.connect() as connection:
        return list((await connection.execute(query)).mappings())


async def test_the_full_round_trip_without_echo(hub_client):
    github = FakeGitHubIssues(REPO)
    async with hub_client(raw=RAW, env=ENV, transport=github.transport()) as hc:
        created = await sentry(hc)
        identifier = created["issue"]["identifier"]
        await run_jobs(hc)
        (method, path, body), = github.writes()
        assert (method, path) == ("POST", f"/repos/{REPO}/issues")
        assert body["title"] == (await hc.client.get(f"/api/issues/{identifier}")).json()["title"]
        assert f"[{identifier}](https://hub.example.com/issues/{identifier})" in body["body"]
        assert "Sentry" in body["labels"]
        issue = (await hc.client.get(f"/api/issues/{identifier}")).json()
        assert any(link["source"] == "github" and link["external_id"] == f"{REPO}#1" for link in issue["links"])

        # Closed on GitHub by a person: the hub issue is resolved, as github:<login>.
        answer = await from_github(hc, "issues.closed.json", "issues", "d-1")
        assert answer.status_code == 200, answer.text
        assert answer.json()["changes"] == [{"kind": "close"}]
        issue = (await hc.client.get(f"/api/issues/{identifier}")).json()
        assert issue["status"] == "closed"
        events = await rows(hc, IssueEvent, issue_id=issue["id"], kind="close")
        assert [event["actor"] for event in events] == ["github:C-Saunders"]
        # ...and nothing is queued to send it back to GitHub.
        assert await run_jobs(hc) == 0
        assert len(github.writes()) == 1

        # Sentry says it regressed: the hub reopens, GitHub is reopened with the comment.
        regressed = await sentry(hc, action="unresolved", substatus="regressed")
        assert [change["kind"] for change in regressed["changes"]] == ["reopen", "comment"]
        await run_jobs(hc)
        reopen, comment = github.writes()[1:]
        assert reopen == ("PATCH", f"/repos/{REPO}/issues/1", {"state": "open"})
        assert comment[:2] == ("POST", f"/repos/{REPO}/issues/1/comments")
        assert comment[2]["body"].startswith("**sentry** (in the hub):") and "<!-- hub:comment " in comment[2]["body"]
        assert github.issues[1]["state"] == "open"

        # GitHub tells the hub what the hub just did: both are the hub's own, neither comes back.
        echo = await from_github(hc, "issues.reopened.json", "issues", "d-2", sender__login=BOT)
        assert echo.json()["skipped"] is True and "own token" in echo.json()["reason"]
        mirrored = github.comments[1][0]
        echo = await from_github(hc, "issue_comment.created.json", "issue_comment", "d-3",
                                 comment__body=mirrored["body"], comment__id=mirrored["id"])
        assert echo.json()["skipped"] is True
        comments = await rows(hc, Comment, issue_id=issue["id"])
        assert [comment["author"] for comment in comments] == ["sentry"]
        assert await run_jobs(hc) == 0 and len(github.writes()) == 3

        # A person's comment on GitHub comes back once, however often GitHub delivers it.
        for delivery in ("d-4", "d-4", "d-5"):
            await from_github(hc, "issue_comment.created.json", "issue_comment", delivery)
        comments = await rows(hc, Comment, issue_id=issue["id"])
        assert [comment["author"] for comment in comments] == ["sentry", "github:Codertocat"]
        assert await run_jobs(hc) == 0 and len(github.writes()) == 3


async def test_a_closed_issue_closes_on_github_and_comments_from_the_api_are_mirrored(hub_client):
    github = FakeGitHubIssues(REPO)
    async with hub_client(raw=RAW, env=ENV, transport=github.transport(), token_scope="write") as hc:
        identifier = (await sentry(hc))["issue"]["identifier"]
        await run_jobs(hc)
        await sentry(hc, action="resolved", substatus=None)
        response = await hc.client.post(f"/api/issues/{identifier}/comments", json={"body": "Fixed in #12"})
        assert response.status_code in (200, 201), response.text
        await run_jobs(hc)
        writes = github.writes()[1:]
        assert writes[0] == ("PATCH", f"/repos/{REPO}/issues/1", {"state": "closed", "state_reason": "completed"})
        authors = [body["body"].split("**")[1] for _method, _path, body in writes if "body" in body]
        assert authors[-1].startswith("token:")


async def test_assignment_comes_back_through_the_map(hub_client):
    github = FakeGitHubIssues(REPO)
    async with hub_client(raw=RAW, env=ENV, transport=github.transport()) as hc:
        identifier = (await sentry(hc))["issue"]["identifier"]
        await run_jobs(hc)
        answer = (await from_github(hc, "issues.assigned.json", "issues", "a-1")).json()
        assert answer["changes"] == [{"kind": "assign", "value": "alice"}]
        assert (await hc.client.get(f"/api/issues/{identifier}")).json()["assignee"] == "alice"
        answer = (await from_github(hc, "issues.unassigned.json", "issues", "a-2")).json()
        assert answer["changes"] == [{"kind": "assign"}]
        assert await run_jobs(hc) == 0 and len(github.writes()) == 1


async def test_unrelated_and_unmirrored_issues_are_skipped(hub_client):
    github = FakeGitHubIssues(REPO)
    async with hub_client(raw=RAW, env=ENV, transport=github.transport()) as hc:
        answer = (await from_github(hc, "issues.closed.json", "issues", "u-1", number=77)).json()
        assert answer["skipped"] is True and "no issue is linked" in answer["reason"]
        body = json.dumps(webhook_body("issues.closed.json", "someone/else", 1)).encode()
        answer = (await hc.client.post("/api/github/webhook", content=body,
                                       headers=github_headers(body, "issues", "u-2", WEBHOOK_SECRET))).json()
        assert answer["skipped"] is True and "not mirrored" in answer["reason"]
        bad = await hc.client.post("/api/github/webhook", content=body,
                                   headers=github_headers(body, "issues", "u-3", "wrong-secret"))
        assert bad.status_code == 401


async def test_a_create_that_timed_out_is_found_not_made_twice(hub_client):
    github = FakeGitHubIssues(REPO)
    github.timeout_after_create = True
    async with hub_client(raw=RAW, env=ENV, transport=github.transport()) as hc:
        identifier = (await sentry(hc))["issue"]["identifier"]
        await run_jobs(hc)
        jobs = await rows(hc, Job, kind="publish")
        assert jobs[0]["status"] == "queued" and "ReadTimeout" in jobs[0]["last_error"]
        async with hc.hub.engine.begin() as connection:  # the backoff is over
            await connection.execute(sa.update(Job.__table__).values(run_after=sa.func.now()))
        await run_jobs(hc)
        assert [request[:2] for request in github.requests] == [
            ("POST", f"/repos/{REPO}/issues"), ("GET", f"/repos/{REPO}/issues")]
        assert len(github.issues) == 1
        issue = (await hc.client.get(f"/api/issues/{identifier}")).json()
        assert [link["external_id"] for link in issue["links"] if link["source"] == "github"] == [f"{REPO}#1"]
        assert (await rows(hc, Job, kind="publish"))[0]["status"] == "done"


async def test_a_repository_that_is_gone_fails_the_job_at_once(hub_client):
    github = FakeGitHubIssues(REPO)
    github.refuse.append(("POST", "not-found-404.json"))
    async with hub_client(raw=RAW, env=ENV, transport=github.transport()) as hc:
        await sentry(hc)
        await run_jobs(hc)
        job, = await rows(hc, Job, kind="publish")
        assert job["status"] == "failed" and job["attempts"] == 1
        assert job["last_error"].startswith("GitHub answered 404 to POST /repos/acme/web/issues: Not Found")
        assert "ghp_" not in job["last_error"]


async def test_a_secondary_rate_limit_waits_for_retry_after(hub_client):
    github = FakeGitHubIssues(REPO)
    github.refuse.append(("POST", "secondary-rate-limited-403.json"))
    async with hub_client(raw=RAW, env=ENV, transport=github.transport()) as hc:
        await sentry(hc)
        await run_jobs(hc)
        job, = await rows(hc, Job, kind="publish")
        assert job["status"] == "queued" and "secondary rate limit" in job["last_error"]
        waited = (job["run_after"] - job["updated_at"]).total_seconds()
        assert 55 <= waited <= 65 + 6  # Retry-After (60 s), plus the worker's jitter (at most a tenth)


async def test_hook_publish_issue_is_not_called_while_the_mirror_is_off(hub_client):
    github = FakeGitHubIssues(REPO)
    raw = {"github": {"issues": {"enabled": False, "repo": REPO}}}
    async with hub_client(raw=raw, env=ENV, transport=github.transport()) as hc:
        await sentry(hc)
        await run_jobs(hc)
        assert await rows(hc, Job, kind="publish") == []
        assert github.requests == []


async def test_hook_check_sink_reports_a_token_without_the_scope_and_an_unknown_repository(hub_client):
    from hub.sinks import check_sinks

    github = FakeGitHubIssues(REPO)
    async with hub_client(raw=RAW, env=ENV, transport=github.transport()) as hc:
        assert await check_sinks(hc.hub) == []
        github.scopes = "gist, read:org"
        problems = await check_sinks(hc.hub)
        assert problems == ["the token lacks the 'public_repo' scope needed to write issues in acme/web "
                            "(it has: gist, read:org)"]
        github.repo = "acme/other"  # acme/web is now unknown to GitHub
        problems = await check_sinks(hc.hub)
        assert len(problems) == 1 and problems[0].startswith("repository acme/web: GitHub answered 404 to GET")


async def test_hook_register_sinks_only_while_enabled(hub_client):
    async with hub_client(raw={"github": {"issues": {"enabled": False}}}, env=ENV) as hc:
        assert hc.hub.store.sinks == ()
    async with hub_client(raw=RAW, env=ENV) as hc:
        assert [sink.name for sink in hc.hub.store.sinks] == ["github"]


async def test_sync_publishes_issues_made_before_the_mirror_was_on(hub_client, database_url):
    import io

    from hub.plugins import build_plugin_manager
    from hub.sync import run_sync
    from support import make_settings

    github = FakeGitHubIssues(REPO)
    async with hub_client(raw={"github": {"issues": {"enabled": False}}}, env=ENV) as hc:
        for number in ("1", "2", "3"):
            body = sentry_issue_body(number)
            assert (await hc.client.post("/api/sentry/webhook", content=body,
                                         headers=sentry_headers(body))).status_code == 200
    pm = build_plugin_manager()
    settings = make_settings(database_url, RAW, ENV, pm)
    out = io.StringIO()
    assert await run_sync(settings, pm, "github", __import__("datetime").timedelta(days=7), out=out,
                          http_transport=github.transport(), poll_seconds=0.01) == 0
    assert len(github.issues) == 3
    assert "3 issue(s)" in out.getvalue() and "[" + "#" * 30 + "] 3/3" in out.getvalue()
    out = io.StringIO()  # a second sync finds nothing left to do
    assert await run_sync(settings, pm, "github", __import__("datetime").timedelta(days=7), out=out,
                          http_transport=github.transport(), poll_seconds=0.01) == 0
    assert "0 issue(s)" in out.getvalue() and len(github.issues) == 3


async def test_the_suspected_cause_edits_the_github_body(hub_client):
    from hub import Section

    github = FakeGitHubIssues(REPO)
    async with hub_client(raw=RAW, env=ENV, transport=github.transport()) as hc:
        identifier = (await sentry(hc))["issue"]["identifier"]
        await run_jobs(hc)
        issue = (await hc.client.get(f"/api/issues/{identifier}")).json()
        await Worker(hc.hub)._write_sections(issue["id"], [Section("suspected-cause", "## Suspected Cause\n\n- abc1234")])
        await run_jobs(hc)
        method, path, body = github.writes()[-1]
        assert (method, path) == ("PATCH", f"/repos/{REPO}/issues/1")
        assert "## Suspected Cause" in body["body"] and body["body"].rstrip().endswith(f"<!-- hub:issue {issue['id']} -->")
        # Written again with the same text: nothing changed, nothing is sent.
        await Worker(hc.hub)._write_sections(issue["id"], [Section("suspected-cause", "## Suspected Cause\n\n- abc1234")])
        assert await run_jobs(hc) == 0


def test_the_sync_command_takes_an_age():
    import pytest

    from hub.cli import parser_for

    argv = ["github-issues", "sync", "--since", "12h"]
    assert parser_for(argv).parse_args(argv).since.total_seconds() == 12 * 3600
    with pytest.raises(SystemExit):
        argv = ["github-issues", "sync", "--since", "soon"]
        parser_for(argv).parse_args(argv)


async def test_a_token_without_the_scope_is_said_when_the_worker_starts(hub_client, caplog):
    import asyncio
    import logging

    github = FakeGitHubIssues(REPO)
    github.scopes = "gist"
    with caplog.at_level(logging.ERROR, logger="hub.sinks"):
        async with hub_client(raw=RAW, env=ENV, transport=github.transport(), start_worker=True):
            for _ in range(200):
                if any("lacks the 'public_repo' scope" in record.getMessage() for record in caplog.records):
                    break
                await asyncio.sleep(0.02)
    lines = [record.getMessage() for record in caplog.records if "scope" in record.getMessage()]
    assert lines == ["[GitHub Issues] the token lacks the 'public_repo' scope needed to write issues in acme/web "
                     "(it has: gist)"]
