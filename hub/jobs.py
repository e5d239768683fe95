"""The outbox worker: an asyncio task in every hub process that runs due jobs.

Jobs are claimed with one UPDATE ... RETURNING (FOR UPDATE SKIP LOCKED on PostgreSQL), so several
processes share the queue and each job runs once. A claim is a lease: a job whose process died
is claimed again when ``locked_until`` has passed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import uuid
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Callable

import sqlalchemy as sa

from hub import store
from hub.plugins import await_maybe
from hub.redact import redact
from hub.sections import replace_section
from hub.types import RetryLater, Section

if TYPE_CHECKING:
    from hub.runtime import Hub

__all__ = ["Worker", "backoff_seconds"]

log = logging.getLogger("hub.jobs")
JOBS = store.JOBS


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def backoff_seconds(attempt: int, base: float, cap: float, rng: Callable[[], float] = random.random) -> float:
    """Exponential backoff with jitter: base * 2^(attempt-1), scaled by 0.5..1.5, at most ``cap``."""
    return min(cap, base * 2 ** max(0, attempt - 1)) * (0.5 + rng())


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
        """Run due jobs, up to ``batch_size`` at once, until none is due or running; return how many ran.

        Enrichment mostly waits on HTTP (GitHub): one job after another, a slow API let the queue
        grow during a burst (measured: 12 jobs done while 2,387 queued with GitHub answering in
        5 s). A free slot is filled as soon as a job finishes or a delivery wakes the worker.
        """
        settings = self.hub.settings.worker
        running: set[asyncio.Task[None]] = set()
        count = 0
        try:
            while True:
                if len(running) < settings.batch_size:
                    for job in await self.claim(settings.batch_size - len(running)):
                        running.add(asyncio.create_task(self._run(job), name=f"hub-job-{job.id}"))
                if not running:
                    return count
                waiters: set[asyncio.Future[Any]] = set(running)
                # A wake-up (a delivery enqueued a job) matters only with a free slot; with every
                # slot busy, hundreds of deliveries a second must not each spin this loop.
                woken = asyncio.ensure_future(self._wakeup.wait()) if len(running) < settings.batch_size else None
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
        finally:
            # Cancelled (shutdown) or the database failed: each job releases its claim itself.
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)

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
        if result.rowcount:
            log.info("Pruned %d delivery-log rows older than %s", result.rowcount, cutoff.isoformat(timespec="seconds"))
        return result.rowcount

    async def claim(self, limit: int) -> list[Any]:
        """Claim up to ``limit`` due jobs (queued and due, or running with an expired lease)."""
        now = self.clock()
        lease = timedelta(seconds=self.hub.settings.worker.lease_seconds)
        due = sa.or_(
            sa.and_(JOBS.c.status == "queued", JOBS.c.run_after <= now),
            sa.and_(JOBS.c.status == "running", JOBS.c.locked_until < now),
        )
        ids = (
            sa.select(JOBS.c.id).where(due).order_by(JOBS.c.run_after).limit(limit)
            .with_for_update(skip_locked=True)
        )
        claim = (
            sa.update(JOBS)
            .where(JOBS.c.id.in_(ids.scalar_subquery()))
            .values(status="running", locked_by=self.name, locked_until=now + lease,
                    attempts=JOBS.c.attempts + 1, updated_at=now)
            .returning(JOBS.c.id, JOBS.c.kind, JOBS.c.issue_id, JOBS.c.source, JOBS.c.payload, JOBS.c.attempts)
        )
        async with self.hub.engine.begin() as connection:
            return list((await connection.execute(claim)).all())

    async def _run(self, job: Any) -> None:
        try:
            if job.kind != "enrich":
                raise ValueError(f"unknown job kind {job.kind!r}")
            note = await self._enrich(job)
        except asyncio.CancelledError:
            await asyncio.shield(self._release(job))
            raise
        except RetryLater as exc:
            now = self.clock()
            at = exc.until if exc.until is not None else now + timedelta(seconds=exc.after_seconds or 0)
            await self._failed(job, exc.reason, max(at, now))
        except Exception as exc:
            delay = backoff_seconds(job.attempts, self.hub.settings.worker.backoff_base_seconds,
                                    self.hub.settings.worker.backoff_max_seconds, self.rng)
            await self._failed(job, f"{type(exc).__name__}: {exc}", self.clock() + timedelta(seconds=delay))
        else:
            await self._finish(job, status="done", note=note, last_error=None)
            log.info("Job %s (%s) done%s", job.id, job.kind, f": {note}" if note else "")

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
        sections: list[Section] = []
        errors: list[BaseException] = []
        for result in hook.enrich_description(issue=issue, link=link, stack_files=files,
                                              first_seen=first_seen or issue.created_at,
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

    async def _failed(self, job: Any, error: str, retry_at: datetime) -> None:
        error = redact(error, self.hub.settings.secrets)
        if job.attempts >= self.hub.settings.worker.max_attempts:
            await self._finish(job, status="failed", note=None, last_error=error)
            log.error("Job %s (%s) failed after %d attempts: %s", job.id, job.kind, job.attempts, error)
            return
        await self._finish(job, status="queued", note=None, last_error=error, run_after=retry_at)
        log.warning("Job %s (%s) attempt %d failed, retrying at %s: %s",
                    job.id, job.kind, job.attempts, retry_at.isoformat(timespec="seconds"), error)

    async def _finish(self, job: Any, *, status: str, note: str | None, last_error: str | None,
                      run_after: datetime | None = None) -> None:
        values: dict[str, Any] = {"status": status, "locked_by": None, "locked_until": None,
                                  "last_error": last_error, "updated_at": self.clock()}
        if note is not None:
            values["note"] = note
        if run_after is not None:
            values["run_after"] = run_after
        async with self.hub.engine.begin() as connection:
            await connection.execute(
                sa.update(JOBS).where(JOBS.c.id == job.id, JOBS.c.locked_by == self.name).values(**values)
            )

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
