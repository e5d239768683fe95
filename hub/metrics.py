"""Prometheus metrics of one hub process, and ``GET /metrics`` in Prometheus' text format.

prometheus-client keeps the values. With ``hub serve --workers N`` the processes share them
through files in ``PROMETHEUS_MULTIPROC_DIR`` (``hub serve`` makes one when it is unset) and the
scrape, whichever worker answers it, adds up every process's counters; without it the values
live in this process. Counts of jobs are read from the database at scrape time: the table is
the truth every process shares. Recording costs a dictionary lookup and an add per delivery.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import time
from typing import TYPE_CHECKING, Any, Awaitable, Callable

import httpx
import sqlalchemy as sa
from litestar import Request, Response, get
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, \
    generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from hub.auth import scope_opt
from hub.db import DATABASE_ERRORS

if TYPE_CHECKING:
    from hub.runtime import Hub

__all__ = ["MULTIPROC_ENV", "metrics", "observe_delivery", "observe_enrichment", "observe_job_failure",
           "observe_response", "sample_pools", "sampling_pools"]

log = logging.getLogger("hub.metrics")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: Webhook answers take milliseconds; Sentry gives up at 1 s, the budget is 0.8 s.
_WEBHOOK_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.8, 1.0, 2.5)
#: Enrichment waits for the worker and for GitHub: seconds to minutes (retries: hours).
_ENRICH_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400)

DELIVERIES = Counter("hub_deliveries", "Webhook deliveries answered, by source and outcome", ["source", "outcome"])
WEBHOOK_SECONDS = Histogram("hub_webhook_duration_seconds", "Time to answer a webhook delivery", ["source"],
                            buckets=_WEBHOOK_BUCKETS)
JOB_FAILURES = Counter("hub_job_failures", "Job attempts that failed, by kind", ["kind"])
ENRICH_SECONDS = Histogram("hub_delivery_to_enrichment_seconds",
                           "From the delivery that created an issue to its enrichment job done", buckets=_ENRICH_BUCKETS)
OUTBOUND = Counter("hub_outbound_requests", "Outbound HTTP requests by service (host) and status",
                   ["service", "status"])
RATE_LIMIT = Gauge("hub_outbound_rate_limit_remaining", "The last X-RateLimit-Remaining a service sent",
                   ["service"], multiprocess_mode="mostrecent")
WORKER_LIMIT = Gauge("hub_worker_jobs_at_once_limit", "Jobs the worker may run at once now, adapted to their outcomes",
                     multiprocess_mode="livesum")
POOL_IN_USE = Gauge("hub_database_connections_in_use", "Database connections checked out, by pool",
                    ["pool"], multiprocess_mode="livesum")

#: The labelled children, made once: ``labels()`` takes a lock and builds a tuple each time.
_delivery_children: dict[tuple[str, str], Any] = {}
_latency_children: dict[str, Any] = {}


def observe_delivery(handler: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """Wrap ``handle_webhook``: count each delivery by source and outcome, time its answer.

    A delivery the database could not take counts as ``unavailable``; one cancelled at the
    webhook's time budget as ``timeout``; anything else raised as ``error``.
    """
    @functools.wraps(handler)
    async def observed(hub: Any, source: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        outcome = "error"
        try:
            answer = await handler(hub, source, *args, **kwargs)
            outcome = answer.outcome
            return answer
        except asyncio.CancelledError:
            outcome = "timeout"
            raise
        except DATABASE_ERRORS:
            outcome = "unavailable"
            raise
        finally:
            _record(source.name, outcome, time.perf_counter() - started)
    return observed


def _record(source: str, outcome: str, seconds: float) -> None:
    child = _delivery_children.get((source, outcome))
    if child is None:
        child = _delivery_children[(source, outcome)] = DELIVERIES.labels(source, outcome)
    child.inc()
    latency = _latency_children.get(source)
    if latency is None:
        latency = _latency_children[source] = WEBHOOK_SECONDS.labels(source)
    latency.observe(seconds)


def observe_job_failure(kind: str) -> None:
    """One failed job attempt of ``kind``."""
    JOB_FAILURES.labels(kind).inc()


def observe_worker_limit(jobs: int) -> None:
    """The worker's current limit of jobs at once (hub.concurrency)."""
    WORKER_LIMIT.set(jobs)


def observe_enrichment(seconds: float) -> None:
    """An enrichment job done ``seconds`` after the delivery that queued it."""
    ENRICH_SECONDS.observe(max(0.0, seconds))


async def observe_response(response: httpx.Response) -> None:
    """httpx response hook: count the call by host and status, keep the rate limit it reports."""
    service = response.request.url.host or "unknown"
    OUTBOUND.labels(service, str(response.status_code)).inc()
    remaining = response.headers.get("x-ratelimit-remaining")
    if remaining is not None and remaining.isdigit():
        RATE_LIMIT.labels(service).set(int(remaining))


def sample_pools(hub: "Hub") -> None:
    """Set the connections in use of this process's pools (the engine's, the store's on PostgreSQL)."""
    pool = hub.engine.sync_engine.pool
    checked_out = getattr(pool, "checkedout", None)
    if checked_out is not None:
        POOL_IN_USE.labels("engine").set(checked_out())
    store_pool = getattr(getattr(hub.store, "driver", None), "pool", None)
    stats = getattr(store_pool, "get_stats", None)
    if stats is not None:
        numbers = stats()
        POOL_IN_USE.labels("webhooks").set(numbers.get("pool_size", 0) - numbers.get("pool_available", 0))


async def sampling_pools(hub: "Hub", every: float = 5.0) -> None:
    """Sample the pools every ``every`` seconds until cancelled (each process its own)."""
    while True:
        try:
            sample_pools(hub)
        except Exception as exc:  # a metric must never take the process down
            log.debug("Pool sample failed: %s", type(exc).__name__)
        await asyncio.sleep(every)


async def _job_counts(hub: "Hub") -> GaugeMetricFamily:
    family = GaugeMetricFamily("hub_jobs", "Jobs in the outbox by kind and status", labels=["kind", "status"])
    jobs = sa.table("hub_job", sa.column("kind"), sa.column("status"))
    async with hub.engine.connect() as connection:
        rows = await connection.execute(sa.select(jobs.c.kind, jobs.c.status, sa.func.count()).group_by(
            jobs.c.kind, jobs.c.status))
        for kind, status, count in rows:
            family.add_metric([kind, status], count)
    return family


class _Fixed:
    """A collector that yields families already read (the database's, at scrape time)."""

    def __init__(self, *families: Any) -> None:
        self.families = families

    def collect(self) -> Any:
        """The families."""
        return iter(self.families)


def exposition(extra: list[Any]) -> bytes:
    """Every metric of every process (multiprocess mode) or of this one, plus ``extra`` families."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        own = generate_latest(registry)
    else:
        own = generate_latest(REGISTRY)
    fixed = CollectorRegistry()
    fixed.register(_Fixed(*extra))
    return own + generate_latest(fixed)


@get("/metrics", tags=["metrics"], summary="Prometheus metrics", opt=scope_opt("read"), include_in_schema=False)
async def metrics(request: Request) -> Response:
    """The hub's metrics in Prometheus' text format (read scope: Prometheus sends a bearer token)."""
    hub = request.app.state.hub
    sample_pools(hub)
    body = exposition([await _job_counts(hub)])
    return Response(body, media_type=CONTENT_TYPE_LATEST)
