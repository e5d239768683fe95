"""A burst of one deploy's Sentry issues, enriched together through the real app on each database:
each GitHub URL is asked once, and a later issue of the deploy finds the commit in the shared cache.

GitHub is the recorded PyGithub exchange (tests/fixtures/github/list-commits.json) behind the
gated transport of test_enrichment_flow.py: nothing is answered until every job waits on GitHub.
"""

from __future__ import annotations

import asyncio
import json

import httpx

from hub_github.client import _FLIGHTS
from support import sentry_headers
from test_enrichment_flow import ENV, REPO, GatedGitHub, sentry_body, wait_for_job

SHA = "0791cc7b1a706ab5d7c607ddff35de4d486ba3e9"
BURST = 10
RAW = {"github": {"max_commits": 1, "max_deployments": 0},
       "worker": {"poll_interval_seconds": 0.05, "batch_size": BURST}}


async def deliver(hc, issue_id: str, first_seen: str) -> str:
    payload = json.loads(sentry_body(first_seen))
    payload["data"]["issue"]["id"] = issue_id
    body = json.dumps(payload).encode()
    response = await hc.client.post("/api/sentry/webhook", content=body, headers=sentry_headers(body))
    assert response.status_code == 200, response.text
    return response.json()["issue"]["identifier"]


def joined() -> int:
    """Callers that joined a call in flight, in every event loop (the app runs in a thread of its own)."""
    return sum(flight.joined for flight in list(_FLIGHTS.values()))


async def test_one_deploys_issues_ask_github_each_url_once(hub_client):
    github = GatedGitHub()
    async with hub_client(raw=RAW, env=ENV, transport=httpx.MockTransport(github.handle), start_worker=True) as hc:
        before = joined()
        # First seen over ninety seconds after one deploy (commits at 18:27 and 17:30).
        identifiers = [await deliver(hc, f"77{n:02d}", f"2023-08-28T19:0{n // 6}:{n * 10 % 60:02d}Z")
                       for n in range(1, BURST + 1)]

        async def all_wait_for_one_list() -> None:
            while joined() - before < BURST - 1:
                await asyncio.sleep(0.01)

        await asyncio.wait_for(all_wait_for_one_list(), 20)
        github.release.set()
        for identifier in identifiers:
            done = await wait_for_job(hc, identifier, "done", timeout=30)
            assert f"[`{SHA[:7]}`]" in done["description"]
        # One list, the commit's two pages: three calls for ten issues.
        assert sorted(github.requests) == sorted([f"/repos/{REPO}/commits", f"/repos/{REPO}/commits/{SHA}",
                                                  f"/repos/{REPO}/commits/{SHA}"])

        # The deploy's next issue, alone: its window's list again, the commit from the shared cache.
        later = await deliver(hc, "7799", "2023-08-28T19:05:00Z")
        done = await wait_for_job(hc, later, "done", timeout=30)
        assert f"[`{SHA[:7]}`]" in done["description"]
        assert github.requests[3:] == [f"/repos/{REPO}/commits"]
