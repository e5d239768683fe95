"""The running hub: settings, plugins, engine, HTTP client, cache and worker of one process."""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import AsyncIterator

import httpx
import pluggy
from sqlalchemy.ext.asyncio import AsyncEngine

from hub import db
from hub.cache import DbCache
from hub.config import ConfigError, Settings
from hub.jobs import Worker
from hub.plugins import sources
from hub.sinks import registered_sinks
from hub.store import Store, open_store
from hub.types import Source

__all__ = ["Hub", "check_plugins"]

log = logging.getLogger("hub")

#: Outbound calls must not hang a job forever, nor open unbounded connections.
HTTP_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
HTTP_LIMITS = httpx.Limits(max_connections=20, max_keepalive_connections=10)


def check_plugins(settings: Settings, pm: pluggy.PluginManager) -> None:
    """Ask every plugin to check its settings; raise ConfigError naming each fatal problem."""
    problems = [problem for result in pm.hook.check_config(config=settings) for problem in (result or [])]
    if problems:
        raise ConfigError("; ".join(problems))


@dataclass
class Hub:
    """What a request handler or a job needs: one instance per process (per app)."""

    settings: Settings
    pm: pluggy.PluginManager
    engine: AsyncEngine
    #: Every write of the webhook path and of triage (its own driver connections).
    store: Store
    http: httpx.AsyncClient
    sources: dict[str, Source] = field(default_factory=dict)
    worker: Worker | None = None

    def __post_init__(self) -> None:
        self.cache = DbCache(self.engine)
        # Decided once: the hot path must not ask pluggy on every delivery.
        self.has_enrichers = bool(self.pm.hook.enrich_description.get_hookimpls())
        # Every new issue and change is queued for these (hub.sinks).
        self.store.sinks = tuple(registered_sinks(self.pm, self.settings))

    def notify_jobs(self) -> None:
        """Tell this process's worker a job was just enqueued."""
        if self.worker is not None:
            self.worker.wake()

    @classmethod
    @asynccontextmanager
    async def running(
        cls,
        settings: Settings,
        pm: pluggy.PluginManager,
        *,
        http_transport: httpx.AsyncBaseTransport | None = None,
        start_worker: bool = True,
        migrate: bool = True,
    ) -> AsyncIterator["Hub"]:
        """Open the engine, the webhook store and the HTTP client, migrate, start the worker; undo
        it all on exit, in reverse (the worker stops first), whatever step failed."""
        check_plugins(settings, pm)
        if migrate:
            await db.upgrade(settings.database.url)
        async with AsyncExitStack() as opened:
            store = await open_store(settings.database)
            opened.push_async_callback(store.close)
            engine = db.create_engine(settings.database)
            opened.push_async_callback(engine.dispose)
            http = httpx.AsyncClient(timeout=HTTP_TIMEOUT, limits=HTTP_LIMITS, transport=http_transport)
            opened.push_async_callback(http.aclose)
            hub = cls(settings=settings, pm=pm, engine=engine, store=store, http=http,
                      sources={source.name: source for source in sources(pm)})
            if start_worker and settings.worker.enabled:
                hub.worker = Worker(hub)
                hub.worker.start()
                opened.push_async_callback(hub.worker.stop)
                # Plugins' periodic work (register_periodic), one process at a time (hub.periodic).
                from hub.periodic import PeriodicRunner

                periodic = PeriodicRunner(hub)
                periodic.start()
                opened.push_async_callback(periodic.stop)
            yield hub

