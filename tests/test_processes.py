"""Real hub processes on one PostgreSQL: concurrency across processes, SIGKILL, SIGTERM."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
import sqlalchemy as sa

from hub.db import sync_url
from servers import HubServer
from support import SENTRY_SECRET, sentry_headers, sentry_issue_body

FAST_WORKER = "[worker]\npoll_interval_seconds = 0.2\nlease_seconds = 3\nbackoff_base_seconds = 0.5\n"


def scalar(database_url: str, sql: str):
    engine = sa.create_engine(sync_url(database_url), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            return connection.execute(sa.text(sql)).scalar()
    finally:
        engine.dispose()


async def post_sentry(client: httpx.AsyncClient, server: HubServer, body: bytes) -> httpx.Response:
    return await client.post(f"{server.url}/api/sentry/webhook", content=body, headers=sentry_headers(body))


@pytest.fixture
def servers(tmp_path):
    started: list[HubServer] = []

    def start(database_url: str, count: int = 1, config: str = "", env: dict | None = None) -> list[HubServer]:
        base_env = {"DATABASE_URL": database_url, "SENTRY_CLIENT_SECRET": SENTRY_SECRET, **(env or {})}
        for _ in range(count):
            server = HubServer(tmp_path, base_env, config=config, name=f"hub{len(started)}")
            started.append(server)
            server.start()
        return started[-count:]

    yield start
    for server in started:
        server.kill()


async def test_two_processes_share_dedupe_and_identifiers(pg_database_url, servers):
    a, b = servers(pg_database_url, count=2)
    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        same = sentry_issue_body("4242")
        answers = await asyncio.gather(*[post_sentry(client, (a, b)[n % 2], same) for n in range(40)])
        assert [r.status_code for r in answers] == [200] * 40
        assert len({r.json()["issue"]["identifier"] for r in answers}) == 1
        assert sum(1 for r in answers if r.json().get("deduplicated")) == 39

        distinct = [sentry_issue_body(f"d{n}") for n in range(200)]
        answers = await asyncio.gather(*[post_sentry(client, (a, b)[n % 2], body) for n, body in enumerate(distinct)])
        assert [r.status_code for r in answers] == [200] * 200
        identifiers = [r.json()["issue"]["identifier"] for r in answers]
        assert len(set(identifiers)) == 200
    assert scalar(pg_database_url, "SELECT count(*) FROM chipp_issue") == 201
    assert scalar(pg_database_url, "SELECT count(*) FROM chipp_external_issue") == 201
    for server in (a, b):
        log = server.output()
        assert "deadlock" not in log.lower() and "Traceback" not in log, log


async def test_sigkill_during_a_burst_loses_nothing_that_was_answered(pg_database_url, servers, echo_installed):
    # The echo test plugin enriches every issue slowly, so jobs are pending when the process dies.
    config = FAST_WORKER + "[echo]\nenrich_delay_seconds = 0.2\n"
    [server] = servers(pg_database_url, config=config)
    answered: list[str] = []
    bodies = [sentry_issue_body(f"k{n}") for n in range(150)]

    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=16)) as client:
        async def one(body: bytes) -> None:
            try:
                response = await post_sentry(client, server, body)
            except httpx.TransportError:
                return
            if response.status_code == 200:
                answered.append(response.json()["issue"]["id"])
                if len(answered) == 40:
                    server.kill()

        await asyncio.gather(*[one(body) for body in bodies])
    assert 40 <= len(answered) < 150
    [restarted] = servers(pg_database_url, config=config)
    ids = ", ".join(f"'{issue_id}'" for issue_id in answered)
    assert scalar(pg_database_url, f"SELECT count(*) FROM chipp_issue WHERE id IN ({ids})") == len(answered)
    assert scalar(pg_database_url, f"SELECT count(*) FROM chipp_external_issue WHERE issue_id IN ({ids})") == len(answered)
    # Pending enrichments, including those the dead process had claimed, complete after the restart.
    deadline = time.monotonic() + 90
    while scalar(pg_database_url, "SELECT count(*) FROM hub_job WHERE status <> 'done'") and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    assert scalar(pg_database_url, "SELECT count(*) FROM hub_job WHERE status <> 'done'") == 0, restarted.output()
    assert scalar(pg_database_url, f"SELECT count(*) FROM hub_job WHERE issue_id IN ({ids})") == len(answered)


async def test_sigterm_finishes_requests_in_flight(pg_database_url, servers, echo_installed):
    # A delivery slower than the default 0.8 s budget (which would answer 503): raised here,
    # since what is tested is that SIGTERM waits for the request in flight.
    [server] = servers(pg_database_url, config="[database]\nwebhook_timeout_seconds = 5\n"
                                               "[echo]\nverify_delay_seconds = 1.5\n")
    async with httpx.AsyncClient(timeout=30) as client:
        request = asyncio.create_task(client.post(f"{server.url}/api/echo/webhook", content=b'{"id": "slow", "action": "open"}',
                                                  headers={"content-type": "application/json"}))
        await asyncio.sleep(0.5)
        server.process.send_signal(15)
        response = await request
    assert response.status_code == 200
    assert server.process.wait(timeout=30) == 0
    assert scalar(pg_database_url, "SELECT count(*) FROM chipp_issue") == 1


async def test_sigterm_releases_claimed_jobs(pg_database_url, servers, echo_installed):
    [server] = servers(pg_database_url, config=FAST_WORKER + "[echo]\nenrich_delay_seconds = 60\n")
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(f"{server.url}/api/echo/webhook", content=b'{"id": "j", "action": "open"}',
                                     headers={"content-type": "application/json"})
        assert response.status_code == 200
    deadline = time.monotonic() + 20
    while scalar(pg_database_url, "SELECT count(*) FROM hub_job WHERE status = 'running'") == 0:
        assert time.monotonic() < deadline, server.output()
        await asyncio.sleep(0.1)
    assert server.terminate() == 0
    assert scalar(pg_database_url, "SELECT status || ':' || attempts || ':' || coalesce(locked_by, '-') FROM hub_job") == "queued:0:-"
    assert "released for another process" in server.output()
