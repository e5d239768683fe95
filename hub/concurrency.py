"""How many jobs the worker runs at once: a limit that adapts to the outcomes, as TCP's window does.

Jobs mostly wait on outside services. A fixed number at once is too few when a service is slow
but healthy (a burst of new issues queued for minutes: 15,548 jobs queued while 51 finished, with
the outside API answering in 5 s and 5 jobs at a time) and too many when it is failing. So the limit
(additive increase, multiplicative decrease):

- grows while jobs succeed and more were waiting than slots: by one per success up to the
  threshold (slow start: it doubles each round of jobs), then by one per round (``1 / limit``
  per success);
- shrinks by a tenth when a job took much longer than jobs usually do (``tolerance`` times the
  running average): the jobs wait on something that more of them at once only makes slower
  (a full database pool, an outside service's own limits);
- halves on backpressure: a job asked to be retried later (a rate limit) or met an outage;
- shrinks once per round: a job started before the last decrease tells nothing about the limit
  since, and neither shrinks nor grows it (a hundred jobs rate-limited together halve it once,
  not a hundred times).

A job that fails by its own fault (a bug, bad data) leaves the limit alone. The limit stays
within ``[minimum, maximum]``. It is per process, and only a limit: what an outside service
allows is the business of the plugin that calls it.
"""

from __future__ import annotations

import math
import time
from typing import Callable

__all__ = ["AdaptiveLimit"]

#: Weight of a new job's latency in the running average: about the last ten jobs count.
SMOOTHING = 0.1
#: The limit after a job much slower than usual, as a share of the limit before.
SLOW_FACTOR = 0.9
#: The limit after backpressure (a rate limit, an outage), as a share of the limit before.
BACKOFF_FACTOR = 0.5


class AdaptiveLimit:
    """The number of jobs to run at once, adapted to their outcomes and latencies."""

    def __init__(self, initial: int, maximum: int, *, minimum: int = 1, tolerance: float = 2.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.minimum = max(1, minimum)
        self.maximum = max(self.minimum, maximum)
        self.tolerance = tolerance
        self.clock = clock
        self.limit = float(min(self.maximum, max(self.minimum, initial)))
        #: Slow start below it, one more per round above it; set at every decrease.
        self.threshold = float(self.maximum)
        self.usual_seconds: float | None = None
        self._decreased_at = -math.inf

    @property
    def current(self) -> int:
        """How many jobs may run at once now."""
        return max(self.minimum, int(self.limit))

    def start(self) -> float:
        """Note a job's start; pass what this returns to :meth:`succeeded` or :meth:`backed_off`."""
        return self.clock()

    def succeeded(self, started: float, backlog: bool) -> None:
        """A job that started at ``started`` succeeded; ``backlog``: jobs were waiting for a slot
        (the worker's last claim got every job it asked for)."""
        seconds = self.clock() - started
        usual = self.usual_seconds
        self.usual_seconds = seconds if usual is None else usual + SMOOTHING * (seconds - usual)
        if usual is not None and seconds > self.tolerance * usual:
            self._decrease(started, SLOW_FACTOR)
        elif backlog and started >= self._decreased_at:  # only a limit that held jobs back is worth raising
            step = 1.0 if self.limit < self.threshold else 1.0 / self.limit
            self.limit = min(float(self.maximum), self.limit + step)

    def backed_off(self, started: float) -> None:
        """A job that started at ``started`` was asked to wait (a rate limit) or met an outage."""
        self._decrease(started, BACKOFF_FACTOR)

    def _decrease(self, started: float, factor: float) -> None:
        if started < self._decreased_at:
            return
        self.limit = max(float(self.minimum), self.limit * factor)
        self.threshold = self.limit
        self._decreased_at = self.clock()
