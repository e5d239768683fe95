"""The worker's adaptive limit (hub.concurrency): grows while jobs succeed, shrinks on backpressure
and on jobs much slower than usual; driven by a fake clock, then through the real worker."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import REGISTRY

from hub.concurrency import AdaptiveLimit
from hub.jobs import Worker
from hub.models import Job


class Clock:
    """Seconds that move only when a test moves them."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def round_of(limit: AdaptiveLimit, clock: Clock, seconds: float = 1.0) -> None:
    """Every slot taken, each job succeeding after ``seconds``, all started together."""
    jobs = limit.current
    started = limit.start()
    clock.now += seconds
    for _ in range(jobs):
        limit.succeeded(started, backlog=True)


def test_slow_start_doubles_each_round_up_to_the_maximum():
    clock = Clock()
    limit = AdaptiveLimit(5, 50, clock=clock)
    seen = [limit.current]
    for _ in range(5):
        round_of(limit, clock)
        seen.append(limit.current)
    assert seen == [5, 10, 20, 40, 50, 50]


def test_a_limit_that_held_nothing_back_does_not_grow():
    clock = Clock()
    limit = AdaptiveLimit(5, 50, clock=clock)
    started = limit.start()
    clock.now += 1
    for _ in range(20):
        limit.succeeded(started, backlog=False)  # no job waited for a slot: the limit held nothing back
    assert limit.current == 5


def test_backpressure_halves_once_per_round_then_grows_by_one_per_round():
    clock = Clock()
    limit = AdaptiveLimit(40, 100, clock=clock)
    started = limit.start()
    clock.now += 1
    for _ in range(40):  # a whole round rate-limited together: one decrease, not forty
        limit.backed_off(started)
    assert limit.current == 20
    round_of(limit, clock)  # above the new threshold: about one more per round
    assert 20.9 < limit.limit <= 21
    started = limit.start()  # a job started after the decrease counts again
    clock.now += 1
    limit.backed_off(started)
    assert limit.current == 10


def test_a_job_much_slower_than_usual_shrinks_the_limit_by_a_tenth():
    clock = Clock()
    limit = AdaptiveLimit(20, 100, clock=clock)
    for _ in range(3):
        round_of(limit, clock, seconds=0.3)
    before = limit.limit
    round_of(limit, clock, seconds=3.0)  # ten times the usual: jobs are queueing somewhere
    assert limit.limit == pytest.approx(before * 0.9)
    # The average learnt the slower jobs; once they are usual, the limit grows again.
    grown = limit.limit
    for _ in range(30):
        round_of(limit, clock, seconds=3.0)
    assert limit.limit > grown


def test_bounds_are_kept_from_the_start():
    assert AdaptiveLimit(500, 50).current == 50
    assert AdaptiveLimit(0, 50).current == 1
    assert AdaptiveLimit(5, 2, minimum=3).current == 3


@settings(max_examples=200, deadline=None)
@given(initial=st.integers(1, 200), maximum=st.integers(1, 200),
       events=st.lists(st.tuples(st.sampled_from(["ok", "busy", "backoff"]),
                                 st.floats(0.001, 600, allow_nan=False)), max_size=60))
def test_any_sequence_of_outcomes_stays_within_bounds(initial, maximum, events):
    clock = Clock()
    limit = AdaptiveLimit(initial, maximum, clock=clock)
    for kind, seconds in events:
        started = limit.start()
        clock.now += seconds
        before = limit.limit
        if kind == "backoff":
            limit.backed_off(started)
            assert limit.limit <= before  # backpressure never raises it
        else:
            limit.succeeded(started, backlog=kind == "ok")
            if kind == "busy":
                assert limit.limit <= before  # an idle limit never grows
        assert 1 <= limit.current <= max(1, maximum)


async def _open(hc, n: int) -> None:
    for number in range(n):
        payload = {"id": f"c{number}", "action": "open", "title": "Boom", "first_seen": "2026-11-28T10:00:00Z"}
        response = await hc.client.post("/api/echo/webhook", content=json.dumps(payload).encode(),
                                        headers={"content-type": "application/json"})
        assert response.status_code == 200, response.text


@pytest.mark.usefixtures("echo_installed")
async def test_the_worker_raises_its_limit_while_jobs_succeed(hub_client):
    async with hub_client(raw={"worker": {"batch_size": 2, "max_concurrency": 6},
                               "echo": {"enrich_delay_seconds": 0.01}}) as hc:
        await _open(hc, 12)
        worker = Worker(hc.hub, clock=lambda: datetime.now(timezone.utc) + timedelta(seconds=1))
        assert worker.limit.current == 2
        assert await worker.run_due() == 12
        assert worker.limit.current > 2
        # What operators see of it (docs/operations.md).
        assert REGISTRY.get_sample_value("hub_worker_jobs_at_once_limit") == worker.limit.current
        async with hc.hub.engine.connect() as connection:
            statuses = (await connection.execute(sa.select(Job.__table__.c.status))).scalars().all()
        assert statuses == ["done"] * 12


@pytest.mark.usefixtures("echo_installed")
async def test_the_worker_halves_its_limit_when_jobs_are_rate_limited(hub_client):
    async with hub_client(raw={"worker": {"batch_size": 4, "max_concurrency": 8},
                               "echo": {"enrich": "retry-later"}}) as hc:
        await _open(hc, 4)
        worker = Worker(hc.hub, clock=lambda: datetime.now(timezone.utc) + timedelta(seconds=1))
        assert await worker.run_due() == 4
        assert worker.limit.current == 2  # four rate-limited jobs of one round: halved once
