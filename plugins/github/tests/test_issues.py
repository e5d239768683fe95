"""The GitHub Issues sink against a fake GitHub serving recorded answers: what it sends, what it
refuses for good, how it waits, and the pace of its writes."""

from __future__ import annotations

import asyncio
import functools
import json
from datetime import datetime, timezone

import httpx
import pytest

from hub import Change, GiveUp, IssueView, LinkView, RetryLater
from hub.cache import MemoryCache
from hub_github import issues, pacing, plugin
from hub_github.client import GitHubClient
from hub_github.pacing import Pacer

REPO = "acme/web"
LINK = LinkView(source="github", external_id=f"{REPO}#7", external_url=None, metadata={"repo": REPO, "number": 7})
SENTRY = LinkView(source="sentry", external_id="42", external_url=None, metadata={"project": {"slug": "mobile"}})


@pytest.fixture
def config(make_settings, token):
    return make_settings({"issues": {"enabled": True, "repo": REPO, "projects": {"mobile": "acme/mobile"},
                                     "min_write_interval_seconds": 0, "labels": {"P1": "urgent"},
                                     "assignees": {"alice": "alice-gh"}}},
                         env={"GITHUB_TOKEN": token})


def hub_issue(**changes) -> IssueView:
    values = dict(id="issue-9", identifier="CHIPP-9", title="TypeError: boom", description="It broke.",
                  priority="P1", status="open", assignee="alice", created_at=datetime(2026, 1, 1, tzinfo=timezone.utc))
    return IssueView(**{**values, **changes})


async def test_a_new_issue_is_created_with_labels_assignee_and_a_link_back(fake_github, config, cache):
    fake_github.replay("create-issue-201.json", 0, "POST", "/repos/acme/mobile/issues")
    async with fake_github.client() as http:
        made = await issues.publish(hub_issue(), None, [SENTRY], [], ["Sentry"], config, http, cache,
                                    project="mobile")
    (request,) = fake_github.requests
    sent = json.loads(request.content)
    assert sent["labels"] == ["Sentry", "urgent"] and sent["assignees"] == ["alice-gh"]
    assert "Tracked in the hub as [CHIPP-9](http://127.0.0.1:8000/issues/CHIPP-9)." in sent["body"]
    assert sent["body"].rstrip().endswith("<!-- hub:issue issue-9 -->")
    assert made.external_id == "acme/mobile#1" and made.metadata == {"repo": "acme/mobile", "number": 1}
    assert "octokit-fixture-user-a" in issues._OWN_LOGINS


@pytest.mark.parametrize(("fixture", "status", "words"), [
    ("gone-410.json", 410, "Issues are disabled for this repo"),
    ("validation-failed-422.json", 422, "Validation Failed (resource=Label field=color code=invalid)"),
    ("not-found-404.json", 404, "Not Found"),
])
async def test_refusals_end_the_job_with_what_github_said(fake_github, config, cache, token, fixture, status, words):
    fake_github.replay(fixture, 0, "PATCH", f"/repos/{REPO}/issues/7")
    async with fake_github.client() as http:
        with pytest.raises(GiveUp) as raised:
            await issues.publish(hub_issue(), LINK, [], [Change("close", actor="sentry")], [], config, http, cache)
    message = str(raised.value)
    assert message.startswith(f"GitHub answered {status} to PATCH /repos/{REPO}/issues/7: {words}")
    assert token not in message


async def test_a_secondary_rate_limit_is_waited_out(fake_github, config, cache):
    fake_github.replay("secondary-rate-limited-403.json", 0, "POST", f"/repos/{REPO}/issues/7/comments")
    async with fake_github.client() as http:
        with pytest.raises(RetryLater) as raised:
            await issues.publish(hub_issue(), LINK, [], [Change("comment", text="hi", actor="user:ana")], [], config,
                                 http, cache)
    assert raised.value.after_seconds == 60.0


