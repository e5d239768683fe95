"""The outbox worker: enrichment sections, retries, backoff, failure, leases, release, shared claims."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from hub.jobs import Worker, backoff_seconds
from hub.models import Job, as_utc

pytestmark = pytest.mark.usefixtures("echo_installed")

JSON = {"content-type": "application/json"}
T0 = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)


class Clock:
    """A settable clock: tests move time instead of sleeping."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def open_issue(hc, external_id="e1", **extra) -> dict:
    payload = {"id": external_id, "action": "open", "title": "Boom", "files": ["src/a.py", "src/b.py"],
               "first_seen": "2026-11-28T10:00:00Z", **extra}
    response = await hc.client.post("/api/echo/webhook", content=json.dumps(payload).encode(), headers=JSON)
    assert response.status_code == 200, response.text
    return response.json()["issue"]


async def job_row(hc) -> dict:
    async with hc.hub.engine.connect() as connection:
        return dict((await connection.execute(sa.select(Job.__table__))).mappings().one())


async def test_hook_enrich_description_writes_a_section_once(hub_client):
    async with hub_client() as hc:
        issue = await open_issue(hc)
        worker = Worker(hc.hub, clock=Clock(datetime.now(timezone.utc) + timedelta(seconds=1)))
        assert await worker.run_due() == 1
        detail = (await hc.client.get(f"/api/issues/{issue['identifier']}")).json()
        assert detail["description"].startswith("Echo says: ")
        assert "## Echo\n\nFirst seen: 2026-11-28T10:00:00+00:00\n\n- `src/a.py`\n- `src/b.py`" in detail["description"]
        assert detail["jobs"][0]["status"] == "done" and detail["jobs"][0]["note"] == "wrote echo"
        # Running the enrichment again replaces the section; it never appears twice.
        async with hc.hub.engine.begin() as connection:
            await connection.execute(sa.update(Job.__table__).values(status="queued"))
        assert await worker.run_due() == 1
        again = (await hc.client.get(f"/api/issues/{issue['identifier']}")).json()
        assert again["description"] == detail["description"]
        assert again["description"].count("## Echo") == 1


async def test_hook_stack_files_and_first_seen_feed_the_enricher(hub_client):
    async with hub_client() as hc:
        issue = await open_issue(hc, files=["x/y.ts"], first_seen="2025-01-02T03:04:05Z")
        await Worker(hc.hub, clock=Clock(datetime.now(timezone.utc) + timedelta(seconds=1))).run_due()
        detail = (await hc.client.get(f"/api/issues/{issue['identifier']}")).json()
        assert "First seen: 2025-01-02T03:04:05+00:00\n\n- `x/y.ts`" in detail["description"]


async def test_retry_later_waits_as_told(hub_client):
    async with hub_client(raw={"echo": {"enrich": "retry-later"}}) as hc:
        await open_issue(hc)
        clock = Clock(datetime.now(timezone.utc) + timedelta(seconds=1))
        worker = Worker(hc.hub, clock=clock)
        assert await worker.run_due() == 1
        job = await job_row(hc)
        assert job["status"] == "queued" and job["attempts"] == 1
        assert job["last_error"] == "echo is rate limited"
        assert as_utc(job["run_after"]) == clock.now + timedelta(seconds=120)
        clock.now += timedelta(seconds=119)
        assert await worker.run_due() == 0  # not due yet
        clock.now += timedelta(seconds=2)
        assert await worker.run_due() == 1


async def test_failures_back_off_then_fail_visibly_and_leave_the_issue_intact(hub_client):
    async with hub_client(raw={"echo": {"enrich": "fail"}, "worker": {"max_attempts": 3, "backoff_base_seconds": 10}}) as hc:
        issue = await open_issue(hc)
        clock = Clock(datetime.now(timezone.utc) + timedelta(seconds=1))
        worker = Worker(hc.hub, clock=clock, rng=lambda: 0.5)  # jitter factor exactly 1.0
        delays = []
        for _ in range(3):
            before = clock.now
            assert await worker.run_due() == 1
            job = await job_row(hc)
            if job["status"] == "queued":
                delays.append((as_utc(job["run_after"]) - before).total_seconds())
                clock.now = as_utc(job["run_after"])
        assert delays == [10.0, 20.0]
        assert job["status"] == "failed" and job["attempts"] == 3
        assert job["last_error"] == "RuntimeError: echo enrichment failed (run 3)"
        detail = (await hc.client.get(f"/api/issues/{issue['identifier']}")).json()
        assert detail["jobs"][0]["status"] == "failed"
        assert detail["jobs"][0]["last_error"] == "RuntimeError: echo enrichment failed (run 3)"
        assert detail["description"] == "Echo says: "
        assert await worker.run_due() == 0


