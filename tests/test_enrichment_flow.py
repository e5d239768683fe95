"""Sentry delivery -> answer -> GitHub enrichment in the worker, through the real app.

GitHub is the recorded PyGithub exchange served by an httpx MockTransport that holds every
answer until the test releases it: the webhook is answered while GitHub has not answered yet.
"""

from __future__ import annotations

import asyncio
import json
import threading

import httpx

from hub.jobs import outage_streak
from support import FIXTURES, SENTRY_SECRET, sentry_headers

REPO = "PyGithub/PyGithub"
ENV = {"SENTRY_CLIENT_SECRET": SENTRY_SECRET, "GITHUB_TOKEN": "ghp_flowTestToken0001", "GITHUB_REPO": REPO}
RAW = {"github": {"max_commits": 1, "max_deployments": 0}, "worker": {"poll_interval_seconds": 0.05}}


def recorded_github() -> dict[tuple[str, str], dict]:
    """(path, page) -> recorded response, from tests/fixtures/github/list-commits.json."""
    exchanges = json.loads((FIXTURES / "github" / "list-commits.json").read_text())["exchanges"]
    answers = {}
    for exchange in exchanges:
        url = httpx.URL(exchange["request"]["url"])
        path = url.path.replace("/repositories/3544490/", f"/repos/{REPO}/")
        answers[(path, url.params.get("page", "1"))] = exchange["response"]
    return answers


class GatedGitHub:
    """Answers from the recording, but only once ``release`` is set (GitHub being very slow)."""

    def __init__(self, fail: bool = False) -> None:
        self.answers = recorded_github()
        self.release = threading.Event()
        self.fail = fail
        self.requests: list[str] = []

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request.url.path)
        while not self.release.is_set():
            await asyncio.sleep(0.01)
        if self.fail:
            return httpx.Response(502, json={"message": "Server Error"})
        recorded = self.answers.get((request.url.path, request.url.params.get("page", "1")))
        if recorded is None:
            return httpx.Response(404, json={"message": "Not Found"})
        link = recorded["headers"].get("link")
        headers = {"link": link.replace("/repositories/3544490/", f"/repos/{REPO}/")} if link else {}
        return httpx.Response(recorded["status"], json=recorded["body"], headers=headers)


def sentry_body(first_seen: str = "2023-08-28T19:00:00Z") -> bytes:
    payload = json.loads((FIXTURES / "sentry" / "mocks-integration-platform-example" / "issue-created.json").read_text())
    payload["data"]["issue"]["firstSeen"] = first_seen
    return json.dumps(payload).encode()


async def wait_for_job(hc, identifier: str, status: str, timeout: float = 20) -> dict:
    async def poll() -> dict:
        while True:
            issue = (await hc.client.get(f"/api/issues/{identifier}")).json()
            if issue["jobs"] and issue["jobs"][0]["status"] == status:
                return issue
            await asyncio.sleep(0.05)

    return await asyncio.wait_for(poll(), timeout)


async def test_webhook_is_answered_before_enrichment_runs(hub_client):
    github = GatedGitHub()
    transport = httpx.MockTransport(github.handle)
    async with hub_client(raw=RAW, env=ENV, transport=transport, start_worker=True) as hc:
        body = sentry_body()
        response = await hc.client.post("/api/sentry/webhook", content=body, headers=sentry_headers(body))
        assert response.status_code == 200
        identifier = response.json()["issue"]["identifier"]
        issue = (await hc.client.get(f"/api/issues/{identifier}")).json()
        # Answered and stored while GitHub has not answered a single request.
        assert "## Suspected Cause" not in issue["description"]
        assert issue["jobs"][0]["status"] in ("queued", "running")
        github.release.set()
        done = await wait_for_job(hc, identifier, "done")
    description = done["description"]
    assert description.count("## Suspected Cause") == 1
    assert "### Recent Commits" in description and "[`0791cc7`]" in description
    assert description.index("## Links") < description.index("## Suspected Cause")
    assert github.requests[0] == f"/repos/{REPO}/commits"


async def test_github_down_leaves_the_issue_intact_and_the_job_waiting(hub_client):
    """A GitHub outage (502 to every request) is waited out: it never uses up the job's attempts."""
    github = GatedGitHub(fail=True)
    github.release.set()
    raw = {**RAW, "worker": {"poll_interval_seconds": 0.05, "max_attempts": 2, "backoff_base_seconds": 0}}
    async with hub_client(raw=raw, env=ENV, transport=httpx.MockTransport(github.handle), start_worker=True) as hc:
        body = sentry_body()
        response = await hc.client.post("/api/sentry/webhook", content=body, headers=sentry_headers(body))
        identifier = response.json()["issue"]["identifier"]
        before = (await hc.client.get(f"/api/issues/{identifier}")).json()

        async def three_outages() -> dict:
            while True:
                issue = (await hc.client.get(f"/api/issues/{identifier}")).json()
                job = issue["jobs"][0]
                if job["status"] == "queued" and job["last_error"] and outage_streak(job["last_error"]) >= 3:
                    return issue
                await asyncio.sleep(0.02)

        waiting = await asyncio.wait_for(three_outages(), 20)
        github.fail = False  # GitHub is back
        done = await wait_for_job(hc, identifier, "done")
    assert waiting["description"] == before["description"]
    assert waiting["jobs"][0]["attempts"] == 0  # more tries than max_attempts, none of them counted
    assert "502" in waiting["jobs"][0]["last_error"]
    assert "ghp_flowTestToken0001" not in json.dumps(waiting)
    assert done["description"].count("## Suspected Cause") == 1 and done["jobs"][0]["attempts"] == 1


async def test_claimed_jobs_wait_on_github_together_not_one_after_another(hub_client):
    github = GatedGitHub()
    async with hub_client(raw=RAW, env=ENV, transport=httpx.MockTransport(github.handle), start_worker=True) as hc:
        identifiers = []
        # First seen hours apart: three commit lists (one would be shared: test_bursts.py).
        for issue_id, first_seen in (("9001", "2023-08-28T19:00:00Z"), ("9002", "2023-08-28T17:00:00Z"),
                                     ("9003", "2023-08-28T15:00:00Z")):
            payload = json.loads(sentry_body(first_seen))
            payload["data"]["issue"]["id"] = issue_id
            body = json.dumps(payload).encode()
            response = await hc.client.post("/api/sentry/webhook", content=body, headers=sentry_headers(body))
            identifiers.append(response.json()["issue"]["identifier"])

        async def three_jobs_waiting_on_github() -> None:
            while len(github.requests) < 3:
                await asyncio.sleep(0.01)

        # GitHub has answered nothing yet: three requests in flight means three jobs at once.
        await asyncio.wait_for(three_jobs_waiting_on_github(), 10)
        github.release.set()
        for identifier in identifiers:
            await wait_for_job(hc, identifier, "done")
