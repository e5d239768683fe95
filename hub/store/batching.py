"""Group commit: writes of one kind that arrive together go out together.

While a write of a kind is running, further ones wait in a queue; the next write takes
everything queued (up to ``max_batch``), so a burst costs one round trip, one statement start
and one WAL flush per batch instead of per delivery. With ``patience``, a second statement (up
to ``max_in_flight``) goes out beside the running one only once that one has run ``patience``
seconds: one statement at a time makes the largest batches, and the fewest statements, while
a slow one (a lock wait, a stalled disk) does not hold up everything behind it. Every caller is still
answered only after its own rows are committed, and a lone write goes out at once: batching
adds no wait when the hub is idle. If a batch fails (a replayed Request-ID: one row spoils the
statement), each of its writes is done again alone, so each gets its own outcome.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Awaitable, Callable

from hub.background import Background

__all__ = ["Batcher"]

log = logging.getLogger("hub.db")

Write = Callable[[list[Any]], Awaitable[list[Any]]]


class Batcher:
    """Queues one kind of write and runs it for many deliveries at once; each caller gets its own row.

    ``write(rows)`` runs the statement for ``rows`` and returns their result rows in order (None
    for a delivery that got no row back).
    """

    def __init__(self, write: Write, max_in_flight: int, max_batch: int = 64, patience: float | None = None) -> None:
        self._write_rows = write
        self.max_in_flight = max_in_flight
        self.max_batch = max_batch
        #: Seconds the running statements must all have run before another starts beside them
        #: (None: another starts whenever fewer than ``max_in_flight`` run).
        self.patience = patience
        self.queue: list[tuple[Any, asyncio.Future[Any]]] = []
        self.in_flight = 0
        #: When the youngest running statement started (the loop's clock), and the timer that
        #: looks at the queue again when it has run ``patience``.
        self._youngest = 0.0
        self._timer: asyncio.TimerHandle | None = None
        #: Batches being written (their callers await futures, not the task; errors go to them).
        self.tasks = Background(log)
        #: Statements that carried more than one delivery, and the deliveries they carried.
        self.batches = 0
        self.batched = 0
        #: Batches a row spoiled, written again one by one.
        self.failed_batches = 0

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        """While held, writes queue; on leaving, everything queued goes out as one batch.

        For tests that must form a batch whatever the timing (and for nothing else).
        """
        self.in_flight += self.max_in_flight
        try:
            yield
        finally:
            self.in_flight -= self.max_in_flight
            if self.queue:
                self._flush()

    def _free(self) -> bool:
        """Whether a statement may start now."""
        if self.in_flight >= self.max_in_flight:
            return False
        if self.in_flight == 0 or self.patience is None:
            return True
        return asyncio.get_running_loop().time() - self._youngest >= self.patience

    def _next(self) -> None:
        """Start the queue's next batch if a statement may start; otherwise, when only patience
        stands in the way, look again once the youngest running statement has run it."""
        if not self.queue:
            return
        if self._free():
            self._flush()
        elif self.in_flight < self.max_in_flight and self._timer is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_at(self._youngest + self.patience, self._patience_ran_out)

    def _started(self) -> None:
        """A statement goes out (alone in its caller's task, or a batch in a task of its own)."""
        self.in_flight += 1
        self._youngest = asyncio.get_running_loop().time()

    def _ended(self) -> None:
        """A statement is done, however it ended: the queue may go out now."""
        self.in_flight -= 1
        self._next()

    def _patience_ran_out(self) -> None:
        self._timer = None
        self._next()

    async def write(self, params: Any) -> Any:
        """Write one delivery (alone or with others that wait); its result row, or None."""
        if not self.queue and self._free():
            # Nothing waits and a statement may start: write in the caller's own task, without a
            # task and a future of its own (measurable per delivery); a caller cancelled past
            # its time budget cancels its own write.
            self._started()
            try:
                [row] = await self._write_rows([params])
                return row
            finally:
                self._ended()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.queue.append((params, future))
        self._next()
        return await future

    def _flush(self) -> None:
        batch, self.queue = self.queue[: self.max_batch], self.queue[self.max_batch:]
        self._started()
        task = self.tasks.keep(asyncio.create_task(self._write_batch(batch)))
        futures = [future for _, future in batch]
        for future in futures:
            future.add_done_callback(lambda _future: self._drop_if_abandoned(task, futures))

    @staticmethod
    def _drop_if_abandoned(task: asyncio.Task[None], futures: list[asyncio.Future[Any]]) -> None:
        # Every caller gave up (answered 503 past its time budget): stop the write, so that what
        # was answered "not stored" is not stored later, unless the database got it already.
        if not task.done() and all(future.cancelled() for future in futures):
            task.cancel()

    async def _write_batch(self, batch: list[tuple[Any, asyncio.Future[Any]]]) -> None:
        try:
            batch = [(params, future) for params, future in batch if not future.cancelled()]
            if not batch:
                return
            if len(batch) == 1:
                await self._write_alone(*batch[0])
                return
            try:
                rows = await self._write_rows([params for params, _ in batch])
                self.batches += 1
                self.batched += len(batch)
            except Exception as exc:  # one row spoiled the statement: give each its own outcome
                self.failed_batches += 1
                log.debug("A batch of %d deliveries failed (%s); writing each alone", len(batch), type(exc).__name__)
                await asyncio.gather(*(self._write_alone(params, future) for params, future in batch
                                       if not future.cancelled()))
                return
            for (_, future), row in zip(batch, rows):
                if not future.done():
                    future.set_result(row)
        finally:
            self._ended()

    async def _write_alone(self, params: Any, future: asyncio.Future[Any]) -> None:
        try:
            [row] = await self._write_rows([params])
        except BaseException as exc:  # the caller's delivery decides what an error means
            if not future.done():
                future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
        else:
            if not future.done():
                future.set_result(row)
