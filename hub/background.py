"""Tasks that go on after whoever started them stopped waiting, kept in one kind of set.

asyncio holds only a weak reference to a task: one nobody keeps can be garbage-collected before
it ends. The hub starts such tasks in three places (a ``Decision.remember`` write beside the
answer, a delivery answered 503 at its time budget that is still being cancelled, a group-commit
batch that its callers await through futures); each keeps them in a :class:`Background`, which
holds every task until it ends and says in the log how one ended badly.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Iterator

__all__ = ["Background"]


class Background:
    """The tasks of one kind that are still running, and how their failures are logged.

    ``failure``: the log line (``%s`` is the exception's type) for a task that raised; None when
    the task's own code reports its errors (a batch answers them to its callers).
    """

    def __init__(self, log: logging.Logger, failure: str | None = None) -> None:
        self._log = log
        self._failure = failure
        self._tasks: set[asyncio.Task[Any]] = set()

    def keep(self, task: asyncio.Task[Any]) -> asyncio.Task[Any]:
        """Hold ``task`` until it ends; return it."""
        self._tasks.add(task)
        task.add_done_callback(self._ended)
        return task

    def _ended(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if self._failure is not None and not task.cancelled() and task.exception() is not None:
            self._log.warning(self._failure, type(task.exception()).__name__)

    def __iter__(self) -> Iterator[asyncio.Task[Any]]:
        return iter(list(self._tasks))

    def __len__(self) -> int:
        return len(self._tasks)

    async def settled(self) -> None:
        """Wait until every task kept (now or meanwhile) has ended. Tasks of this loop are awaited;
        those of another loop (a test client serves its app from a loop of its own) are polled."""
        loop = asyncio.get_running_loop()
        while pending := [task for task in self if not task.done()]:
            here = [task for task in pending if task.get_loop() is loop]
            if here:
                await asyncio.gather(*here, return_exceptions=True)
            else:
                await asyncio.sleep(0.01)