async def test_changes_are_sent_in_order_and_a_comment_says_its_author(fake_github, config, cache):
    fake_github.replay("edit-issue-200.json", 0, "PATCH", f"/repos/{REPO}/issues/7")
    fake_github.replay("create-comment-201.json", 0, "POST", f"/repos/{REPO}/issues/7/comments")
    changes = [Change("reopen", actor="sentry"), Change("comment", text="Regressed in 1.2", actor="sentry"),
               Change("description", actor="hub"), Change("close", actor="token:ci")]
    async with fake_github.client() as http:
        assert await issues.publish(hub_issue(), LINK, [], changes, [], config, http, cache) is None
    sent = [(request.method, json.loads(request.content)) for request in fake_github.requests]
    assert sent[0] == ("PATCH", {"state": "open"})
    assert sent[1][0] == "POST" and sent[1][1]["body"].startswith("**sentry** (in the hub):\n\nRegressed in 1.2")
    assert sent[2] == ("PATCH", {"body": issues.issue_body(hub_issue(), config)})
    assert sent[3] == ("PATCH", {"state": "closed", "state_reason": "completed"})


async def test_a_comment_is_posted_once_even_when_the_job_runs_again(fake_github, config, cache):
    fake_github.replay("create-comment-201.json", 0, "POST", f"/repos/{REPO}/issues/7/comments")
    fake_github.replay("edit-issue-200.json", 0, "PATCH", f"/repos/{REPO}/issues/7")
    fake_github.replay("gone-410.json", 0, "PATCH", f"/repos/{REPO}/issues/7")
    changes = [Change("comment", text="once", actor="sentry"), Change("close", actor="sentry")]
    async with fake_github.client() as http:
        await issues.publish(hub_issue(), LINK, [], changes, [], config, http, cache)
        with pytest.raises(GiveUp):  # the second run's close is refused; its comment was not sent again
            await issues.publish(hub_issue(), LINK, [], changes, [], config, http, cache)
    assert [request.method for request in fake_github.requests] == ["POST", "PATCH", "PATCH"]


async def test_a_create_whose_answer_was_lost_is_looked_up_by_its_marker(fake_github, config, fixture_data):
    cache = MemoryCache()
    fake_github.fail("POST", f"/repos/{REPO}/issues", httpx.ReadTimeout("no answer"))
    async with fake_github.client() as http:
        with pytest.raises(Exception) as raised:
            await issues.publish(hub_issue(), None, [], [], [], config, http, cache)
    assert "ReadTimeout" in str(raised.value)
    # GitHub did make it: its list (a recorded page) shows the issue with the hub's marker.
    page = fixture_data("list-issues.json")["exchanges"][0]["response"]["body"]
    page[1]["body"] = issues.issue_body(hub_issue(), config)
    fake_github.respond("GET", f"/repos/{REPO}/issues", json_body=page)
    async with fake_github.client() as http:
        made = await issues.publish(hub_issue(), None, [], [], [], config, http, cache)
    assert made.external_id == f"{REPO}#{page[1]['number']}"
    assert [request.method for request in fake_github.requests] == ["POST", "GET"]
    asked = dict(fake_github.requests[1].url.params)
    assert asked["state"] == "all" and asked["since"].endswith("Z")


class FakeTime:
    """A clock that only moves when something sleeps on it: the sleeps asked for are the pace."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


async def test_writes_are_paced_from_the_previous_ones_end():
    time = FakeTime()
    pacer = Pacer(clock=time.clock, sleep=time.sleep)
    for _ in range(3):
        async with pacer.turn(1.0):
            time.now += 0.25  # the write itself
    assert time.slept == [1.0, 1.0]


async def test_a_tokens_writes_never_overlap_even_when_slower_than_the_interval():
    """GitHub: a token's content-creating requests one at a time, a second apart."""
    time = FakeTime()
    pacer = Pacer(clock=time.clock, sleep=time.sleep)
    inside: list[int] = []

    async def write(n: int) -> None:
        async with pacer.turn(1.0):
            inside.append(n)
            assert inside == [n]  # alone
            await asyncio.sleep(0.01)  # the other write gets every chance to start now
            time.now += 3.0  # a write slower than the interval
            inside.remove(n)

    await asyncio.gather(write(1), write(2))
    assert time.slept == [1.0]  # the second began a second after the first had ended