async def test_empty_section_records_the_note(hub_client):
    async with hub_client(raw={"echo": {"enrich": "nothing"}}) as hc:
        await open_issue(hc)
        await Worker(hc.hub, clock=Clock(datetime.now(timezone.utc) + timedelta(seconds=1))).run_due()
        job = await job_row(hc)
        assert (job["status"], job["note"]) == ("done", "nothing to say")


async def test_expired_lease_is_claimed_again(hub_client):
    async with hub_client() as hc:
        await open_issue(hc)
        clock = Clock(datetime.now(timezone.utc) + timedelta(seconds=1))
        dead = Worker(hc.hub, clock=clock)
        assert len(await dead.claim(5)) == 1  # claimed, then the process "dies"
        alive = Worker(hc.hub, clock=clock)
        assert await alive.claim(5) == []
        clock.now += timedelta(seconds=hc.hub.settings.worker.lease_seconds + 1)
        reclaimed = await alive.claim(5)
        assert len(reclaimed) == 1 and reclaimed[0].attempts == 2


async def test_concurrent_workers_never_claim_the_same_job(hub_client):
    async with hub_client() as hc:
        for i in range(12):
            await open_issue(hc, external_id=f"e{i}")
        clock = Clock(datetime.now(timezone.utc) + timedelta(seconds=1))
        workers = [Worker(hc.hub, clock=clock) for _ in range(4)]
        claims = await asyncio.gather(*[worker.claim(3) for worker in workers])
        ids = [job.id for claim in claims for job in claim]
        assert len(ids) == len(set(ids)) == 12


async def test_stop_releases_a_running_job(hub_client):
    async with hub_client() as hc:
        await open_issue(hc)
        worker = Worker(hc.hub)
        started = asyncio.Event()

        async def slow_enrich(job):
            started.set()
            await asyncio.sleep(30)

        worker._enrich = slow_enrich
        worker.start()
        await asyncio.wait_for(started.wait(), 10)
        await worker.stop()
        job = await job_row(hc)
        assert (job["status"], job["attempts"], job["locked_by"]) == ("queued", 0, None)


def test_backoff_grows_and_is_capped():
    assert [backoff_seconds(n, 10, 3600, rng=lambda: 0.5) for n in (1, 2, 3, 4)] == [10, 20, 40, 80]
    assert backoff_seconds(20, 10, 3600, rng=lambda: 0.5) == 3600
    assert backoff_seconds(1, 10, 3600, rng=lambda: 0.0) == 5
    assert backoff_seconds(1, 10, 3600, rng=lambda: 0.999) == pytest.approx(14.99)


async def test_old_deliveries_are_pruned_and_their_request_ids_forgotten(hub_client):
    from hub.models import Delivery

    async with hub_client(raw={"hub": {"delivery_retention_days": 1}}) as hc:
        headers = {**JSON, "request-id": "old"}
        await hc.client.post("/api/echo/webhook", content=b'{"id": "e1", "action": "dance"}', headers=headers)
        clock = Clock(datetime.now(timezone.utc) + timedelta(hours=23))
        worker = Worker(hc.hub, clock=clock)
        assert await worker.prune_deliveries() == 0
        clock.now += timedelta(hours=1, minutes=5)
        fresh = Worker(hc.hub, clock=clock)
        assert await fresh.prune_deliveries() == 1
        again = await hc.client.post("/api/echo/webhook", content=b'{"id": "e1", "action": "open"}', headers=headers)
        assert again.json()["issue"]["identifier"] == "CHIPP-1"
        async with hc.hub.engine.connect() as connection:
            rows = (await connection.execute(sa.select(Delivery.__table__.c.request_id))).scalars().all()
        assert rows == ["old"]
