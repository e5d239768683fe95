"""A burst of one deploy's issues: concurrent identical reads share one call (hub_github.flight), the
commit list of nearby windows is shared, and every request keeps within the token's budget
(hub_github.pacing.Budget). GitHub is the recorded PyGithub exchanges (tests/fixtures, README)."""

from __future__ import annotations

import asyncio
import copy
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from hypothesis import HealthCheck, given, settings as hypothesis_settings
from hypothesis import strategies as st

from hub import RetryLater, Section
from hub.cache import MemoryCache
from hub.plugins import build_plugin_manager
from hub_github import plugin
from hub_github.client import GitHubClient, flights
from hub_github.correlate import Window, list_commit_shas
from hub_github.flight import SingleFlight
from hub_github.pacing import READ_POINTS, WRITE_POINTS, Budget

REPO = "PyGithub/PyGithub"
SHA = "0791cc7b1a706ab5d7c607ddff35de4d486ba3e9"
# list-commits.json: commits at 18:27:45 and 17:30:06 on 2023-08-28; deployments in August 2020.
SEEN = datetime(2023, 8, 28, 19, 0, tzinfo=timezone.utc)
HOURS_TO_2020 = 26400


class Gate:
    """Holds every answer of ``fake`` until ``open`` is set (GitHub being slow), counting requests in flight."""

    def __init__(self, fake) -> None:
        self.fake = fake
        self.open = asyncio.Event()
        self.in_flight = 0
        self.peak = 0

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await self.open.wait()
            return self.fake._handle(request)
        finally:
            self.in_flight -= 1

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handle))


async def until(condition, timeout: float = 5.0) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.001)

    await asyncio.wait_for(poll(), timeout)


async def test_twenty_enrichments_of_one_deploy_make_one_call_per_url(fake_github, make_settings, token, issue,
                                                                        make_link):
    fake_github.serve("list-commits.json", ignore=("sha",))
    fake_github.serve("list-deployments.json")
    fake_github.serve("list-deployment-statuses.json", as_repo=("jacquev6/PyGithub", REPO))
    fake_github.respond("GET", f"/repos/{REPO}/deployments/262350588/statuses", json_body=[])
    gate = Gate(fake_github)
    settings = make_settings({"repo": REPO, "max_commits": 1, "lookback_hours": HOURS_TO_2020},
                             env={"GITHUB_TOKEN": token})
    pm = build_plugin_manager(load_entry_points=False, extra=[plugin])
    http, cache = gate.client(), MemoryCache()
    joined = flights().joined

    async def enrich(number: int) -> Section:
        # The errors of one deploy, first seen over three minutes (in one LIST_STEP).
        first_seen = SEEN + timedelta(seconds=1 + 10 * number)
        [result] = pm.hook.enrich_description(issue=issue, link=make_link(), stack_files=[], first_seen=first_seen,
                                              project="backend", config=settings, http=http, cache=cache)
        return await result

    tasks = [asyncio.create_task(enrich(number)) for number in range(20)]
    await until(lambda: flights().joined - joined == 19)  # all twenty wait for the one commit list
    gate.open.set()
    sections = await asyncio.gather(*tasks)
    assert len({section.markdown for section in sections}) == 1 and SHA[:7] in sections[0].markdown
    paths = fake_github.paths()
    assert sorted(paths) == sorted(set(paths))  # not one URL asked twice
    assert len(paths) == 6  # the list, the commit's two pages, the deployments, two deployments' statuses


async def test_a_failed_call_fails_every_caller_and_a_cancelled_caller_leaves_the_others():
    flight, release = SingleFlight(), asyncio.Event()
    calls = []

    async def call() -> str:
        calls.append(1)
        await release.wait()
        raise RuntimeError("GitHub answered 500")

    first = asyncio.create_task(flight.run("k", call))
    second = asyncio.create_task(flight.run("k", call))
    third = asyncio.create_task(flight.run("k", call))
    await until(lambda: flight.joined == 2)
    third.cancel()  # its job was released at shutdown
    release.set()
    for task in (first, second):
        with pytest.raises(RuntimeError, match="500"):
            await task
    with pytest.raises(asyncio.CancelledError):
        await third
    assert calls == [1] and (flight.made, flight.joined) == (1, 2)

    async def answer() -> str:
        calls.append(1)
        return "again"

    assert await flight.run("k", answer) == "again"  # nothing is kept once a call ended
    assert len(calls) == 2


