"""``Store``: every write of the hub's webhook path and of triage, one definition each.

The pipeline (``hub.ingest``) and the API call these methods; the rows come from
``hub.store.writes``, the statements from ``hub.store.sql``, and a driver runs them on the
configured database (``hub.store.postgres`` or ``hub.store.sqlite``).
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections import OrderedDict
from typing import Any, Callable, Iterable, Protocol, TypeVar

from sqlalchemy.engine import make_url

from hub.config import ConfigError, DatabaseSettings
from hub.db import SQLITE_BUSY_TIMEOUT_SECONDS, async_url, is_postgres
from hub.delivery import Answer, ReceivedDelivery
from hub.models import utcnow
from hub.store.tables import DELIVERIES, LinkedIssue
from hub.store.writes import GatedInsert, NewIssue, Tx, apply_and_record, delivery_row, \
    earlier_response, ensure_labels, labels_named, new_issue, take_numbers, try_changes
from hub.store.sql import Step
from hub.types import Change, IssueDraft, IssueView, LabelDraft, LinkView, Sink

__all__ = ["Driver", "RecentLinks", "Store", "open_store"]

T = TypeVar("T")

_RECORD_STEPS = (Step(DELIVERIES),)


class Driver(Protocol):
    """What the store needs of a database driver."""

    dialect: str

    async def run(self, tx: Callable[[], Tx[T]], *, atomic: bool = True, rollback: bool = False) -> T:
        """Run a transaction (``atomic=False``: each statement on its own, for reads;
        ``rollback=True``: rolled back at its end, a trial)."""

    async def find_linked(self, source: str, external_id: str) -> LinkedIssue | None:
        """``hub.store.writes.find_linked``, possibly together with other lookups in flight."""

    async def create(self, insert: GatedInsert) -> bool:
        """Write a new issue's rows unless its record is linked already; whether they were written."""

    async def write_creates(self, inserts: list[GatedInsert]) -> list[bool]:
        """``create`` for several at once, in one statement or transaction."""

    async def insert_rows(self, rows: GatedInsert) -> None:
        """Insert rows nothing gates."""

    async def close(self) -> None:
        """Release connections."""


class RecentLinks:
    """Records this process saw linked lately: a hint that a ``create`` delivery is a duplicate.

    A duplicate needs no draft (``build_issue``); looking the record up first for a record seen
    linked saves building one when, as in an alert storm, the same record comes again and again.
    Only a hint: a link gone since (its issue deleted by hand) is not found, and the delivery
    takes the create path. Bounded, oldest out first.
    """

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._keys: OrderedDict[tuple[str, str], None] = OrderedDict()

    def __contains__(self, key: tuple[str, str]) -> bool:
        return key in self._keys

    def add(self, key: tuple[str, str]) -> None:
        """Remember ``(source, external_id)`` as linked."""
        self._keys[key] = None
        self._keys.move_to_end(key)
        if len(self._keys) > self.size:
            self._keys.popitem(last=False)

    def discard(self, key: tuple[str, str]) -> None:
        """Forget ``(source, external_id)``."""
        self._keys.pop(key, None)


class _Numbers:
    """Issue numbers taken from the database a few at a time, smallest first.

    A number given back (its create lost the race) is handed out next, so a lost race burns
    none. ``prefetch`` at a time while issues come one by one; while they come in a burst (the
    last numbers lasted under BURST_SECONDS) twice as many as the last time, up to
    ``prefetch * MAX_GROWTH``: a burst takes one statement per hundreds of issues instead of one
    per sixteen. Several processes each hold some: identifiers stay unique, and across processes
    are in creation order only to within what each holds; a process that stops leaves a gap of
    what it held (gaps are allowed, reuse is not).
    """

    BURST_SECONDS = 1.0
    MAX_GROWTH = 16

    def __init__(self, driver: Driver, prefetch: int) -> None:
        self.driver = driver
        self.prefetch = prefetch
        self.size = prefetch
        self._fetched_at = -float("inf")
        self._free: list[int] = []
        # One fetch at a time: a burst that finds the pool empty waits for one round trip.
        self._fetching = asyncio.Lock()

    async def take(self) -> int:
        """The smallest number this process holds, fetching more when it holds none."""
        while not self._free:
            async with self._fetching:
                if not self._free:
                    # One statement on PostgreSQL (no BEGIN/COMMIT needed); SQLite needs one
                    # transaction for its inserts, which its driver runs whole on its thread.
                    atomic = self.driver.dialect == "sqlite"
                    now = time.monotonic()
                    burst = now - self._fetched_at < self.BURST_SECONDS
                    self.size = min(self.size * 2, self.prefetch * self.MAX_GROWTH) if burst else self.prefetch
                    self._fetched_at = now
                    numbers = await self.driver.run(lambda: take_numbers(self.driver.dialect, self.size),
                                                    atomic=atomic)
                    for number in numbers:
                        heapq.heappush(self._free, number)
        return heapq.heappop(self._free)

    def give_back(self, number: int) -> None:
        """Return a number whose issue was not written: it is handed out next."""
        heapq.heappush(self._free, number)


