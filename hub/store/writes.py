"""What each write puts in each table, and the transactions that put it there.

Rows are built here from the hub's values (drafts, changes, answers) and the tables' shapes;
drivers (``hub.store.postgres``, ``hub.store.sqlite``) only run them. A transaction is written
once, as a generator that yields each statement it runs (``Exec``) and receives the statement's
result rows: the PostgreSQL driver awaits each one, the SQLite driver runs the whole generator
on its thread in one hop. A new issue is the exception, because it is the hot path: its rows
are a ``GatedInsert`` that PostgreSQL writes as one statement (for one delivery or a batch).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Generator, Iterable, Mapping, Sequence, TypeVar


from hub.delivery import Answer, ReceivedDelivery
from hub.models import new_id
from hub.store.sql import EARLIER_RESPONSE, FIND_LINKED, INSERT_LABEL, LABEL_ID, TAKE_NUMBERS, Statement, Step, \
    advance_link_state, insert, set_issue_columns
from hub.store.tables import COMMENTS, DELIVERIES, EVENTS, ISSUE_LABELS, ISSUES, JOBS, LABELS, LINKS, LinkedIssue, \
    issue_view, link_view, shape, storable
from hub.timeline import event_rows
from hub.types import Change, IssueDraft, IssueView, LabelDraft, LinkView, Sink

__all__ = ["CREATE_STEPS", "Exec", "GatedInsert", "NewIssue", "PUBLISH", "Tx", "apply_changes", "delivery_row",
           "ensure_labels", "find_linked", "labels_named", "new_issue", "publish_jobs", "record", "stored_body",
           "take_numbers", "try_changes"]

#: The job kind that publishes an issue's news to a sink (the job's ``source`` is the sink's name).
PUBLISH = "publish"

T = TypeVar("T")


@dataclass(frozen=True)
class Exec:
    """One statement of a transaction and its parameters (named as ``statement.table``'s columns)."""

    statement: Statement
    params: Mapping[str, Any]


#: A transaction: yields statements, receives each one's rows (dicts, decoded), returns its result.
Tx = Generator[Exec, list[dict[str, Any]], T]

#: A new issue's tables. The link goes first and decides: when the record is linked already (by
#: an earlier delivery, or by a concurrent one a moment ago), UNIQUE(source, external_id) skips
#: it and nothing else of that delivery is written.
CREATE_STEPS = (
    Step(LINKS, on_conflict=("source", "external_id"), returning="issue_id"),
    Step(ISSUES, gate_column="id"),
    Step(ISSUE_LABELS, gate_column="issue_id"),
    Step(JOBS, gate_column="issue_id"),
    Step(DELIVERIES, gate_column="issue_id"),
)


@dataclass(frozen=True)
class GatedInsert:
    """Rows for the tables of ``steps``, per step (a list each), for one delivery."""

    steps: tuple[Step, ...]
    rows: tuple[list[dict[str, Any]], ...]


#: How much of a rejected delivery's body the log keeps: anyone can send one, unsigned.
REJECTED_BODY_CHARS = 4096


def stored_body(body: bytes, rejected: bool) -> str:
    """The delivery's body as the log keeps it: text (undecodable bytes replaced), a rejected one cut."""
    if rejected:
        body = body[: REJECTED_BODY_CHARS * 4]
    text = body.decode("utf-8", errors="replace")
    return text[:REJECTED_BODY_CHARS] if rejected else text


def delivery_row(delivery: ReceivedDelivery, answer: Answer, issue_id: str | None, now: datetime) -> dict[str, Any]:
    """The delivery log's row for ``delivery`` answered with ``answer`` (a rejection's too)."""
    body = answer.body
    rejected = answer.status >= 400
    return shape(DELIVERIES).row({
        # A rejected delivery keeps no request id: a forged one (unsigned) must not make the real
        # delivery with the same id look like a replay.
        "id": new_id(), "source": delivery.source.name, "request_id": None if rejected else delivery.request_id,
        "event": delivery.event, "status": answer.status, "body": stored_body(delivery.body, rejected),
        "outcome": answer.outcome, "reason": body.get("reason") or body.get("message") or body.get("error"),
        "issue_id": issue_id,
        "headers": dict(delivery.stored_headers), "response": body, "changes": answer.changes or None,
        # Only a delivery that changed the issue keeps its body's digest: UNIQUE(source,
        # body_sha256) then rolls back a re-sent body that would change it again (a captured
        # `resolved` replayed after someone reopened the issue). A body that changed nothing
        # may come again and is answered as it was.
        "body_sha256": delivery.body_sha256 if answer.changes else None, "created_at": now,
    })


def publish_jobs(issue_id: str, sinks: Iterable[Sink], changes: Sequence[Mapping[str, Any]] | None,
                 now: datetime) -> list[dict[str, Any]]:
    """The ``publish`` job rows, one per sink, for a new issue (``changes`` None) or for ``changes``
    (``{"kind", "actor", "value"?, "text"?}`` each, as applied).

    The no-echo rule lives here: a change whose actor is a sink's own (``github:octocat`` for the
    sink ``github``) is left out of that sink's job, and a sink left with nothing gets no job.
    """
    rows = []
    for sink in sinks:
        mine = None if changes is None else [change for change in changes if not sink.mirrors(change.get("actor"))]
        if mine is not None and not mine:
            continue
        rows.append(shape(JOBS).row({
            # A new issue's job carries no payload: nothing to encode on the webhook's hot path.
            "kind": PUBLISH, "issue_id": issue_id, "source": sink.name,
            "payload": None if mine is None else {"changes": mine},
            "run_after": now, "created_at": now, "updated_at": now}))
    return rows


@dataclass(frozen=True)
class NewIssue:
    """A new issue's rows, and what it answers."""

    issue: IssueView
    answer: Answer
    insert: GatedInsert


def new_issue(source: str, draft: IssueDraft, number: int, prefix: str, label_ids: Iterable[str],
              job_payload: Any | None, delivery: ReceivedDelivery, answer: Callable[[IssueView], Answer],
              now: datetime, sinks: Iterable[Sink] = ()) -> NewIssue:
    """The rows of an issue made from ``draft`` (numbered ``number``), its link, labels, jobs
    (``enrich`` when ``job_payload`` is not None, ``publish`` per sink) and ``created`` delivery row."""
    issue_id = new_id()
    # Text as it will be stored, so that the view handed back is the issue as read later.
    issue = storable(shape(ISSUES).row({
        "id": issue_id, "number": number, "identifier": f"{prefix}-{number}", "title": draft.title,
        "description": draft.description, "priority": draft.priority, "status": "open",
        "assignee": draft.assignee, "source": source, "created_at": now, "updated_at": now,
    }))
    view = issue_view(issue)
    link = draft.link
    given = answer(view)
    rows = (
        [shape(LINKS).row({"issue_id": issue_id, "source": source, "external_id": link.external_id,
                           "external_url": link.external_url,
                           "metadata": dict(link.metadata) if link.metadata is not None else None,
                           "created_at": now})],
        [issue],
        [{"issue_id": issue_id, "label_id": label_id} for label_id in dict.fromkeys(label_ids)],
        ([] if job_payload is None else [shape(JOBS).row({
            "kind": "enrich", "issue_id": issue_id, "source": source, "payload": job_payload, "run_after": now,
            "created_at": now, "updated_at": now})]) + publish_jobs(issue_id, sinks, None, now),
        [delivery_row(delivery, given, issue_id, now)],
    )
    return NewIssue(view, given, GatedInsert(CREATE_STEPS, rows))


# -- transactions ----------------------------------------------------------------------------

def find_linked(source: str, external_id: str) -> Tx[LinkedIssue | None]:
    """The issue linked to ``(source, external_id)``, or None."""
    rows = yield Exec(FIND_LINKED, {"source": source, "external_id": external_id})
    if not rows:
        return None
    return LinkedIssue(issue=issue_view(rows[0]), link=link_view(rows[0]))


def earlier_response(source: str, request_id: str | None, body_sha256: str | None = None
                     ) -> Tx[dict[str, Any] | None]:
    """The answer given to the delivery of ``source`` with this Request-ID, or this body digest,
    if one was logged."""
    rows = yield Exec(EARLIER_RESPONSE, {"source": source, "request_id": request_id, "body_sha256": body_sha256})
    return rows[0]["response"] if rows else None


INSERT_DELIVERY = insert(DELIVERIES)


def record(row: Mapping[str, Any]) -> Tx[None]:
    """Append ``row`` to the delivery log."""
    yield Exec(INSERT_DELIVERY, row)


def ensure_labels(labels: Iterable[LabelDraft], now: datetime) -> Tx[dict[str, str]]:
    """The ids of ``labels``, each created unless a label of its name exists.

    The one label rule: labels are created (or read) in a transaction of their own, before
    anything uses them, and only ids of committed rows are kept (by the caller, after this
    commits): an id from a transaction that could still roll back must never reach another
    delivery. Two statements, because a name inserted by a concurrent transaction is seen
    only by a statement that starts after it committed (which ON CONFLICT waits for).
    """
    ids: dict[str, str] = {}
    for label in labels:
        if label.name in ids:
            continue
        yield Exec(INSERT_LABEL, shape(LABELS).row({"name": label.name, "color": label.color, "created_at": now}))
        rows = yield Exec(LABEL_ID, {"name": label.name})
        ids[label.name] = rows[0]["id"]
    return ids


def take_numbers(dialect: str, count: int) -> Tx[list[int]]:
    """``count`` new issue numbers (never handed out twice, gaps allowed)."""
    if dialect == "postgresql":
        rows = yield Exec(TAKE_NUMBERS, {"count": count})
        return [row["number"] for row in rows]
    numbers = []
    for _ in range(count):
        rows = yield Exec(TAKE_NUMBERS, {})
        numbers.append(rows[0]["number"])
    return numbers


_SET_CLOSED = set_issue_columns(("status", "closed_at"))
_SET_ASSIGNEE = set_issue_columns(("assignee",))
_SET_PRIORITY = set_issue_columns(("priority",))
_INSERT_COMMENT = insert(COMMENTS, on_conflict=("issue_id", "key"), returning="id")
_INSERT_ISSUE_LABEL = insert(ISSUE_LABELS, on_conflict=("issue_id", "label_id"), returning="issue_id")
_INSERT_EVENT = insert(EVENTS)
_INSERT_JOB = insert(JOBS)


def _describe(change: Change) -> dict[str, Any]:
    return {"kind": change.kind, **({"value": change.value} if change.value else {}),
            **({"text": change.text} if change.text else {})}


def apply_changes(issue: IssueView, changes: Iterable[Change], actor: str, label_ids: Mapping[str, str],
                  now: datetime, sinks: Iterable[Sink] = ()) -> Tx[list[dict[str, Any]]]:
    """Apply ``changes`` to ``issue``; the ones that changed something, described.

    Each change is conditional in the database itself: closing a closed issue, assigning the
    assignee it has or a comment whose key the issue already carries writes nothing and is left
    out of the result, whatever the caller's view of the issue. ``label_ids`` must hold the id
    of every label a change names (``ensure_labels`` first). ``actor`` authors comments (a
    change's own ``actor`` wins). What changed is queued for ``sinks`` in the same transaction
    (the outbox), except to the sink it came from.
    """
    applied: list[dict[str, Any]] = []
    made: list[dict[str, Any]] = []
    for change in changes:
        exec_: Exec | None = None
        if change.kind == "close":
            exec_ = Exec(_SET_CLOSED, {"issue_id": issue.id, "status": "closed", "closed_at": now, "updated_at": now})
        elif change.kind == "reopen":
            exec_ = Exec(_SET_CLOSED, {"issue_id": issue.id, "status": "open", "closed_at": None, "updated_at": now})
        elif change.kind == "assign":
            exec_ = Exec(_SET_ASSIGNEE, {"issue_id": issue.id, "assignee": change.value, "updated_at": now})
        elif change.kind == "priority" and change.value:
            exec_ = Exec(_SET_PRIORITY, {"issue_id": issue.id, "priority": change.value, "updated_at": now})
        elif change.kind == "comment":
            exec_ = Exec(_INSERT_COMMENT, shape(COMMENTS).row({
                "issue_id": issue.id, "author": change.actor or actor, "body": change.text, "key": change.key,
                "created_at": now}))
        elif change.kind == "label" and change.value:
            exec_ = Exec(_INSERT_ISSUE_LABEL, {"issue_id": issue.id, "label_id": label_ids[change.value]})
        if exec_ is None:
            continue
        if (yield exec_):
            applied.append(_describe(change))
            made.append({**applied[-1], "actor": change.actor or actor})
    # The issue's timeline: who changed what (hub.timeline), a microsecond apart to keep the order.
    for index, change in enumerate(made):
        for row in event_rows(issue.id, change["actor"], [change], now + timedelta(microseconds=index)):
            yield Exec(_INSERT_EVENT, row)
    for row in publish_jobs(issue.id, sinks, made, now):
        yield Exec(_INSERT_JOB, row)
    return applied


_ADVANCE_STATE = advance_link_state()
STALE = "older than the last state change applied through its link"


def is_current(link: LinkView | None, changes: list[Change]) -> Tx[bool]:
    """Whether ``changes`` are not older than the link's state; records their time if so.

    Every close or reopen with a time (``Change.at``) advances the link's ``state_at`` only
    forward, in the database itself (concurrent deliveries queue on the row); one that cannot
    makes the whole delivery stale.
    """
    for change in changes:
        if link is None or change.at is None or change.kind not in ("close", "reopen"):
            continue
        rows = yield Exec(_ADVANCE_STATE, {"source": link.source, "external_id": link.external_id,
                                           "state_at": change.at})
        if not rows:
            return False
    return True


def labels_named(changes: Iterable[Change]) -> list[LabelDraft]:
    """The labels ``changes`` add (each must exist before they are applied: ``ensure_labels``)."""
    return [LabelDraft(change.value, change.color) for change in changes if change.kind == "label" and change.value]


def _current_changes(issue: IssueView, changes: list[Change], actor: str, label_ids: Mapping[str, str],
                     now: datetime, link: LinkView | None, sinks: Iterable[Sink]
                     ) -> Tx[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    """``apply_changes`` unless the changes are stale (``is_current``): (applied, ignored), described."""
    if (yield from is_current(link, changes)):
        return (yield from apply_changes(issue, changes, actor, label_ids, now, sinks)), []
    return [], [{**_describe(change), "ignored": STALE} for change in changes]


def try_changes(issue: IssueView, changes: list[Change], actor: str, now: datetime, link: LinkView | None = None,
                sinks: Iterable[Sink] = ()) -> Tx[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    """What ``apply_and_record`` would apply and ignore now: (applied, ignored), described.

    Meant for a transaction that is rolled back (``hub.Store.trial``): it writes as the real one
    does, so every rule (a stale state, a change that changes nothing) answers as it would,
    and makes the labels it names inside itself (no id of a label that was never committed can
    be kept: the transaction never commits).
    """
    label_ids = yield from ensure_labels(labels_named(changes), now)
    return (yield from _current_changes(issue, changes, actor, label_ids, now, link, sinks))


def apply_and_record(issue: IssueView, changes: list[Change], actor: str, label_ids: Mapping[str, str],
                     delivery: ReceivedDelivery | None,
                     answer: Callable[[list[dict[str, Any]], list[dict[str, Any]]], Answer] | None,
                     now: datetime, link: LinkView | None = None, sinks: Iterable[Sink] = ()
                     ) -> Tx[tuple[list[dict[str, Any]], Answer | None]]:
    """``apply_changes`` unless they are stale (``is_current``), then (for a delivery) its row
    in the delivery log answered with ``answer(applied, ignored)``, in one transaction."""
    applied, ignored = yield from _current_changes(issue, changes, actor, label_ids, now, link, sinks)
    given = None
    if delivery is not None and answer is not None:
        given = answer(applied, ignored)
        yield from record(delivery_row(delivery, given, issue.id, now))
    return applied, given

