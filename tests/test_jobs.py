"""The outbox worker: enrichment sections, retries, backoff, failure, leases, release, shared claims."""

from __future__ import annotations

import asyncio
import gc
import json
from datetime import datetime, timedelta, timezone

import httpx
import pytest
import sqlalchemy as sa
from hypothesis import given, strategies as st

from hub import Unavailable
from hub import jobs as jobs_module
from hub.jobs import Worker, backoff_seconds, list_jobs, retry_jitter_seconds, retry_jobs
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
        worker = Worker(hc.hub, clock=clock, rng=lambda: 0.0)  # no jitter: exactly when told
        assert await worker.run_due() == 1
        job = await job_row(hc)
        assert job["status"] == "queued" and job["attempts"] == 1
        assert job["last_error"] == "echo is rate limited"
        assert as_utc(job["run_after"]) == clock.now + timedelta(seconds=120)
        clock.now += timedelta(seconds=119)
        assert await worker.run_due() == 0  # not due yet
        clock.now += timedelta(seconds=2)
        assert await worker.run_due() == 1


@given(wait=st.floats(min_value=0, max_value=86_400), draw=st.floats(min_value=0, max_value=1, exclude_max=True))
def test_a_retry_is_never_earlier_than_told_and_at_most_a_tenth_later(wait, draw):
    extra = retry_jitter_seconds(timedelta(seconds=wait), lambda: draw)
    # A tenth of the wait as a timedelta holds it: to the microsecond, and as floating point has it.
    assert 0 <= extra <= max(1.0, (wait + 1e-6) / 10) * (1 + 1e-12)
    assert extra == pytest.approx(draw * max(1.0, timedelta(seconds=wait).total_seconds() / 10), rel=1e-9, abs=1e-9)


async def test_jobs_stopped_by_one_rate_limit_come_back_spread_out(hub_client):
    async with hub_client(raw={"echo": {"enrich": "retry-later"}}) as hc:
        for n in range(8):
            await open_issue(hc, external_id=f"spread-{n}")
        clock = Clock(datetime.now(timezone.utc) + timedelta(seconds=1))
        assert await Worker(hc.hub, clock=clock).run_due() == 8
        async with hc.hub.engine.connect() as connection:
            times = [as_utc(row) for row in (await connection.execute(sa.select(Job.__table__.c.run_after))).scalars()]
        told = clock.now + timedelta(seconds=120)
        assert all(told <= at <= told + timedelta(seconds=12) for at in times)
        assert len(set(times)) == 8  # eight draws of the jitter, not one instant


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


def _outages() -> list[BaseException]:
    request = httpx.Request("GET", "https://api.github.com/repos/o/r/commits")
    return [
        Unavailable("GitHub answered 502 to GET /repos/o/r/commits"),
        httpx.ConnectError("connection refused", request=request),
        httpx.ReadTimeout("timed out", request=request),
        httpx.HTTPStatusError("503", request=request, response=httpx.Response(503, request=request)),
        sa.exc.OperationalError("SELECT 1", None, ConnectionRefusedError("the database went away")),
        ConnectionResetError("reset by peer"),
    ]


async def test_outages_back_off_without_using_up_attempts(hub_client):
    """300 of 300 jobs ended failed during a GitHub outage: an outage must never count."""
    raw = {"worker": {"max_attempts": 2, "backoff_base_seconds": 10, "backoff_max_seconds": 60}}
    async with hub_client(raw=raw) as hc:
        issue = await open_issue(hc)
        clock = Clock(datetime.now(timezone.utc) + timedelta(seconds=1))
        worker = Worker(hc.hub, clock=clock, rng=lambda: 0.5)
        real_enrich = worker._enrich
        failures = iter(_outages() * 2)

        async def enrich_during_an_outage(job):
            raise next(failures)

        worker._enrich = enrich_during_an_outage
        delays = []
        for streak in range(1, 13):
            before = clock.now
            assert await worker.run_due() == 1
            job = await job_row(hc)
            assert (job["status"], job["attempts"]) == ("queued", 0)
            assert job["last_error"].startswith(f"outage #{streak}: ")
            delays.append((as_utc(job["run_after"]) - before).total_seconds())
            clock.now = as_utc(job["run_after"])
        assert delays == [10, 20, 40, 60, 60, 60, 60, 60, 60, 60, 60, 60]  # backs off, capped
        worker._enrich = real_enrich  # the outage is over
        assert await worker.run_due() == 1
        job = await job_row(hc)
        assert (job["status"], job["attempts"], job["last_error"]) == ("done", 1, None)
        detail = (await hc.client.get(f"/api/issues/{issue['identifier']}")).json()
        assert "## Echo" in detail["description"]


async def test_a_job_error_still_counts(hub_client):
    async with hub_client(raw={"echo": {"enrich": "fail"}, "worker": {"max_attempts": 1}}) as hc:
        await open_issue(hc)
        assert await Worker(hc.hub, clock=Clock(datetime.now(timezone.utc) + timedelta(seconds=1))).run_due() == 1
        assert (await job_row(hc))["status"] == "failed"


