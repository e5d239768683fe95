"""hub.background: tasks kept until they end, a failure logged by type, settled on any loop."""

from __future__ import annotations

import asyncio
import gc
import logging
import weakref

from hub.background import Background

log = logging.getLogger("hub.test.background")


async def test_a_kept_task_outlives_every_other_reference_and_its_failure_is_logged(caplog):
    kept = Background(log, "A background task failed with %s")
    finished = asyncio.Event()

    async def fail_later() -> None:
        await asyncio.sleep(0.01)
        finished.set()
        raise LookupError("the secret detail stays out of the log")

    kept.keep(asyncio.get_running_loop().create_task(fail_later()))
    assert len(kept) == 1
    await asyncio.wait_for(finished.wait(), 5)
    await kept.settled()
    assert len(kept) == 0
    assert "A background task failed with LookupError" in caplog.text
    assert "secret detail" not in caplog.text


async def test_a_task_nothing_else_references_is_not_collected():
    """A task waiting on a future nobody holds is referenced by nothing but the Background (the
    loop keeps only a weak reference): without it, it would be garbage-collected mid-run."""
    kept = Background(log)

    async def wait_forever() -> None:
        await asyncio.get_running_loop().create_future()

    task = kept.keep(asyncio.get_running_loop().create_task(wait_forever()))
    await asyncio.sleep(0)  # it starts, and now waits on a future only it knows
    ref = weakref.ref(task)
    del task
    gc.collect()
    assert ref() is not None and len(kept) == 1
    ref().cancel()
    await kept.settled()
    assert len(kept) == 0


async def test_settled_waits_for_tasks_kept_meanwhile_and_a_cancelled_one_is_not_a_failure(caplog):
    kept = Background(log, "A background task failed with %s")
    order = []

    async def second() -> None:
        await asyncio.sleep(0.01)
        order.append("second")

    async def first() -> None:
        await asyncio.sleep(0.01)
        kept.keep(asyncio.get_running_loop().create_task(second()))
        order.append("first")

    kept.keep(asyncio.get_running_loop().create_task(first()))
    hanging = kept.keep(asyncio.get_running_loop().create_task(asyncio.sleep(60)))
    hanging.cancel()
    await asyncio.wait_for(kept.settled(), 5)
    assert order == ["first", "second"] and len(kept) == 0
    assert "failed" not in caplog.text
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]  # nothing logged at all
