"""The outbox worker: an asyncio task in every hub process that runs due jobs.

Jobs are claimed with one UPDATE ... RETURNING (FOR UPDATE SKIP LOCKED on PostgreSQL), so several
processes share the queue and each job runs once. A claim is a lease: a job whose process died
is claimed again when ``locked_until`` has passed.

A job fails in one of two ways. Its own fault (a bug, a 404, bad data) uses up an attempt, with
exponential backoff, until ``max_attempts`` marks it ``failed``. An outage (a connection error,
a timeout, a 5xx from the outside service, a database error) is nobody's fault: the job backs
off the same way but the attempt is given back, so an outage never fails a job. The outage
streak is kept in ``last_error`` (``outage #3: ...``): no column was added for it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import re
import socket
import uuid
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Callable

import httpx
import sqlalchemy as sa

from hub import metrics, store
from hub.models import as_utc
from hub.concurrency import AdaptiveLimit
from hub.plugins import await_maybe
from hub.redact import redact
from hub.sections import replace_section
from hub.sinks import PUBLISH, check_sinks, publish, queue_publish
from hub.types import GiveUp, RetryLater, Section, Unavailable

if TYPE_CHECKING:
    from hub.runtime import Hub

__all__ = ["Worker", "backoff_seconds", "cancel_jobs", "is_outage", "list_jobs", "outage_streak", "retry_jitter_seconds",
           "retry_jobs"]

log = logging.getLogger("hub.jobs")
JOBS = store.JOBS
#: Pauses between tries to record a job's outcome while the database is away.
FINISH_RETRY_FIRST_SECONDS = 0.5
FINISH_RETRY_MAX_SECONDS = 10.0


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


#: A job told to retry at a time waits up to this share of the wait longer (at least a second),
#: so the jobs one rate limit stopped together do not all ask again in the same instant.
RETRY_JITTER_SHARE = 0.1


def retry_jitter_seconds(wait: timedelta, rng: Callable[[], float] = random.random) -> float:
    """Seconds added to a ``RetryLater`` time: never earlier than told, up to a tenth of the wait
    (at least one second) later."""
    return rng() * max(1.0, RETRY_JITTER_SHARE * wait.total_seconds())


def backoff_seconds(attempt: int, base: float, cap: float, rng: Callable[[], float] = random.random) -> float:
    """Exponential backoff with jitter: base * 2^(attempt-1), scaled by 0.5..1.5, at most ``cap``."""
    # The exponent is bounded: an outage streak can run into the thousands, 2.0 ** 1024 overflows.
    return min(cap, base * 2.0 ** min(max(0, attempt - 1), 64)) * (0.5 + rng())


#: Exceptions that say a service (or the database) is unreachable, not that the job is wrong.
_OUTAGES: tuple[type[BaseException], ...] = (
    Unavailable, httpx.TransportError, TimeoutError, asyncio.TimeoutError, ConnectionError,
    sa.exc.InterfaceError, sa.exc.DisconnectionError, sa.exc.TimeoutError,
)
#: sqlite3 raises OperationalError for a missing table too; only these say "try again later".
_SQLITE_TRANSIENT = ("locked", "busy", "disk i/o", "unable to open")
_STREAK = re.compile(r"^outage #(\d+): ")


def is_outage(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it was raised from) is an outage: the attempt should not count."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _OUTAGES):
            return True
        if isinstance(current, sa.exc.OperationalError):
            # psycopg's OperationalError is the connection (lost, refused, timed out, cancelled);
            # sqlite3's also covers mistakes in the statement, which no waiting will fix.
            orig = current.orig
            if type(orig).__module__.split(".")[0] != "sqlite3":
                return True
            return any(word in str(orig).lower() for word in _SQLITE_TRANSIENT)
        if isinstance(current, httpx.HTTPStatusError) and current.response.status_code >= 500:
            return True
        current = current.__cause__ or current.__context__
    return False


def outage_streak(last_error: str | None) -> int:
    """How many outages in a row a job has met, read back from its ``last_error``."""
    match = _STREAK.match(last_error or "")
    return int(match.group(1)) if match else 0


class Worker:
    """Claims and runs due jobs; ``start``/``stop`` belong to the app's lifespan."""

    def __init__(self, hub: "Hub", clock: Callable[[], datetime] = _utcnow, rng: Callable[[], float] = random.random):
        self.hub = hub
        self.clock = clock
        self.rng = rng
        self.name = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._pruned_at: datetime | None = None
        settings = hub.settings.worker
        #: Jobs at once: ``batch_size`` at first, adapted up to ``max_concurrency`` (hub.concurrency).
        self.limit = AdaptiveLimit(settings.batch_size, settings.max_concurrency)
        self._backlog = False

    def start(self) -> None:
        """Start the polling loop as a background task."""
        self._task = asyncio.create_task(self._loop(), name="hub-worker")

    def wake(self) -> None:
        """Look for due jobs now instead of at the next poll (a delivery just enqueued one)."""
        self._wakeup.set()

    async def stop(self) -> None:
        """Stop the loop; jobs it had claimed go back to the queue for another process."""
        if self._task is None:
            return
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        self._task = None

    async def _loop(self) -> None:
        settings = self.hub.settings.worker
        if self.hub.store.sinks:
            try:
                await check_sinks(self.hub)  # a missing token scope is said once, at start
            except Exception as exc:
                log.warning("Worker: could not check the sinks: %s", redact(str(exc), self.hub.settings.secrets))
        while True:
            try:
                await self.run_due()
                await self.prune_deliveries()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database may be down: keep polling, it will come back
                log.warning("Worker: could not poll jobs: %s", redact(str(exc), self.hub.settings.secrets))
            try:
                await asyncio.wait_for(self._wakeup.wait(), timeout=settings.poll_interval_seconds)
            except asyncio.TimeoutError:
                pass
            self._wakeup.clear()

    async def run_due(self) -> int:
        """Run due jobs, up to ``self.limit.current`` at once, until none is due or running; return how many ran.

        Enrichment mostly waits on HTTP (GitHub): one job after another, a slow API let the queue
        grow during a burst (measured: 12 jobs done while 2,387 queued with GitHub answering in
        5 s). A free slot is filled as soon as a job finishes or a delivery wakes the worker; the
        number of slots adapts to how the jobs fare (hub.concurrency).
        """
        settings = self.hub.settings.worker
        running: set[asyncio.Task[None]] = set()
        count = 0
        try:
            while True:
                metrics.observe_worker_limit(self.limit.current)
                if len(running) < self.limit.current:
                    wanted = self.limit.current - len(running)
                    claimed = await self.claim(wanted)
                    self._backlog = len(claimed) == wanted  # more may be due: the limit holds them back
                    for job in claimed:
                        running.add(asyncio.create_task(self._run(job), name=f"hub-job-{job.id}"))
                if not running:
                    return count
                waiters: set[asyncio.Future[Any]] = set(running)
                # A wake-up (a delivery enqueued a job) matters only with a free slot; with every
                # slot busy, hundreds of deliveries a second must not each spin this loop.
                woken = asyncio.ensure_future(self._wakeup.wait()) if len(running) < self.limit.current else None
                if woken is not None:
                    waiters.add(woken)
                done, _ = await asyncio.wait(waiters, timeout=settings.poll_interval_seconds,
                                             return_when=asyncio.FIRST_COMPLETED)
                if woken is not None:
                    woken.cancel()
                    if woken in done:
                        self._wakeup.clear()
                finished = done - {woken}
                running -= finished
                count += len(finished)
                for task in finished:
                    self._retrieve(task)
        finally:
            # Cancelled (shutdown) or the database failed: each job releases its claim itself.
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)

    @staticmethod
    def _retrieve(task: "asyncio.Task[None]") -> None:
        """Log a job task's exception: retrieved, it is never "Task exception was never retrieved"."""
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("%s ended with an error: %s: %s", task.get_name(), type(exc).__name__, exc)

    async def prune_deliveries(self, every: timedelta = timedelta(minutes=10)) -> int:
        """Delete delivery-log rows older than ``[hub] delivery_retention_days`` (at most every ``every``).

        Their Request-IDs are forgotten with them: a replay older than the retention is new again.
        """
        now = self.clock()
        if self._pruned_at is not None and now - self._pruned_at < every:
            return 0
        self._pruned_at = now
        cutoff = now - timedelta(days=self.hub.settings.hub.delivery_retention_days)
        deliveries = store.DELIVERIES
        async with self.hub.engine.begin() as connection:
            result = await connection.execute(sa.delete(deliveries).where(deliveries.c.created_at < cutoff))
            # Done and failed jobs go with the same retention; queued and running ones never do.
            jobs = await connection.execute(
                sa.delete(JOBS).where(JOBS.c.status.in_(("done", "failed", "cancelled")), JOBS.c.updated_at < cutoff))
        if result.rowcount or jobs.rowcount:
            log.info("Pruned %d delivery-log rows and %d finished jobs older than %s", result.rowcount, jobs.rowcount,
                     cutoff.isoformat(timespec="seconds"))
        return result.rowcount

    async def claim(self, limit: int) -> list[Any]:
        """Claim up to ``limit`` due jobs (queued and due, or running with an expired lease)."""
        now = self.clock()
        lease = timedelta(seconds=self.hub.settings.worker.lease_seconds)
        due = sa.or_(
            sa.and_(JOBS.c.status == "queued", JOBS.c.run_after <= now),
            sa.and_(JOBS.c.status == "running", JOBS.c.locked_until < now),
        )
        # A sink must see an issue's news in order (created, then closed, then reopened), and one
        # at a time (a retried create must not race a close): a publish job waits while an
        # earlier one of its issue and sink is queued or running.
        earlier = JOBS.alias("earlier")
        waits = sa.exists().where(
            earlier.c.issue_id == JOBS.c.issue_id, earlier.c.kind == PUBLISH, earlier.c.source == JOBS.c.source,
            earlier.c.status.in_(("queued", "running")),
            sa.or_(earlier.c.created_at < JOBS.c.created_at,
                   sa.and_(earlier.c.created_at == JOBS.c.created_at, earlier.c.id < JOBS.c.id)))
        due = sa.and_(due, sa.or_(JOBS.c.kind != PUBLISH, ~waits))
        ids = (
            sa.select(JOBS.c.id).where(due).order_by(JOBS.c.run_after).limit(limit)
            .with_for_update(skip_locked=True)
        )
        claim = (
            sa.update(JOBS)
            .where(JOBS.c.id.in_(ids.scalar_subquery()))
            .values(status="running", locked_by=self.name, locked_until=now + lease,
                    attempts=JOBS.c.attempts + 1, updated_at=now)
            .returning(JOBS.c.id, JOBS.c.kind, JOBS.c.issue_id, JOBS.c.source, JOBS.c.payload, JOBS.c.attempts,
                       JOBS.c.last_error, JOBS.c.created_at)
        )
        async with self.hub.engine.begin() as connection:
            return list((await connection.execute(claim)).all())

    async def _run(self, job: Any) -> None:
        started = self.limit.start()
        try:
            if job.kind == "enrich":
                note = await self._enrich(job)
            elif job.kind == PUBLISH:
                note = await publish(self.hub, job)
            else:
                raise ValueError(f"unknown job kind {job.kind!r}")
        except asyncio.CancelledError:
            await asyncio.shield(self._release(job))
            raise
        except GiveUp as exc:  # retrying cannot help (the outside record is gone): fail it now
            metrics.observe_job_failure(job.kind)
            error = redact(str(exc), self.hub.settings.secrets)
            await self._finish(job, status="failed", note=None, last_error=error)
            log.error("Job %s (%s) failed, not retried: %s", job.id, job.kind, error)
        except RetryLater as exc:
            self.limit.backed_off(started)
            now = self.clock()
            at = max(exc.until if exc.until is not None else now + timedelta(seconds=exc.after_seconds or 0), now)
            await self._failed(job, exc.reason, at + timedelta(seconds=retry_jitter_seconds(at - now, self.rng)))
        except Exception as exc:
            if is_outage(exc):
                self.limit.backed_off(started)
                await self._outage(job, f"{type(exc).__name__}: {exc}")
                return
            delay = backoff_seconds(job.attempts, self.hub.settings.worker.backoff_base_seconds,
                                    self.hub.settings.worker.backoff_max_seconds, self.rng)
            await self._failed(job, f"{type(exc).__name__}: {exc}", self.clock() + timedelta(seconds=delay))
        else:
            self.limit.succeeded(started, self._backlog)
            await self._finish(job, status="done", note=note, last_error=None)
            log.info("Job %s (%s) done%s", job.id, job.kind, f": {note}" if note else "")
            if job.kind == "enrich":
                # The job was queued in the transaction of the delivery that made the issue.
                metrics.observe_enrichment((self.clock() - as_utc(job.created_at)).total_seconds())

    async def _enrich(self, job: Any) -> str:
        hub = self.hub
        hook = hub.pm.hook
        async with hub.engine.connect() as connection:
            found = await store.load_issue_with_link(connection, job.issue_id, job.source)
        if found is None:
            return "issue no longer exists"
        issue, link = found.issue, found.link
        files: list[str] = []
        for result in hook.stack_files(issue=issue, link=link, payload=job.payload, config=hub.settings, http=hub.http):
            for path in await await_maybe(result) or []:
                if path not in files:
                    files.append(path)
        first_seen = hook.first_seen(issue=issue, link=link, payload=job.payload, config=hub.settings)
        project = hook.code_project(link=link, payload=job.payload, config=hub.settings)
        sections: list[Section] = []
        errors: list[BaseException] = []
        for result in hook.enrich_description(issue=issue, link=link, stack_files=files,
                                              first_seen=first_seen or issue.created_at, project=project,
                                              config=hub.settings, http=hub.http, cache=hub.cache):
            try:
                section = await await_maybe(result)
            except Exception as exc:  # keep the other enrichers' sections; retry the job
                errors.append(exc)
                continue
            if section is not None:
                sections.append(section)
        if sections:
            await self._write_sections(issue.id, sections)
        if errors:
            raise errors[0]
        notes = [section.note for section in sections if section.note]
        written = [section.key for section in sections if section.markdown.strip()]
        if written:
            notes.insert(0, "wrote " + ", ".join(written))
        return "; ".join(notes) or "no enricher had anything to add"

    async def _write_sections(self, issue_id: str, sections: list[Section]) -> None:
        issues = store.ISSUES
        async with self.hub.engine.begin() as connection:
            current = (
                await connection.execute(
                    sa.select(issues.c.description).where(issues.c.id == issue_id).with_for_update()
                )
            ).scalar_one()
            description = current
            for section in sections:
                description = replace_section(description, section.key, store.storable(section.markdown))
            if description != current:
                await connection.execute(
                    sa.update(issues).where(issues.c.id == issue_id)
                    .values(description=description, updated_at=self.clock())
                )
                # The sinks see the new description (the suspected cause), queued in the same
                # transaction as the write it publishes.
                await queue_publish(connection, issue_id, self.hub.store.sinks,
                                    [{"kind": "description", "actor": "hub"}], self.clock())

    async def _failed(self, job: Any, error: str, retry_at: datetime) -> None:
        metrics.observe_job_failure(job.kind)
        error = redact(error, self.hub.settings.secrets)
        if job.attempts >= self.hub.settings.worker.max_attempts:
            await self._finish(job, status="failed", note=None, last_error=error)
            log.error("Job %s (%s) failed after %d attempts: %s", job.id, job.kind, job.attempts, error)
            return
        await self._finish(job, status="queued", note=None, last_error=error, run_after=retry_at)
        log.warning("Job %s (%s) attempt %d failed, retrying at %s: %s",
                    job.id, job.kind, job.attempts, retry_at.isoformat(timespec="seconds"), error)

    async def _outage(self, job: Any, error: str) -> None:
        """Back off as for a failure, but give the attempt back: an outage is not the job's fault."""
        settings = self.hub.settings.worker
        streak = outage_streak(job.last_error) + 1
        retry_at = self.clock() + timedelta(seconds=backoff_seconds(
            streak, settings.backoff_base_seconds, settings.backoff_max_seconds, self.rng))
        error = redact(error, self.hub.settings.secrets)
        await self._finish(job, status="queued", note=None, last_error=f"outage #{streak}: {error}",
                           run_after=retry_at, attempts=JOBS.c.attempts - 1)
        log.warning("Job %s (%s) waits out an outage (#%d, not counted as an attempt), retrying at %s: %s",
                    job.id, job.kind, streak, retry_at.isoformat(timespec="seconds"), error)

    async def _finish(self, job: Any, *, status: str, note: str | None, last_error: str | None,
                      run_after: datetime | None = None, attempts: Any = None) -> None:
        """Record a job's outcome and drop its claim.

        The database may be the thing that just went away. Waiting for the lease (5 minutes by
        default) would hold the job for nothing, so the write is retried, with growing pauses,
        until it lands or the lease runs out (then another claim will run the job again).
        """
        values: dict[str, Any] = {"status": status, "locked_by": None, "locked_until": None,
                                  "last_error": last_error, "updated_at": self.clock()}
        if note is not None:
            values["note"] = note
        if run_after is not None:
            values["run_after"] = run_after
        if attempts is not None:
            values["attempts"] = attempts
        statement = sa.update(JOBS).where(JOBS.c.id == job.id, JOBS.c.locked_by == self.name).values(**values)
        give_up = asyncio.get_running_loop().time() + self.hub.settings.worker.lease_seconds
        pause = FINISH_RETRY_FIRST_SECONDS
        while True:
            try:
                async with self.hub.engine.begin() as connection:
                    await connection.execute(statement)
                return
            except Exception as exc:
                if not is_outage(exc) or asyncio.get_running_loop().time() + pause > give_up:
                    raise
                log.warning("Job %s: could not record its outcome (%s), trying again in %g s",
                            job.id, type(exc).__name__, pause)
                await asyncio.sleep(pause)
                pause = min(pause * 2, FINISH_RETRY_MAX_SECONDS)

    async def _release(self, job: Any) -> None:
        """Give a claimed job back (shutdown): not its fault, so the attempt does not count."""
        try:
            async with self.hub.engine.begin() as connection:
                await connection.execute(
                    sa.update(JOBS).where(JOBS.c.id == job.id, JOBS.c.locked_by == self.name)
                    .values(status="queued", locked_by=None, locked_until=None,
                            attempts=JOBS.c.attempts - 1, updated_at=self.clock())
                )
            log.info("Job %s released for another process", job.id)
        except Exception as exc:
            log.warning("Job %s not released (its lease will expire): %s", job.id, exc)


