"""GET /metrics: Prometheus' text format, read scope, the counters the hub keeps (both databases)."""

from __future__ import annotations

import sqlite3

import httpx
import psycopg
import psycopg_pool
import pytest
from prometheus_client.parser import text_string_to_metric_families

from support import SENTRY_SECRET, sentry_headers, sentry_issue_body


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """Every sample of an exposition, by name and sorted labels."""
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def _github(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200 if request.url.path == "/ok" else 503, json={},
                          headers={"x-ratelimit-remaining": "4321"})


async def test_metrics_need_read_and_count_deliveries_jobs_and_outbound_calls(hub_client):
    env = {"SENTRY_CLIENT_SECRET": SENTRY_SECRET}
    async with hub_client(env=env, transport=httpx.MockTransport(_github)) as hc:
        token = hc.client.headers.pop("authorization")
        assert (await hc.client.get("/metrics")).status_code == 401
        assert (await hc.client.get("/metrics", headers={"authorization": "Bearer hub_nope"})).status_code == 401
        hc.client.headers["authorization"] = token
        before = samples((await hc.client.get("/metrics")).text)
        body = sentry_issue_body("9001")
        for _ in range(2):
            response = await hc.client.post("/api/sentry/webhook", content=body, headers=sentry_headers(body))
            assert response.status_code == 200
        bad = await hc.client.post("/api/sentry/webhook", content=body, headers=sentry_headers(body, "wrong"))
        assert bad.status_code == 401
        await hc.hub.http.get("https://api.github.com/ok")
        await hc.hub.http.get("https://api.github.com/down")
        response = await hc.client.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        after = samples(response.text)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("hub_deliveries_total", source="sentry", outcome="created") == 1
    assert grew("hub_deliveries_total", source="sentry", outcome="deduplicated") == 1
    assert grew("hub_deliveries_total", source="sentry", outcome="unauthorized") == 1
    assert grew("hub_webhook_duration_seconds_count", source="sentry") == 3
    assert grew("hub_outbound_requests_total", service="api.github.com", status="200") == 1
    assert grew("hub_outbound_requests_total", service="api.github.com", status="503") == 1
    assert value(after, "hub_outbound_rate_limit_remaining", service="api.github.com") == 4321
    # Read from the database: the new issue's enrichment job waits (no worker in this test).
    assert value(after, "hub_jobs", kind="enrich", status="queued") >= 1
    assert ("hub_database_connections_in_use", (("pool", "engine"),)) in after
    assert SENTRY_SECRET not in response.text


async def test_enrichment_time_and_job_failures_are_observed_by_the_worker(hub_client):
    from test_enrichment_flow import ENV, RAW, GatedGitHub, sentry_body, wait_for_job

    github = GatedGitHub()
    github.release.set()
    async with hub_client(raw=RAW, env=ENV, transport=httpx.MockTransport(github.handle), start_worker=True) as hc:
        before = samples((await hc.client.get("/metrics")).text)
        body = sentry_body()
        response = await hc.client.post("/api/sentry/webhook", content=body, headers=sentry_headers(body))
        await wait_for_job(hc, response.json()["issue"]["identifier"], "done")
        after = samples((await hc.client.get("/metrics")).text)
    assert value(after, "hub_delivery_to_enrichment_seconds_count") - value(
        before, "hub_delivery_to_enrichment_seconds_count") == 1
    assert value(after, "hub_delivery_to_enrichment_seconds_sum") > value(before, "hub_delivery_to_enrichment_seconds_sum")
    assert value(after, "hub_jobs", kind="enrich", status="done") >= 1


async def test_a_failed_attempt_counts_as_a_job_failure(hub_client):
    from test_enrichment_flow import ENV, RAW, sentry_body

    def broken(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"message": "Bad credentials"})  # not an outage: the attempt counts

    raw = {**RAW, "worker": {"poll_interval_seconds": 0.05, "max_attempts": 1}}
    async with hub_client(raw=raw, env=ENV, transport=httpx.MockTransport(broken), start_worker=True) as hc:
        before = samples((await hc.client.get("/metrics")).text)
        body = sentry_body()
        response = await hc.client.post("/api/sentry/webhook", content=body, headers=sentry_headers(body))
        from test_enrichment_flow import wait_for_job

        await wait_for_job(hc, response.json()["issue"]["identifier"], "failed")
        after = samples((await hc.client.get("/metrics")).text)
    assert value(after, "hub_job_failures_total", kind="enrich") - value(before, "hub_job_failures_total", kind="enrich") == 1
    assert value(after, "hub_outbound_requests_total", service="api.github.com", status="401") >= 1


@pytest.mark.parametrize("error", [psycopg_pool.PoolTimeout("couldn't get a connection after 2.00 sec"),
                                   psycopg.OperationalError("server closed the connection unexpectedly"),
                                   sqlite3.OperationalError("database is locked")],
                         ids=lambda error: type(error).__name__)
async def test_a_delivery_the_database_refuses_counts_as_unavailable(hub_client, echo_installed, error):
    """What the drivers raise themselves (no SQLAlchemy wrapper) is the database's outage: 503 and
    ``unavailable``, never ``error`` (the pool's timeout was counted as a hub error once)."""
    async with hub_client() as hc:
        before = samples((await hc.client.get("/metrics")).text)

        async def refuse(*args, **kwargs):
            raise error

        hc.hub.store.create_issue = refuse
        body = b'{"id": "refused", "action": "open"}'
        response = await hc.client.post("/api/echo/webhook", content=body,
                                        headers={"content-type": "application/json"})
        del hc.hub.store.create_issue
        assert response.status_code == 503
        after = samples((await hc.client.get("/metrics")).text)
    for outcome, grew in (("unavailable", 1), ("error", 0)):
        assert value(after, "hub_deliveries_total", source="echo", outcome=outcome) - value(
            before, "hub_deliveries_total", source="echo", outcome=outcome) == grew, outcome