class FlakyEngine:
    """The hub's engine, except that ``begin`` fails while ``failures`` is above zero (the database drops)."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.failures = 0

    def begin(self):
        if self.failures > 0:
            self.failures -= 1
            raise sa.exc.OperationalError("UPDATE hub_job", None, ConnectionResetError("server closed the connection"))
        return self.engine.begin()

    def __getattr__(self, name):
        return getattr(self.engine, name)


async def test_a_database_drop_while_finishing_a_job_neither_holds_it_nor_leaks_an_exception(
        hub_client, caplog, monkeypatch):
    monkeypatch.setattr(jobs_module, "FINISH_RETRY_FIRST_SECONDS", 0.01)
    async with hub_client() as hc:
        await open_issue(hc)
        worker = Worker(hc.hub, clock=Clock(datetime.now(timezone.utc) + timedelta(seconds=1)))
        flaky = FlakyEngine(hc.hub.engine)
        real_enrich = worker._enrich

        async def enrich_then_drop(job):
            note = await real_enrich(job)
            flaky.failures = 3  # the database drops just as the job is about to be marked done
            return note

        worker._enrich = enrich_then_drop
        hc.hub.engine = flaky
        try:
            assert await worker.run_due() == 1
        finally:
            hc.hub.engine = flaky.engine
        job = await job_row(hc)
        assert (job["status"], job["locked_by"]) == ("done", None)  # recorded once it was back, not leased
        assert "could not record its outcome (OperationalError), trying again" in caplog.text
    gc.collect()
    assert "exception was never retrieved" not in caplog.text


async def test_a_job_task_that_fails_is_logged_not_lost(hub_client, caplog, monkeypatch):
    monkeypatch.setattr(jobs_module, "FINISH_RETRY_FIRST_SECONDS", 0.01)
    async with hub_client(raw={"worker": {"lease_seconds": 0.2}}) as hc:
        await open_issue(hc)
        worker = Worker(hc.hub, clock=Clock(datetime.now(timezone.utc) + timedelta(seconds=1)))
        flaky = FlakyEngine(hc.hub.engine)
        real_enrich = worker._enrich

        async def enrich_then_drop_for_good(job):
            note = await real_enrich(job)
            flaky.failures = 10**6
            return note

        worker._enrich = enrich_then_drop_for_good
        hc.hub.engine = flaky
        try:
            with pytest.raises(sa.exc.OperationalError):  # its next claim finds the database gone too
                await worker.run_due()
        finally:
            hc.hub.engine = flaky.engine
        assert "hub-job-" in caplog.text and "ended with an error: OperationalError" in caplog.text
    gc.collect()
    assert "exception was never retrieved" not in caplog.text


async def test_finished_jobs_are_pruned_with_the_delivery_retention(hub_client):
    async with hub_client(raw={"hub": {"delivery_retention_days": 1}, "echo": {"enrich": "fail"},
                               "worker": {"max_attempts": 1}}) as hc:
        for external_id in ("done", "failed", "queued"):
            await open_issue(hc, external_id=external_id)
        now = datetime.now(timezone.utc) + timedelta(seconds=1)
        async with hc.hub.engine.begin() as connection:
            ids = (await connection.execute(sa.select(Job.__table__.c.id).order_by(Job.__table__.c.created_at))).scalars().all()
            statuses = dict(zip(ids, ("done", "failed", "queued")))
            for job_id, status in statuses.items():
                await connection.execute(sa.update(Job.__table__).where(Job.__table__.c.id == job_id)
                                         .values(status=status, updated_at=now))
        assert await Worker(hc.hub, clock=Clock(now + timedelta(hours=23))).prune_deliveries() >= 0
        async with hc.hub.engine.connect() as connection:
            assert (await connection.execute(sa.select(sa.func.count()).select_from(Job.__table__))).scalar() == 3
        await Worker(hc.hub, clock=Clock(now + timedelta(days=1, minutes=5))).prune_deliveries()
        async with hc.hub.engine.connect() as connection:
            left = (await connection.execute(sa.select(Job.__table__.c.status))).scalars().all()
        assert left == ["queued"]  # done and failed are gone; a queued job is never pruned


async def test_retry_jobs_queues_failed_ones_with_fresh_attempts(hub_client):
    async with hub_client(raw={"echo": {"enrich": "fail"}, "worker": {"max_attempts": 1}}) as hc:
        await open_issue(hc, external_id="a")
        await open_issue(hc, external_id="b")
        await Worker(hc.hub, clock=Clock(datetime.now(timezone.utc) + timedelta(seconds=1))).run_due()
        failed = await list_jobs(hc.hub.engine, "failed")
        assert len(failed) == 2 and await list_jobs(hc.hub.engine, "queued") == []
        assert await retry_jobs(hc.hub.engine, [failed[0]["id"]]) == 1
        assert [job["id"] for job in await list_jobs(hc.hub.engine, "queued")] == [failed[0]["id"]]
        assert await retry_jobs(hc.hub.engine, failed=True) == 1
        queued = await list_jobs(hc.hub.engine, "queued")
        assert len(queued) == 2 and {job["attempts"] for job in queued} == {0}


def test_only_outages_are_outages():
    import sqlite3

    from hub.jobs import is_outage

    assert all(is_outage(exc) for exc in _outages())
    locked = sa.exc.OperationalError("UPDATE hub_job", None, sqlite3.OperationalError("database is locked"))
    missing = sa.exc.OperationalError("SELECT", None, sqlite3.OperationalError("no such table: hub_job"))
    assert is_outage(locked) and not is_outage(missing)
    try:
        try:
            raise httpx.ConnectError("refused")
        except httpx.ConnectError as inner:
            raise RuntimeError("enricher gave up") from inner
    except RuntimeError as wrapped:
        assert is_outage(wrapped)  # what it was raised from counts
    assert not is_outage(ValueError("bad data")) and not is_outage(KeyError("sha"))
    request = httpx.Request("GET", "https://api.github.com/")
    assert not is_outage(httpx.HTTPStatusError("404", request=request, response=httpx.Response(404, request=request)))
