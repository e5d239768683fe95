"""Periodic work plugins register (``register_periodic``), run by one hub process at a time.

Each process with a worker runs a ``PeriodicRunner``. Every few seconds it tries to take each
due Periodic's lease: one conditional upsert of a ``hub_cache`` row (namespace
``hub.periodic``) that succeeds only when the row's ``expires_at`` has passed, and then holds it
for the interval. The database decides: of several processes (or machines) exactly one gets each
interval's lease, and runs it; the others find the row unexpired and wait. A run is bounded by
its interval, so two runs of one Periodic never overlap.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Callable

import pluggy
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from hub.models import CacheEntry
from hub.redact import redact
from hub.types import Periodic

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from hub.runtime import Hub

__all__ = ["LEASES", "PeriodicRunner", "claim_lease", "registered_periodics"]

log = logging.getLogger("hub.periodic")
#: The hub_cache namespace of the leases (key: the Periodic's name).
LEASES = "hub.periodic"
#: How often a runner looks for due work (a lease is tried at most this late).
TICK_SECONDS = 10.0


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def registered_periodics(pm: pluggy.PluginManager, config: Any) -> list[Periodic]:
    """Every Periodic the loaded plugins register for ``config``; a second one of a name is left out (logged)."""
    found: dict[str, Periodic] = {}
    for result in pm.hook.register_periodic(config=config):
        for periodic in result or []:
            if periodic.name in found:
                log.error("Two plugins register the periodic %r: the second is left out", periodic.name)
                continue
            if not periodic.interval_seconds > 0:
                log.error("Periodic %r has no positive interval: left out", periodic.name)
                continue
            found[periodic.name] = periodic
    return list(found.values())


async def claim_lease(engine: "AsyncEngine", name: str, holder: str, now: datetime, seconds: float) -> bool:
    """Take the lease ``name`` for ``seconds`` if nobody holds it (its time ran out); whether taken."""
    table = CacheEntry.__table__
    values = {"namespace": LEASES, "key": name, "value": {"holder": holder, "taken": now.isoformat()},
              "expires_at": now + timedelta(seconds=seconds), "updated_at": now}
    async with engine.begin() as connection:
        module = postgresql if connection.dialect.name == "postgresql" else sqlite
        statement = module.insert(table).values(**values)
        statement = statement.on_conflict_do_update(
            index_elements=["namespace", "key"],
            set_={"value": statement.excluded.value, "expires_at": statement.excluded.expires_at,
                  "updated_at": statement.excluded.updated_at},
            # Only a lease whose time ran out changes hands; the row's lock orders the contenders.
            where=sa.or_(table.c.expires_at.is_(None), table.c.expires_at <= now),
        ).returning(table.c.key)
        return (await connection.execute(statement)).first() is not None


class PeriodicRunner:
    """Runs the registered Periodics of one process when it holds their lease."""

    def __init__(self, hub: "Hub", clock: Callable[[], datetime] = _utcnow, tick_seconds: float = TICK_SECONDS) -> None:
        self.hub = hub
        self.clock = clock
        self.tick_seconds = tick_seconds
        self.periodics = registered_periodics(hub.pm, hub.settings)
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._task: asyncio.Task[None] | None = None
        self._runs: dict[str, asyncio.Task[None]] = {}

    def start(self) -> None:
        """Start looking for due work (nothing to do without a registered Periodic)."""
        if self.periodics:
            self._task = asyncio.create_task(self._loop(), name="hub-periodic")

    async def stop(self) -> None:
        """Stop the loop and cancel runs in progress (their leases expire on their own)."""
        tasks = [task for task in [self._task, *self._runs.values()] if task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._task, self._runs = None, {}

    async def tick(self) -> list[str]:
        """Start each Periodic whose lease this process gets now; the names started."""
        started = []
        for periodic in self.periodics:
            running = self._runs.get(periodic.name)
            if running is not None and not running.done():
                continue
            if await claim_lease(self.hub.engine, periodic.name, self.holder, self.clock(), periodic.interval_seconds):
                self._runs[periodic.name] = asyncio.create_task(self.run(periodic), name=f"hub-periodic-{periodic.name}")
                started.append(periodic.name)
        return started

    async def run(self, periodic: Periodic) -> str | None:
        """One run, bounded by the interval; failures are logged, never raised (the next interval tries again)."""
        from hub.pipeline import Pipeline

        try:
            note = await asyncio.wait_for(periodic.run(Pipeline(self.hub)), timeout=periodic.interval_seconds)
        except asyncio.CancelledError:
            raise
        except asyncio.TimeoutError:
            log.warning("Periodic %s outlasted its interval (%g s) and was stopped", periodic.name,
                        periodic.interval_seconds)
            return None
        except Exception as exc:
            log.error("Periodic %s failed: %s", periodic.name,
                      redact(f"{type(exc).__name__}: {exc}", self.hub.settings.secrets))
            return None
        log.info("Periodic %s done%s", periodic.name, f": {note}" if note else "")
        return note

    async def _loop(self) -> None:
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database may be down: try again at the next tick
                log.warning("Periodic work not checked: %s", redact(str(exc), self.hub.settings.secrets))
            await asyncio.sleep(self.tick_seconds)
