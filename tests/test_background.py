"""hub.background: tasks kept until they end, a failure logged by type, settled on any loop."""

from __future__ import annotations

import asyncio
import gc
import logging

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
    gc.collect()  # no reference but the Background's: the task must still run to its end
    assert len(kept) == 1
    await asyncio.wait_for(finished.wait(), 5)
    await kept.settled()
    assert len(kept) == 0
    assert "A background task failed with LookupError" in caplog.text
    assert "secret detail" not in caplog.text


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
