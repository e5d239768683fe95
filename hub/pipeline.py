"""The webhook pipeline without HTTP, for code that brings deliveries another way.

``hub replay`` pushes a saved body through it; a plugin's backfill command or periodic
reconcile (a source that lost deliveries while the hub was down, and lists them from the
source's API) builds the body a webhook would have carried and pushes it the same way: the same
filters, dedupe, issue text, delivery log and outbox jobs as a real delivery, only without the
signature check (the plugin made the body itself).
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, AsyncIterator, Mapping

import httpx
import pluggy

from hub.config import Settings
from hub.delivery import Answer
from hub.types import IssueView

if TYPE_CHECKING:
    from hub.runtime import Hub

__all__ = ["Pipeline", "UnknownSource"]


class UnknownSource(LookupError):
    """No loaded plugin serves the source a delivery was pushed for."""


class Pipeline:
    """A running hub's pipeline, as a plugin sees it: push deliveries, find linked issues, run jobs.

    ``settings``, ``http`` (the hub's outbound client, timeouts set) and ``cache`` (shared by every
    process) are the running hub's own.
    """

    def __init__(self, hub: "Hub") -> None:
        self._hub = hub

    @classmethod
    @asynccontextmanager
    async def open(cls, settings: Settings, pm: pluggy.PluginManager, *,
                   http_transport: httpx.AsyncBaseTransport | None = None) -> AsyncIterator["Pipeline"]:
        """A hub of its own for a command (no worker, no migration: the command migrated first)."""
        from hub.runtime import Hub

        async with Hub.running(settings, pm, start_worker=False, migrate=False, http_transport=http_transport) as hub:
            yield cls(hub)

    @property
    def settings(self) -> Settings:
        """The running hub's settings."""
        return self._hub.settings

    @property
    def http(self) -> httpx.AsyncClient:
        """The running hub's outbound HTTP client."""
        return self._hub.http

    @property
    def cache(self) -> Any:
        """The cache every hub process shares (``hub.cache.Cache``)."""
        return self._hub.cache

    async def deliver(self, source: str, headers: Mapping[str, str], body: bytes) -> Answer:
        """Handle ``body`` as a delivery of ``source`` with ``headers`` (lower-case names), as the
        webhook route would after its signature check; the answer it would have sent.

        Raises UnknownSource when no plugin serves ``source``, and the database's errors.
        """
        from hub.ingest import handle_webhook

        served = self._hub.sources.get(source)
        if served is None:
            raise UnknownSource(f"no plugin serves the source {source!r} "
                                f"(have: {', '.join(self._hub.sources) or 'none'})")
        headers = {name.lower(): value for name, value in headers.items()}
        headers.setdefault("content-type", "application/json")
        # Its own remember writes done before returning (a command may exit right after), not
        # every other delivery's: the periodic reconcile delivers while webhooks keep coming.
        return await handle_webhook(self._hub, served, headers, body, verified=True, remember_now=True)

    async def linked(self, source: str, external_id: str) -> IssueView | None:
        """The issue linked to ``source``'s record ``external_id``, as it is now; None when none is."""
        found = await self._hub.store.find_linked(source, external_id)
        return None if found is None else found.issue

    async def run_jobs(self) -> int:
        """Run the due outbox jobs in this process (a command's own; a server's worker runs its own)."""
        from hub.jobs import Worker

        return await Worker(self._hub).run_due()