@pytest.fixture
def fake_time(monkeypatch) -> FakeTime:
    """Every token's budget made from here on keeps its pace on a fake clock."""
    time = FakeTime()
    monkeypatch.setattr(pacing, "Budget", functools.partial(pacing.Budget, clock=time.clock, sleep=time.sleep))
    return time


def paced_config(make_settings, token: str, **github):
    return make_settings({"issues": {"enabled": True, "repo": REPO, "min_write_interval_seconds": 1.0}, **github},
                         env={"GITHUB_TOKEN": token})


async def test_two_tokens_writes_do_not_pace_each_other_and_one_tokens_do(fake_github, make_settings, token,
                                                                         fake_time, cache):
    fake_github.replay("edit-issue-200.json", 0, "PATCH", f"/repos/{REPO}/issues/7")
    fake_github.replay("get-repository.json", 0, "GET", f"/repos/{REPO}")
    first, second = paced_config(make_settings, token), paced_config(make_settings, token[:-4] + "0002")
    close = [Change("close", actor="sentry")]
    async with fake_github.client() as http:
        await issues.publish(hub_issue(), LINK, [], close, [], first, http, cache)
        await issues.publish(hub_issue(), LINK, [], close, [], second, http, cache)  # another token: no wait
        assert fake_time.slept == []
        await plugin.check_sink(sink="github", config=first, http=http, cache=cache)  # a read is never paced
        assert fake_time.slept == []
        await issues.publish(hub_issue(), LINK, [], close, [], first, http, cache)  # the first token's second write
    assert fake_time.slept == [1.0]
    assert len({request.headers["authorization"] for request in fake_github.requests}) == 2


async def test_one_tokens_writes_are_paced_wherever_they_come_from(fake_github, make_settings, token, fake_time,
                                                                  cache):
    """Two configurations of one token in one process (another max_concurrent_requests), and a client of its own."""
    fake_github.replay("edit-issue-200.json", 0, "PATCH", f"/repos/{REPO}/issues/7")
    mirror = paced_config(make_settings, token)
    other_hub = paced_config(make_settings, token, max_concurrent_requests=5)
    close = [Change("close", actor="sentry")]
    async with fake_github.client() as http:
        await issues.publish(hub_issue(), LINK, [], close, [], mirror, http, cache)
        await issues.publish(hub_issue(), LINK, [], close, [], other_hub, http, cache)
        direct = GitHubClient(http, api_url="https://api.github.com", token=token, cache=cache, write_interval=1.0)
        await direct.send("PATCH", f"/repos/{REPO}/issues/7", {"state": "open"})
    assert fake_time.slept == [1.0, 1.0]
    assert len(fake_github.requests) == 3


def test_labels_keep_the_hubs_and_add_the_priority(config):
    settings = config.plugin("github")
    assert issues.issue_labels(hub_issue(), ["Sentry"], settings) == ["Sentry", "urgent"]
    assert issues.issue_labels(hub_issue(priority="P3"), ["Sentry"], settings) == ["Sentry"]


async def test_labels_and_priorities_are_added_never_replacing_githubs_own(fake_github, config, cache):
    fake_github.replay("add-labels-200.json", 0, "POST", f"/repos/{REPO}/issues/7/labels")
    changes = [Change("label", value="Sentry Archived", actor="sentry"), Change("priority", value="P1", actor="sentry"),
               Change("priority", value="P4", actor="sentry")]  # P4 has no GitHub label: nothing to add
    async with fake_github.client() as http:
        await issues.publish(hub_issue(), LINK, [], changes, [], config, http, cache)
    assert [json.loads(request.content) for request in fake_github.requests] == [
        {"labels": ["Sentry Archived"]}, {"labels": ["urgent"]}]


async def test_an_exhausted_primary_rate_limit_is_waited_out(fake_github, config, cache):
    fake_github.replay("rate-limited-403.json", 1, "PATCH", f"/repos/{REPO}/issues/7")
    async with fake_github.client() as http:
        with pytest.raises(RetryLater) as raised:
            await issues.publish(hub_issue(), LINK, [], [Change("close", actor="sentry")], [], config, http, cache)
    assert "rate limit exhausted on PATCH /repos/acme/web/issues/7" in raised.value.reason
    assert raised.value.after_seconds == 60.0
