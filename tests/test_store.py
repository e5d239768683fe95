"""One store test suite, run against every driver: SQLite, PostgreSQL single-row, PostgreSQL batched.

Each scenario is written once and run three times; the test id names the driver, so a driver
that diverges fails by name. "pg-batched" runs every write and lookup through the array
statements (``always_arrays``), and scenarios about concurrency hold the batcher so that their
deliveries go out in one statement, whatever the timing.
"""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import asynccontextmanager, nullcontext
from typing import Any, AsyncIterator

import psycopg
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings, strategies as st

from hub.config import DatabaseSettings
from hub.db import sync_url
from hub.delivery import ReceivedDelivery, created_answer, duplicate_answer
from hub.store import Store, open_store
from hub.store.writes import STALE
from hub.types import Change, Decision, ExternalLinkDraft, IssueDraft, LabelDraft, Source

INTEGRITY = (sqlite3.IntegrityError, psycopg.IntegrityError)
ECHO = Source("echo", "Echo test source")
DRIVERS = ["sqlite", "pg-single", "pg-batched"]


@pytest.fixture(params=DRIVERS)
def driver_name(request: pytest.FixtureRequest) -> str:
    """The driver a scenario runs on."""
    return request.param


@pytest.fixture
def store_url(driver_name: str, request: pytest.FixtureRequest, tmp_path, sqlite_template) -> str:
    """An empty, migrated database for the driver."""
    if driver_name == "sqlite":
        import shutil

        path = tmp_path / "hub.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    return request.getfixturevalue("pg_database_url")


@asynccontextmanager
async def opened(url: str, driver_name: str) -> AsyncIterator[Store]:
    """A Store on ``url``, in the driver's mode."""
    store = await open_store(DatabaseSettings(url=url))
    if driver_name == "pg-batched":
        store.driver.always_arrays = True
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def store(store_url: str, driver_name: str) -> AsyncIterator[Store]:
    async with opened(store_url, driver_name) as store:
        yield store


def together(store: Store, kind: str = "creates") -> Any:
    """Hold the batcher of ``kind`` on pg-batched and SQLite (one statement, or one transaction,
    for what is started inside)."""
    batcher = getattr(store.driver, kind, None)
    if batcher is not None and (store.dialect == "sqlite" or getattr(store.driver, "always_arrays", False)):
        return batcher.hold()
    return nullcontext()


