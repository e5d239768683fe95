"""Group commit on PostgreSQL: deliveries that arrive together are written together, each with its own outcome."""

from __future__ import annotations

import asyncio
import json

import sqlalchemy as sa

from hub.ingest import handle_webhook
from hub.models import Issue
from hub.store.batching import Batcher
from hub.plugins import build_plugin_manager
from hub.runtime import Hub
from support import make_settings

JSON = {"content-type": "application/json"}


class FakeWrites:
    """A statement that records the rows of each call; a single row waits for ``release``."""

    def __init__(self, fail_many: bool = False, fail_one: frozenset[int] = frozenset()) -> None:
        self.release = asyncio.Event()
        self.calls: list[list[int]] = []
        self.fail_many = fail_many
        self.fail_one = fail_one

    async def write(self, rows: list[dict]) -> list[dict | None]:
        self.calls.append([row["n"] for row in rows])
        if len(rows) == 1:
            await self.release.wait()
            if rows[0]["n"] in self.fail_one:
                raise ValueError(f"row {rows[0]['n']} refused")
            return [{"n": rows[0]["n"]}]
        if self.fail_many:
            raise ValueError("one row spoiled the statement")
        return [{"n": row["n"]} if row["n"] % 2 == 0 else None for row in rows]


async def test_deliveries_that_wait_go_out_in_one_statement_each_with_its_row():
    writes = FakeWrites()
    batcher = Batcher(writes.write, max_in_flight=1)
    tasks = [asyncio.create_task(batcher.write({"n": n})) for n in range(6)]
    await asyncio.sleep(0.01)
    assert writes.calls == [[0]]  # the first goes alone, at once; the rest wait for it
    writes.release.set()
    results = await asyncio.gather(*tasks)
    assert writes.calls == [[0], [1, 2, 3, 4, 5]]
    assert results == [{"n": 0}, None, {"n": 2}, None, {"n": 4}, None]
    assert (batcher.batches, batcher.batched, batcher.in_flight) == (1, 5, 0)


async def test_with_patience_a_second_statement_starts_only_beside_a_slow_one():
    writes = FakeWrites()
    batcher = Batcher(writes.write, max_in_flight=2, patience=1.0)
    first = asyncio.create_task(batcher.write({"n": 0}))
    await asyncio.sleep(0.05)
    waiting = [asyncio.create_task(batcher.write({"n": n})) for n in (1, 2)]
    await asyncio.sleep(0.05)
    # A slot is free, but the running statement is young: the others wait to go out together.
    assert writes.calls == [[0]] and batcher.in_flight == 1
    for _ in range(100):  # the running one passes its patience (1 s): the queue goes out beside it
        if len(writes.calls) == 2:
            break
        await asyncio.sleep(0.05)
    assert writes.calls == [[0], [1, 2]]  # (answered at once: only a lone row waits for release)
    writes.release.set()
    assert await asyncio.gather(first, *waiting) == [{"n": 0}, None, {"n": 2}]
    assert batcher.in_flight == 0


async def test_with_patience_a_fast_statement_takes_the_queue_when_it_ends():
    writes = FakeWrites()
    batcher = Batcher(writes.write, max_in_flight=2, patience=30.0)
    tasks = [asyncio.create_task(batcher.write({"n": n})) for n in range(5)]
    await asyncio.sleep(0.05)
    assert writes.calls == [[0]]
    writes.release.set()
    assert await asyncio.gather(*tasks) == [{"n": 0}, None, {"n": 2}, None, {"n": 4}]
    assert writes.calls == [[0], [1, 2, 3, 4]]


async def test_a_failed_batch_is_written_again_one_by_one_with_each_outcome():
    writes = FakeWrites(fail_many=True, fail_one=frozenset({3}))
    batcher = Batcher(writes.write, max_in_flight=1)
    tasks = [asyncio.create_task(batcher.write({"n": n})) for n in range(4)]
    await asyncio.sleep(0.01)
    writes.release.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert results[:3] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert isinstance(results[3], ValueError)
    assert sorted(map(tuple, writes.calls)) == [(0,), (1,), (1, 2, 3), (2,), (3,)]


async def test_a_write_every_caller_gave_up_on_is_stopped_before_it_is_done():
    writes = FakeWrites()
    batcher = Batcher(writes.write, max_in_flight=1)
    caller = asyncio.create_task(batcher.write({"n": 7}))
    await asyncio.sleep(0.01)
    assert writes.calls == [[7]]  # started, waiting (as on a connection during a partition)
    caller.cancel()  # the delivery was answered 503 past its budget
    await asyncio.sleep(0.01)
    assert batcher.in_flight == 0 and not batcher.tasks
    queued = asyncio.create_task(batcher.write({"n": 8}))
    writes.release.set()
    assert await queued == {"n": 8}


def body(**payload) -> bytes:
    return json.dumps(payload).encode()


async def test_a_burst_is_batched_and_every_delivery_keeps_its_own_outcome(pg_database_url, echo_installed):
    # The Hub itself on the test's event loop (the test client serves the app from a loop of
    # its own, where requests would not be in flight together).
    pm = build_plugin_manager()
    async with Hub.running(make_settings(pg_database_url, pm=pm), pm, start_worker=False, migrate=False) as hub:
        source = hub.sources["echo"]
        # The label exists before the burst, as on any hub that has created an issue.
        await handle_webhook(hub, source, {**JSON, "request-id": "first"}, body(id="first", action="open"))
        # 24 new records and 6 deliveries of one more record, in flight together: the pipeline
        # itself (no HTTP client in between) so that they really are.
        deliveries = [(f"b{n}", f"req-b{n}") for n in range(24)] + [("same", f"req-same-{n}") for n in range(6)]
        answers = await asyncio.gather(*[
            handle_webhook(hub, source, {**JSON, "request-id": request_id}, body(id=record, action="open"))
            for record, request_id in deliveries
        ])
        assert [answer.status for answer in answers] == [200] * len(deliveries)
        assert hub.store.driver.creates.batches > 0, "the burst never formed a batch"
        assert len({answer.body["issue"]["identifier"] for answer in answers}) == 25  # one issue per record
        same = [answer for answer, (record, _) in zip(answers, deliveries) if record == "same"]
        assert [answer.outcome for answer in same].count("created") == 1

        # A second burst with three replayed Request-IDs in it: the batch fails on them and every
        # delivery is written again alone; the replays get their earlier answers.
        again = [(f"c{n}", f"req-c{n}") for n in range(10)] + deliveries[:3]
        replies = await asyncio.gather(*[
            handle_webhook(hub, source, {**JSON, "request-id": request_id}, body(id=record, action="open"))
            for record, request_id in again
        ])
        assert [reply.body for reply in replies[10:]] == [answer.body for answer in answers[:3]]
        assert [reply.outcome for reply in replies[10:]] == ["replayed"] * 3
        assert [reply.outcome for reply in replies[:10]] == ["created"] * 10
        async with hub.engine.connect() as connection:
            numbers = (await connection.execute(sa.select(Issue.__table__.c.number))).scalars().all()
        # 1 + 25 + 10 issues, no number twice (the failed batch burned numbers: gaps are allowed)
        assert len(numbers) == 36 and len(set(numbers)) == 36