class Store:
    """The hub's writes (and the reads they depend on) on one database."""

    def __init__(self, driver: Driver, number_prefetch: int = 16) -> None:
        self.driver = driver
        #: Label name -> id of a committed label row (labels never change once created).
        self.label_ids: dict[str, str] = {}
        #: (source, external id) of records seen linked.
        self.recent_links = RecentLinks()
        self._numbers = _Numbers(driver, number_prefetch)
        #: Sinks every new issue and every change is queued for (``hub.runtime.Hub`` sets them).
        self.sinks: tuple[Sink, ...] = ()

    @property
    def dialect(self) -> str:
        """``postgresql`` or ``sqlite``."""
        return self.driver.dialect

    async def close(self) -> None:
        """Release the driver's connections."""
        await self.driver.close()

    async def find_linked(self, source: str, external_id: str) -> LinkedIssue | None:
        """The issue linked to ``(source, external_id)``, or None (remembered in ``recent_links``)."""
        linked = await self.driver.find_linked(source, external_id)
        if linked is not None:
            # Linked by this process or another: its next delivery is most likely a duplicate
            # and goes to the lookup first (no draft, no create statement).
            self.recent_links.add((source, external_id))
        return linked

    async def earlier_response(self, source: str, request_id: str | None, body_sha256: str | None = None
                               ) -> dict[str, Any] | None:
        """The answer logged for the delivery of ``source`` with this Request-ID or body digest, or None."""
        return await self.driver.run(lambda: earlier_response(source, request_id, body_sha256), atomic=False)

    async def ensure_labels(self, labels: Iterable[LabelDraft]) -> dict[str, str]:
        """Name -> id of every label in ``labels``, creating the missing ones (the one label rule,
        ``hub.store.writes.ensure_labels``): cached only once committed."""
        labels = list(labels)
        missing = [label for label in labels if label.name not in self.label_ids]
        if missing:
            now = utcnow()
            self.label_ids.update(await self.driver.run(lambda: ensure_labels(missing, now)))
        return {label.name: self.label_ids[label.name] for label in labels}

    def forget_labels(self) -> None:
        """Drop cached label ids (one was deleted by hand: its id fails the foreign key)."""
        self.label_ids.clear()

    async def create_issue(self, source: str, draft: IssueDraft, prefix: str, job_payload: Any | None,
                           delivery: ReceivedDelivery, answer: Callable[[IssueView], Answer]) -> NewIssue | None:
        """Create the issue ``draft`` describes, with its link, labels, jobs (``enrich`` when
        ``job_payload`` is not None, ``publish`` per sink) and delivery row answered with
        ``answer(issue)``, all or nothing.

        None when ``(source, draft.link.external_id)`` is linked already (before, or by a
        concurrent delivery a moment ago): nothing written. Raises the driver's integrity error
        on a replayed Request-ID (nothing written).
        """
        label_ids = await self.ensure_labels(draft.labels)
        number = await self._numbers.take()
        new = new_issue(source, draft, number, prefix, label_ids.values(), job_payload, delivery, answer, utcnow(),
                        self.sinks)
        # On an error or a cancellation the number is not given back: the statement may still
        # commit (a batch goes on without its cancelled caller), and a number used twice would
        # fail a later create. A gap is allowed; a duplicate is not.
        written = await self.driver.create(new.insert)
        if not written:
            self._numbers.give_back(number)
            return None
        self.recent_links.add((source, draft.link.external_id))
        return new

    async def record(self, delivery: ReceivedDelivery, answer: Answer, issue_id: str | None = None) -> None:
        """Append the delivery's row to the delivery log."""
        row = delivery_row(delivery, answer, issue_id, utcnow())
        await self.driver.insert_rows(GatedInsert(_RECORD_STEPS, ([row],)))

    async def apply(self, issue: IssueView, changes: Iterable[Change], actor: str,
                    delivery: ReceivedDelivery | None = None,
                    answer: Callable[[list[dict[str, Any]], list[dict[str, Any]]], Answer] | None = None,
                    link: LinkView | None = None) -> tuple[list[dict[str, Any]], Answer | None]:
        """Apply ``changes`` to ``issue`` as ``actor`` and, for a delivery, log it answered with
        ``answer(applied, ignored)``: one transaction. ``link``: the link the changes came
        through, whose state time orders them (``Change.at``); stale changes are all ignored.
        Returns what changed, and the answer."""
        changes = list(changes)
        label_ids = await self.ensure_labels(labels_named(changes))
        now = utcnow()
        return await self.driver.run(
            lambda: apply_and_record(issue, changes, actor, label_ids, delivery, answer, now, link, sinks=self.sinks))

    async def trial(self, issue: IssueView, changes: Iterable[Change], actor: str, link: LinkView | None = None
                    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """What ``apply`` would change now, and what it would ignore (stale), each described:
        found by applying ``changes`` in a transaction that is rolled back, so every rule answers
        as it would, and nothing is written (``hub replay --dry-run``, the console's dry run)."""
        changes = list(changes)
        now = utcnow()
        return await self.driver.run(lambda: try_changes(issue, changes, actor, now, link, sinks=self.sinks),
                                     rollback=True)


async def open_store(settings: DatabaseSettings) -> Store:
    """The store on the configured database, with the driver for it."""
    if is_postgres(settings.url):
        from hub.store.postgres import PostgresDriver

        return Store(await PostgresDriver.open(settings))
    from hub.store.sqlite import SqliteDriver

    path = make_url(async_url(settings.url)).database
    if not path or path == ":memory:" or path.startswith("file:"):
        # Migrations, the engine and the store each open their own connection.
        raise ConfigError(f"[database] url: SQLite needs a file path, not {path or 'an empty one'!r}")
    return Store(await SqliteDriver.open(path, SQLITE_BUSY_TIMEOUT_SECONDS))