async def test_requests_beyond_the_concurrency_wait_for_a_free_slot(fake_github, token):
    for number in range(5):
        fake_github.respond("GET", f"/repos/o/r/deployments/{number}/statuses", json_body=[])
    gate = Gate(fake_github)
    client = GitHubClient(gate.client(), api_url="https://api.github.com", token=token, cache=MemoryCache(),
                          max_concurrent=2)
    tasks = [asyncio.create_task(client.get_json(f"/repos/o/r/deployments/{n}/statuses")) for n in range(5)]
    await until(lambda: gate.in_flight == 2)
    await asyncio.sleep(0.01)
    assert gate.in_flight == 2  # the three others wait in the budget, not at GitHub
    gate.open.set()
    assert await asyncio.gather(*tasks) == [[]] * 5
    assert gate.peak == 2


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_points_and_response_time_of_a_minute_are_kept_under_the_limits():
    clock = Clock()
    budget = Budget(10, points_per_minute=6, response_seconds_per_minute=90, clock=clock)
    for _ in range(3):
        async with budget.request(points=1):
            pass
        clock.now += 1
    async with budget.request(points=3):  # 6 points: the minute is full
        pass
    assert budget.wait_needed(points=1) == pytest.approx(57.0)  # until the first request is a minute old
    clock.now += 57
    assert budget.wait_needed(points=1) == 0

    slow = Budget(10, points_per_minute=900, response_seconds_per_minute=90, clock=clock)
    async with slow.request():
        clock.now += 90  # one answer took the minute's 90 s of GitHub's time
    assert slow.wait_needed() == pytest.approx(60.0)


async def test_the_hours_reserve_is_kept_until_githubs_reset(fixture_data):
    # A recorded answer: x-ratelimit-remaining 4997, x-ratelimit-reset 1376950974 (2013-08-19T22:22:54Z).
    headers = fixture_data("list-commits-since-until.json")["exchanges"][0]["response"]["headers"]
    wall = Clock()
    wall.now = 1376950974 - 600
    budget = Budget(10, reserve=4997, wall=wall)
    budget.note(headers)
    with pytest.raises(RetryLater) as refused:
        async with budget.request():
            pass
    assert refused.value.until == datetime(2013, 8, 19, 22, 22, 54, tzinfo=timezone.utc)
    assert "4997 requests left" in refused.value.reason
    budget.note({**headers, "x-ratelimit-remaining": "4999"})  # an older answer arriving late
    assert budget.remaining == 4997
    wall.now = 1376950974  # GitHub's new hour
    async with budget.request():
        pass
    assert Budget(10, reserve=100, wall=wall).remaining is None  # nothing known yet: nothing held back


async def test_a_write_waiting_for_its_pace_holds_no_slot_and_reads_are_never_paced():
    clock, paced = Clock(), asyncio.Event()

    async def sleep(seconds: float) -> None:  # the pace's wait, held until the test lets it end
        await paced.wait()
        clock.now += seconds

    budget = Budget(1, clock=clock, sleep=sleep)
    async with budget.request(WRITE_POINTS, write_interval=1.0):
        pass
    started: list[float] = []

    async def second_write() -> None:
        async with budget.request(WRITE_POINTS, write_interval=1.0):
            started.append(clock.now)

    waiting = asyncio.create_task(second_write())
    await asyncio.sleep(0.01)
    assert not started and budget.in_flight == 0
    async with budget.request(READ_POINTS, write_interval=1.0):  # the one slot is free for a read
        assert budget.in_flight == 1
    paced.set()
    await waiting
    assert started == [1001.0]  # a second after the first write


def _dated(recorded: dict, sha: str, moment: datetime) -> dict:
    item = copy.deepcopy(recorded)
    item["sha"] = sha
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    item["commit"]["committer"]["date"] = item["commit"]["author"]["date"] = stamp
    return item


@hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(offsets=st.lists(st.integers(-3 * 3600, 3600), max_size=40),
       first_seen=st.datetimes(min_value=datetime(2023, 1, 1), max_value=datetime(2024, 1, 1),
                               timezones=st.just(timezone.utc)),
       max_commits=st.integers(1, 20))
async def test_the_widened_list_is_cut_to_the_exact_window(fixture_data, make_settings, token, offsets, first_seen,
                                                            max_commits):
    """Whatever commits surround the window, the hub keeps exactly the newest ones inside it."""
    recorded = fixture_data("list-commits-since-until.json")["exchanges"][0]["response"]["body"][0]
    settings = make_settings({"repo": "o/r", "lookback_hours": 2}, env={"GITHUB_TOKEN": token}).plugin("github")
    window = Window.before(first_seen, settings)
    commits = sorted((_dated(recorded, f"{n:040x}", window.until + timedelta(seconds=offset))
                      for n, offset in enumerate(offsets)), key=lambda c: c["commit"]["committer"]["date"],
                     reverse=True)

    def github(request: httpx.Request) -> httpx.Response:  # GitHub's filter: since <= date <= until, newest first
        since, until_ = (datetime.fromisoformat(request.url.params[k].replace("Z", "+00:00")) for k in ("since", "until"))
        listed = [c for c in commits if since <= datetime.fromisoformat(
            c["commit"]["committer"]["date"].replace("Z", "+00:00")) <= until_]
        return httpx.Response(200, json=listed[:int(request.url.params["per_page"])])

    client = GitHubClient(httpx.AsyncClient(transport=httpx.MockTransport(github)), api_url="https://api.github.com",
                          token=token, cache=MemoryCache())
    shas = await list_commit_shas(client, "o/r", window, max_commits)
    inside = [c["sha"] for c in commits if window.since <= datetime.fromisoformat(
        c["commit"]["committer"]["date"].replace("Z", "+00:00")) <= window.until]
    assert shas == inside[:max_commits]
