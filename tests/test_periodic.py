"""Periodic work (``register_periodic``): run by one hub process at a time, through a lease in the database."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from hub import hookimpl
from hub.models import CacheEntry
from hub.periodic import PeriodicRunner, claim_lease
from hub.plugins import build_plugin_manager
from hub.types import Periodic

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)


class Counting:
    """A third-party plugin's periodic work: counts its runs, pushes nothing."""

    def __init__(self, interval: float = 60.0, fail: bool = False) -> None:
        self.runs: list[str] = []
        self.interval = interval
        self.fail = fail

    @hookimpl
    def register_periodic(self, config):
        async def run(pipeline) -> str:
            self.runs.append(pipeline.settings.hub.issue_prefix)
            if self.fail:
                raise RuntimeError("the outside API is down")
            return f"run {len(self.runs)}"

        return [Periodic(name="test.count", interval_seconds=self.interval, run=run)]


async def test_a_lease_has_one_holder_until_its_time_runs_out(hub_client):
    async with hub_client() as hc:
        engine = hc.hub.engine
        assert await claim_lease(engine, "x", "a", T0, 60) is True
        assert await claim_lease(engine, "x", "b", T0 + timedelta(seconds=59), 60) is False
        assert await claim_lease(engine, "x", "a", T0 + timedelta(seconds=30), 60) is False  # not even its holder
        assert await claim_lease(engine, "y", "b", T0, 60) is True  # another name, another lease
        assert await claim_lease(engine, "x", "b", T0 + timedelta(seconds=60), 60) is True
        # Read as stored (the cache's get would judge expiry by today's clock, not the test's).
        table = CacheEntry.__table__
        async with engine.connect() as connection:
            value = (await connection.execute(sa.select(table.c.value).where(
                table.c.namespace == "hub.periodic", table.c.key == "x"))).scalar_one()
        assert value["holder"] == "b"


async def test_hook_register_periodic_runs_in_one_of_two_processes_per_interval(hub_client):
    plugin = Counting()
    pm = build_plugin_manager()
    pm.register(plugin)
    async with hub_client(pm=pm) as hc:
        clock = [T0]
        first = PeriodicRunner(hc.hub, clock=lambda: clock[0])
        second = PeriodicRunner(hc.hub, clock=lambda: clock[0])
        assert [periodic.name for periodic in first.periodics] == ["test.count"]
        assert await first.tick() == ["test.count"]
        assert await second.tick() == []
        await asyncio.gather(*first._runs.values())
        assert plugin.runs == ["CHIPP"]
        clock[0] = T0 + timedelta(seconds=30)
        assert await first.tick() == [] and await second.tick() == []
        clock[0] = T0 + timedelta(seconds=61)
        assert await second.tick() == ["test.count"] and await first.tick() == []
        await asyncio.gather(*second._runs.values())
        assert len(plugin.runs) == 2
        await first.stop()
        await second.stop()


def _stub_hub(pm):
    """What a run needs of the hub, without a database: its plugins and settings."""
    from types import SimpleNamespace

    from support import make_settings

    return SimpleNamespace(pm=pm, settings=make_settings("sqlite+aiosqlite:///unused.db", pm=pm))


async def test_a_failing_run_is_logged_and_the_next_interval_runs_again(caplog):
    plugin = Counting(fail=True)
    pm = build_plugin_manager()
    pm.register(plugin)
    runner = PeriodicRunner(_stub_hub(pm), clock=lambda: T0)
    assert await runner.run(runner.periodics[0]) is None
    assert "Periodic test.count failed: RuntimeError: the outside API is down" in caplog.text
    # The failure disabled nothing: the next interval's run happens (and fails the same way).
    assert await runner.run(runner.periodics[0]) is None
    assert len(plugin.runs) == 2


async def test_a_run_that_outlasts_its_interval_is_stopped(caplog):
    pm = build_plugin_manager()

    class Slow:
        @hookimpl
        def register_periodic(self, config):
            return [Periodic(name="test.slow", interval_seconds=0.05, run=lambda pipeline: asyncio.sleep(30))]

    pm.register(Slow())
    runner = PeriodicRunner(_stub_hub(pm))
    assert await runner.run(runner.periodics[0]) is None
    assert "outlasted its interval" in caplog.text