async def list_jobs(engine: Any, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """The newest jobs (of one ``status`` if given), for ``hub jobs list``."""
    query = sa.select(JOBS.c.id, JOBS.c.kind, JOBS.c.issue_id, JOBS.c.status, JOBS.c.attempts, JOBS.c.run_after,
                      JOBS.c.updated_at, JOBS.c.last_error, JOBS.c.note)
    if status is not None:
        query = query.where(JOBS.c.status == status)
    async with engine.connect() as connection:
        rows = (await connection.execute(query.order_by(JOBS.c.updated_at.desc(), JOBS.c.id).limit(limit))).mappings()
        return [dict(row) for row in rows]


async def retry_jobs(engine: Any, ids: list[str] | None = None, *, failed: bool = False,
                     now: datetime | None = None) -> int:
    """Queue jobs again with fresh attempts: every ``failed`` one, or those ``ids`` (any not running).

    Returns how many were queued. The last error stays on the job until its next run.
    """
    if not failed and not ids:
        return 0
    now = now or _utcnow()
    where = [JOBS.c.status != "running"]
    if failed:
        where.append(JOBS.c.status == "failed")
    if ids:
        where.append(JOBS.c.id.in_(ids))
    async with engine.begin() as connection:
        result = await connection.execute(
            sa.update(JOBS).where(*where)
            .values(status="queued", attempts=0, run_after=now, locked_by=None, locked_until=None, updated_at=now))
    return result.rowcount


async def cancel_jobs(engine: Any, ids: list[str], *, now: datetime | None = None) -> int:
    """Cancel the named jobs that are queued or failed (a running one finishes its attempt first).

    A cancelled job is never claimed again and is pruned with the delivery log. Returns how many.
    """
    if not ids:
        return 0
    now = now or _utcnow()
    async with engine.begin() as connection:
        result = await connection.execute(
            sa.update(JOBS).where(JOBS.c.id.in_(ids), JOBS.c.status.in_(("queued", "failed")))
            .values(status="cancelled", locked_by=None, locked_until=None, updated_at=now))
    return result.rowcount