def by_hand(url: str, sql: str) -> None:
    """A statement run as an operator would, foreign keys enforced (SQLite needs asking)."""
    engine = sa.create_engine(sync_url(url), poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "sqlite":
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            connection.execute(sa.text(sql))
    finally:
        engine.dispose()


def count(url: str, table: str, where: str = "") -> int:
    engine = sa.create_engine(sync_url(url), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            return connection.execute(sa.text(f"SELECT count(*) FROM {table} {where}")).scalar_one()
    finally:
        engine.dispose()


def delivery(request_id: str | None = None, record: str = "r1") -> ReceivedDelivery:
    return ReceivedDelivery(source=ECHO, headers={}, body=b"{}", request_id=request_id,
                            stored_headers={"user-agent": "test"},
                            decision=Decision("create", external_id=record, summary=f"open {record}"))


def draft(record: str = "r1", title: str = "Boom", labels: tuple[str, ...] = ("Echo",), **kw: Any) -> IssueDraft:
    return IssueDraft(title=title, description=kw.pop("description", "It broke"),
                      link=ExternalLinkDraft(record, f"https://example.test/{record}", kw.pop("metadata", {"n": 1})),
                      labels=tuple(LabelDraft(name, "#00AA00") for name in labels), **kw)


async def create(store: Store, record: str = "r1", request_id: str | None = None, payload: Any = None,
                 **kw: Any) -> Any:
    return await store.create_issue("echo", draft(record, **kw), "CHIPP", payload, delivery(request_id, record),
                                    lambda issue: created_answer(issue, {"echo": record}))


async def test_create_writes_every_row_and_reads_back(store, store_url):
    new = await create(store, payload={"id": "r1"})
    assert new is not None and new.issue.identifier.startswith("CHIPP-") and new.answer.outcome == "created"
    linked = await store.find_linked("echo", "r1")
    assert linked.issue == new.issue and linked.issue.source == "echo"
    assert linked.link.external_url == "https://example.test/r1" and linked.link.metadata == {"n": 1}
    assert linked.issue.created_at.tzinfo is not None
    for table in ("chipp_issue", "chipp_external_issue", "chipp_issue_label", "hub_job", "hub_delivery"):
        assert count(store_url, table) == 1, table
    assert await store.earlier_response("echo", "missing") is None


async def test_a_duplicate_writes_nothing_and_burns_no_number(store, store_url):
    first = await create(store, "r1")
    assert await create(store, "r1") is None
    assert count(store_url, "chipp_issue") == 1 and count(store_url, "hub_delivery") == 1
    second = await create(store, "r2")
    assert int(second.issue.identifier.split("-")[1]) == int(first.issue.identifier.split("-")[1]) + 1


async def test_a_duplicate_with_changes_applies_them_once_with_one_delivery_row(store, store_url):
    new = await create(store, "r1")
    issue = new.issue
    changes = [Change("close"), Change("comment", text="Closed upstream", key="close:1"), Change("priority", value="P1"),
               Change("label", value="Regressed", color="#FF0000"), Change("assign", value="ana")]
    applied, answer = await store.apply(issue, changes, "echo", delivery("d2"),
                                        lambda applied, ignored: duplicate_answer(issue, {}, applied, ignored))
    assert [change["kind"] for change in applied] == ["close", "comment", "priority", "label", "assign"]
    assert answer.outcome == "updated" and answer.body["changes"] == applied
    linked = await store.find_linked("echo", "r1")
    assert (linked.issue.status, linked.issue.priority, linked.issue.assignee) == ("closed", "P1", "ana")
    assert linked.issue.closed_at is not None
    assert count(store_url, "hub_delivery", "WHERE outcome = 'updated'") == 1
    assert count(store_url, "chipp_comment", "WHERE author = 'echo'") == 1
    # Everything again, from a stale view of the issue: nothing is true that was not already.
    again, answer = await store.apply(issue, changes, "echo", delivery("d3"),
                                      lambda applied, ignored: duplicate_answer(issue, {}, applied, ignored))
    assert again == [] and answer.outcome == "deduplicated"
    assert count(store_url, "chipp_comment") == 1 and count(store_url, "chipp_issue_label") == 2
    reopened, _ = await store.apply(linked.issue, [Change("reopen")], "echo")
    assert reopened == [{"kind": "reopen"}]
    assert (await store.find_linked("echo", "r1")).issue.closed_at is None


async def test_two_concurrent_creates_of_one_record_make_one_issue(store, store_url):
    async with together(store):
        tasks = [asyncio.create_task(create(store, "same", request_id=f"q{n}")) for n in range(2)]
        await asyncio.sleep(0)
    results = await asyncio.gather(*tasks)
    assert sum(result is not None for result in results) == 1
    assert count(store_url, "chipp_issue") == 1 and count(store_url, "chipp_external_issue") == 1
    assert count(store_url, "hub_delivery") == 1


async def test_a_replayed_request_id_inside_a_batch_fails_alone(store, store_url):
    assert await create(store, "r1", request_id="once") is not None
    async with together(store):
        replay = asyncio.create_task(create(store, "r2", request_id="once"))
        other = asyncio.create_task(create(store, "r3", request_id="fresh"))
        await asyncio.sleep(0)
    with pytest.raises(INTEGRITY):
        await replay
    assert (await other) is not None
    assert count(store_url, "chipp_issue") == 2 and count(store_url, "hub_delivery") == 2
    assert (await store.earlier_response("echo", "once"))["echo"] == "r1"
    if store.dialect == "sqlite" or getattr(store.driver, "always_arrays", False):
        assert store.driver.creates.failed_batches == 1


async def test_lookups_in_flight_together_each_get_their_own(store):
    await create(store, "a")
    await create(store, "b")
    async with together(store, "finds"):
        tasks = [asyncio.create_task(store.find_linked("echo", key)) for key in ("b", "nope", "a")]
        await asyncio.sleep(0)
    b, nope, a = await asyncio.gather(*tasks)
    assert (b.link.external_id, nope, a.link.external_id) == ("b", None, "a")


async def test_a_new_label_created_concurrently_by_two_processes_has_one_id(store, store_url, driver_name):
    async with opened(store_url, driver_name) as other:
        ids = await asyncio.gather(store.ensure_labels([LabelDraft("Fresh")]), other.ensure_labels([LabelDraft("Fresh")]))
    assert ids[0] == ids[1]
    assert count(store_url, "chipp_label", "WHERE name = 'Fresh'") == 1


async def test_a_cached_label_deleted_by_hand_fails_the_write_whole(store, store_url):
    await create(store, "r1")
    by_hand(store_url, "DELETE FROM chipp_label")
    with pytest.raises(INTEGRITY):
        await create(store, "r2")
    assert count(store_url, "chipp_issue") == 1
    store.forget_labels()
    assert await create(store, "r2") is not None


HOSTILE = "nul\x00 lone\ud800 pair\U0001F600 <img src=x onerror=alert(1)> 'quote\" \\ back"


async def test_hostile_text_is_stored_and_read_back_replaced(store, store_url):
    deep: Any = {"leaf": "x\x00"}
    for _ in range(150):
        deep = {"d": [deep]}
    new = await create(store, "r\x00\ud800", title=HOSTILE, description=HOSTILE, assignee=HOSTILE,
                       metadata={"k\x00": HOSTILE}, payload=deep, labels=("L\x00",))
    assert new is not None
    linked = await store.find_linked("echo", "r\x00\ud800")
    expected = HOSTILE.replace("\x00", "\ufffd").replace("\ud800", "\ufffd")
    assert linked.issue.title == expected and linked.issue.assignee == expected
    assert linked.link.metadata == {"k\ufffd": expected}
    assert "\U0001F600" in linked.issue.description


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(st.characters(codec=None, blacklist_categories=()), max_size=40))
async def test_any_text_at_all_is_stored(store, text):
    record = f"gen-{text}"
    new = await create(store, record, title=text or "t", description=text, metadata={text: [text]})
    linked = await store.find_linked("echo", record)
    # (Examples share the database: a text seen before finds its record linked already.)
    assert linked is not None
    if new is not None:
        assert linked.issue == new.issue


async def test_a_stale_recently_linked_hint_finds_nothing_and_the_record_can_be_created_again(store, store_url):
    await create(store, "r1")
    assert ("echo", "r1") in store.recent_links
    by_hand(store_url, "DELETE FROM chipp_issue")
    assert await store.find_linked("echo", "r1") is None
    assert await create(store, "r1") is not None


async def test_an_older_state_never_overwrites_a_newer_one(store, store_url):
    from datetime import datetime, timedelta, timezone

    from hub.types import LinkView

    new = await create(store, "r1")
    link = LinkView("echo", "r1", None, {})
    t1 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    t2 = t1 + timedelta(hours=1)
    reopened, _ = await store.apply(new.issue, [Change("reopen", at=t2), Change("comment", text="regressed", key="r")],
                                    "echo", link=link)
    assert reopened == [{"kind": "comment", "text": "regressed"}]  # open already: only its time is kept
    late, answer = await store.apply(
        new.issue, [Change("close", at=t1), Change("comment", text="resolved", key="c")], "echo", delivery("late"),
        lambda applied, ignored: duplicate_answer(new.issue, {}, applied, ignored), link=link)
    assert late == [] and answer.outcome == "stale" and [c["kind"] for c in answer.body["ignored"]] == ["close", "comment"]
    assert (await store.find_linked("echo", "r1")).issue.status == "open"
    assert count(store_url, "chipp_comment") == 1
    same_time, _ = await store.apply(new.issue, [Change("close", at=t2)], "echo", link=link)
    assert same_time == [{"kind": "close"}]


async def test_a_body_that_changed_the_issue_changes_nothing_when_sent_again(store, store_url):
    new = await create(store, "r1")
    resend = delivery("first")
    resend.body_sha256 = "ab" * 32
    await store.apply(new.issue, [Change("close")], "echo", resend,
                      lambda applied, ignored: duplicate_answer(new.issue, {}, applied, ignored))
    await store.apply(new.issue, [Change("reopen")], "hub")  # a person reopens it
    again = delivery("fresh-request-id")
    again.body_sha256 = resend.body_sha256
    with pytest.raises(INTEGRITY):
        await store.apply(new.issue, [Change("close")], "echo", again,
                          lambda applied, ignored: duplicate_answer(new.issue, {}, applied, ignored))
    assert (await store.find_linked("echo", "r1")).issue.status == "open"
    assert (await store.earlier_response("echo", None, "ab" * 32))["changes"] == [{"kind": "close"}]


async def test_a_record_found_linked_is_remembered_as_linked(store, store_url, driver_name):
    # Created by another process: this one learns it is linked from its first lookup, so that
    # the next delivery of the record goes to the lookup first instead of the create path.
    async with opened(store_url, driver_name) as other:
        await create(other, "elsewhere")
    assert ("echo", "elsewhere") not in store.recent_links
    assert await store.find_linked("echo", "elsewhere") is not None
    assert ("echo", "elsewhere") in store.recent_links


async def test_issue_numbers_come_in_larger_batches_during_a_burst_and_stay_unique(store, store_url, monkeypatch):
    import hub.store.store as store_module

    numbers, clock, taken = store._numbers, [1000.0], []
    # The allocator's clock only (time.monotonic itself stays the event loop's).
    monkeypatch.setattr(store_module, "time", type("Clock", (), {"monotonic": staticmethod(lambda: clock[0])}))

    async def next_batch() -> int:
        """Use up what is held, then take one more (a fetch); the size of that fetch."""
        while numbers._free:
            taken.append(await numbers.take())
        taken.append(await numbers.take())
        return numbers.size

    sizes = [await next_batch()]
    for _ in range(6):  # each batch used up within the second: the next is twice as large
        clock[0] += 0.1
        sizes.append(await next_batch())
    clock[0] += 60  # quiet again: back to the base size (what a restart may leave unused)
    sizes.append(await next_batch())
    base, top = numbers.prefetch, numbers.prefetch * numbers.MAX_GROWTH
    assert sizes == [base, 2 * base, 4 * base, 8 * base, top, top, top, base], sizes
    assert len(taken) == len(set(taken)) and taken == sorted(taken)


async def test_a_trial_says_what_apply_would_do_and_writes_nothing(store, store_url):
    """``Store.trial`` (the dry run's answer for a duplicate): the store's own rules, rolled back."""
    from datetime import datetime, timedelta, timezone

    from hub.types import LinkView

    new = await create(store, "r1")
    link = LinkView("echo", "r1", None, {})
    t1 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    t2 = t1 + timedelta(hours=1)
    await store.apply(new.issue, [Change("close", at=t2)], "echo", link=link)
    tables = ("chipp_issue_label", "chipp_label", "chipp_comment", "chipp_issue_event", "hub_job", "hub_link_state")

    def counts() -> list[int]:
        return [count(store_url, table) for table in tables]

    before = counts()
    # Older than the state applied through the link: all of it would be ignored, as apply does.
    applied, ignored = await store.trial(new.issue, [Change("reopen", at=t1), Change("comment", text="late", key="l")],
                                         "echo", link=link)
    assert applied == [] and [(c["kind"], c["ignored"]) for c in ignored] == [("reopen", STALE), ("comment", STALE)]
    # Closing a closed issue changes nothing; a new label (never made before) and a comment would.
    applied, ignored = await store.trial(
        new.issue, [Change("close", at=t2), Change("label", value="Brand new", color="#123456"),
                    Change("comment", text="again", key="a")], "echo", link=link)
    assert (applied, ignored) == ([{"kind": "label", "value": "Brand new"}, {"kind": "comment", "text": "again"}], [])
    assert counts() == before
    assert (await store.find_linked("echo", "r1")).issue.status == "closed"
    # And apply then does what the trial said.
    done, _ = await store.apply(new.issue, [Change("close", at=t2), Change("label", value="Brand new", color="#123456"),
                                            Change("comment", text="again", key="a")], "echo", link=link)
    assert done == applied
