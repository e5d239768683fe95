"""One webhook delivery through the pipeline: verify, parse, decide, write, answer.

One ``ReceivedDelivery`` is carried from the route to the answer, and each hook is called at
most once for it (hub/hookspecs.py says when). Everything the answer promises is committed
before the answer, by one call of the store (``hub.store``): a new issue with its link, labels,
enrichment job (outbox) and delivery row; or a duplicate's changes with its delivery row.
Slow work (GitHub) happens later in the worker.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
import math
import sqlite3
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Mapping, TypeVar

import msgspec
import psycopg
import sqlalchemy as sa

from hub.delivery import Answer, ReceivedDelivery, created_answer, duplicate_answer, error_answer, skipped_answer, \
    updated_answer
from hub.headers import delivery_id, source_headers
from hub.background import Background
from hub.db import DATABASE_ERRORS
from hub.metrics import observe_delivery
from hub.store import LinkedIssue, storable
from hub.types import Decision, Source

if TYPE_CHECKING:
    from hub.runtime import Hub

__all__ = ["MAX_NESTING", "enrich_payload", "handle_webhook", "parse_payload", "record_rejection", "received"]

T = TypeVar("T")

log = logging.getLogger("hub.webhook")

#: A UNIQUE or FOREIGN KEY violation, from SQLAlchemy or from a driver.
_INTEGRITY_ERRORS = (sa.exc.IntegrityError, psycopg.IntegrityError, sqlite3.IntegrityError)

#: Deeper JSON is refused (400): no sender's real payload comes near it, and every later walk
#: of the value (storing it, dumping it) must stay far from Python's recursion limit.
MAX_NESTING = 200


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"number {text[:24]} is out of range")
    return value


def _nesting(value: Any) -> int:
    # Levels of objects and arrays (a scalar is none), the same count the bracket pre-check makes:
    # a value more than MAX_NESTING levels deep has more than MAX_NESTING brackets.
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            depth += 1
            deepest = max(deepest, depth)
            stack.extend((child, depth) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def parse_payload(body: bytes) -> Any:
    """The JSON value of ``body``; ValueError with a one-line reason when it is none the hub takes.

    Refused: invalid JSON, NaN and Infinity (not JSON, and no database stores them), numbers
    beyond a float's range, nesting deeper than MAX_NESTING.
    """
    try:
        payload = _decode(body)
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
        # The standard library has the last word, and the clear reasons: it takes what msgspec
        # refuses but JSON allows (a lone surrogate such as "\ud800", which Sentry sends for a
        # string cut inside an emoji, escaped or as raw bytes; a byte-order mark) and says why
        # it refuses the rest.
        payload = _parse_strictly(body)
    # Counting brackets is fast; only a body with many is walked.
    if body.count(b"[") + body.count(b"{") > MAX_NESTING and _nesting(payload) > MAX_NESTING:
        raise ValueError(f"invalid JSON: nested deeper than {MAX_NESTING} levels")
    return payload


#: msgspec's decoder: about four times json.loads' speed on a webhook body, and as strict (NaN,
#: Infinity and out-of-range numbers refused). tests/test_fuzz.py holds it to the standard library.
_decode = msgspec.json.Decoder().decode


def _parse_strictly(body: bytes) -> Any:
    try:
        return json.loads(body, parse_constant=_no_constant, parse_float=_finite)
    except RecursionError:
        raise ValueError("invalid JSON: nested too deeply") from None
    except ValueError as exc:
        raise ValueError(f"invalid JSON: {str(exc).splitlines()[0][:200]}") from None


def received(source: Source, headers: Mapping[str, str], body: bytes) -> ReceivedDelivery:
    """The delivery as it arrived: its request id, the headers fit to keep, its body's digest."""
    return ReceivedDelivery(source=source, headers=headers, body=body, request_id=delivery_id(headers, source),
                            stored_headers=source_headers(headers, source),
                            body_sha256=hashlib.sha256(body).hexdigest() if source.unique_bodies else None)


@observe_delivery
async def handle_webhook(hub: "Hub", source: Source, headers: Mapping[str, str], body: bytes, *,
                         verified: bool = False, remember_now: bool = False) -> Answer:
    """Run one delivery through the pipeline and return the answer to send.

    ``verified=True`` skips the signature check (``hub replay`` of a file the operator trusts).
    ``remember_now=True`` writes what the decision asks to remember before returning (no webhook
    budget to keep: ``hub.Pipeline``); otherwise beside the answer. Raises one of DATABASE_ERRORS
    when the database is unreachable.
    """
    delivery = received(source, headers, body)
    hook = hub.pm.hook
    config = hub.settings
    if not verified:
        verdict = hook.verify_webhook(source=source.name, headers=headers, body=body, config=config)
        if verdict is not None and not verdict.ok:
            log.warning("%s Rejected: %s", source.prefix, verdict.reason)
            return await record_rejection(hub, delivery, error_answer(401, "unauthorized",
                                                                      verdict.reason or "invalid signature"))
    try:
        delivery.payload = parse_payload(body)
    except ValueError as exc:
        log.warning("%s Rejected: %s", source.prefix, exc)
        return await record_rejection(hub, delivery, error_answer(400, "rejected", str(exc)))
    decision = hook.accept_webhook(source=source.name, headers=headers, payload=delivery.payload, config=config)
    if decision is None:
        decision = Decision.skip(f"no plugin handles deliveries of source {source.name}")
    # What a plugin took from the payload reaches the answer: text no encoder takes (a lone
    # surrogate) would fail the answer after the delivery was stored.
    decision = _answerable(decision)
    delivery.decision = decision
    if decision.kind == "reject":
        log.warning("%s Rejected: %s", source.prefix, decision.reason)
        return await record_rejection(hub, delivery, error_answer(400, "rejected", decision.reason))
    if decision.kind == "split":
        return await _split(hub, delivery)
    answer = await _write(hub, delivery)
    if decision.remember and remember_now:
        await _remember(hub, delivery)
    elif decision.remember:
        # Not part of what the answer promises: written beside it, never inside the webhook's
        # time budget (a cold connection must not turn a committed delivery into a 503).
        _REMEMBERING.keep(asyncio.get_running_loop().create_task(_remember(hub, delivery)))
    return answer


#: ``Decision.remember`` writes under way (each logs its own failures).
_REMEMBERING = Background(log)


async def _remember(hub: "Hub", delivery: ReceivedDelivery) -> None:
    """Write what the decision asks to remember to the shared cache; best effort (the delivery is
    handled and answered whatever happens here)."""
    for namespace, key, value in delivery.decision.remember:
        try:
            await hub.cache.set(namespace, key, storable(value))
        except Exception as exc:  # best effort: logged, never raised into the loop
            log.warning("%s Not remembered (%s %s): %s", delivery.source.prefix, namespace, key, type(exc).__name__)


async def remembered() -> None:
    """Wait for every ``Decision.remember`` write under way in this process, including those that
    start meanwhile (tests, whose app may run on another event loop)."""
    await _REMEMBERING.settled()


def _answerable(decision: Decision) -> Decision:
    """``decision`` with the text it carries into the answer made storable (and encodable)."""
    fields = {name: storable(getattr(decision, name)) for name in ("reason", "summary", "external_id", "response")}
    if all(value is getattr(decision, name) for name, value in fields.items()):
        return decision  # the common case: nothing to replace, no copy
    return dataclasses.replace(decision, **fields)


async def _split(hub: "Hub", delivery: ReceivedDelivery) -> Answer:
    """A delivery of several records (``Decision.parts``): each part is written as a delivery of its
    own, in order (a row each in the delivery log); the answer lists each part's answer.

    The parts carry no delivery id: a repeat of the whole delivery is made harmless by each
    part's own dedupe, not by a replay lookup.
    """
    answers = []
    for part in delivery.decision.parts:
        if part.kind not in ("create", "update", "skip"):
            part = Decision.skip(f"a part of a delivery cannot be a {part.kind}", summary=part.summary)
        part = _answerable(part)
        one = ReceivedDelivery(source=delivery.source, headers=delivery.headers, body=delivery.body,
                               stored_headers=delivery.stored_headers, payload=delivery.payload, decision=part)
        answers.append(await _write(hub, one))
    body = {"success": True, **delivery.decision.response, "parts": [answer.body for answer in answers]}
    return Answer(200, body, "split", [change for answer in answers for change in answer.changes])


async def record_rejection(hub: "Hub", delivery: ReceivedDelivery, answer: Answer) -> Answer:
    """Log a refused delivery (401, 400, 413, 415) with its reason and a cut body; return ``answer``.

    Best effort: the refusal is the answer whether or not the database takes its row (a
    database outage must not turn a 401 into a 503).
    """
    try:
        await hub.store.record(delivery, answer)
    except DATABASE_ERRORS as exc:
        log.warning("%s Rejected delivery not logged: %s", delivery.source.prefix, type(exc).__name__)
    return answer


async def _write(hub: "Hub", delivery: ReceivedDelivery) -> Answer:
    """The decided delivery's writes; a replayed Request-ID gets the answer it got the first time."""
    return await applied_once(hub, delivery, lambda: _decided(hub, delivery),
                              lambda earlier: Answer(200, earlier, "replayed"))


async def _decided(hub: "Hub", delivery: ReceivedDelivery) -> Answer:
    decision = delivery.decision
    if decision.kind == "skip" or not decision.external_id:
        answer = skipped_answer(decision.reason or "ignored")
        await hub.store.record(delivery, answer)
        return answer
    if decision.kind == "create":
        return await _create(hub, delivery)
    return await _update(hub, delivery)


async def applied_once(hub: "Hub", delivery: ReceivedDelivery, write: Callable[[], Awaitable[T]],
                       replayed: Callable[[dict[str, Any]], T]) -> T:
    """``write()``, the delivery's writes (its delivery row in their transaction), applied once:
    a delivery seen before (its Request-ID, or its body for a source that signs only the body)
    gets ``replayed(the answer logged the first time)``.

    UNIQUE(source, request_id) and UNIQUE(source, body_sha256) roll a replay's transaction back,
    so nothing is looked up on the hot path: only a conflict costs the extra query. A conflict
    that is no replay is a cached label id deleted by hand: the labels are forgotten and the
    write tried once more.
    """
    for attempt in (1, 2):
        try:
            return await write()
        except _INTEGRITY_ERRORS:
            earlier = None
            if delivery.request_id or delivery.body_sha256:
                earlier = await hub.store.earlier_response(delivery.source.name, delivery.request_id,
                                                           delivery.body_sha256)
            if earlier is not None:
                log.info("%s Replayed delivery (Request-ID %s): answering with the earlier outcome, applied once",
                         delivery.source.prefix, delivery.request_id)
                return replayed(earlier)
            if attempt == 2 or not hub.store.label_ids:
                raise
            hub.store.forget_labels()
    raise AssertionError("unreachable")


async def _create(hub: "Hub", delivery: ReceivedDelivery) -> Answer:
    source, decision, store = delivery.source, delivery.decision, hub.store
    key = (source.name, decision.external_id)
    if key in store.recent_links:
        # Seen linked before: most likely a duplicate, which needs no draft.
        linked = await store.find_linked(*key)
        if linked is not None:
            return await _change(hub, delivery, linked, duplicate_answer)
        store.recent_links.discard(key)
    draft = hub.pm.hook.build_issue(source=source.name, payload=delivery.payload, config=hub.settings,
                                    delivery=delivery)
    if draft is None:
        linked = await store.find_linked(*key)
        if linked is not None:
            return await _change(hub, delivery, linked, duplicate_answer)
        return await _skip(hub, delivery, f"no plugin builds issues for source {source.name}")
    job_payload = enrich_payload(hub, draft, delivery.payload)
    new = await store.create_issue(source.name, draft, hub.settings.hub.issue_prefix, job_payload, delivery,
                                   lambda issue: created_answer(issue, decision.response))
    if new is not None:
        log.info("%s Created issue %s from %s", source.prefix, new.issue.identifier,
                 draft.log_name or decision.external_id)
        hub.notify_jobs()
        return new.answer
    # Linked already: before this delivery, or by a concurrent one that won the race (the
    # UNIQUE link decided, nothing of this delivery was written).
    linked = await store.find_linked(*key)
    if linked is None:
        return await _skip(hub, delivery, f"{source.name} {decision.external_id} was linked and unlinked meanwhile")
    return await _change(hub, delivery, linked, duplicate_answer)


def enrich_payload(hub: "Hub", draft: Any, payload: Any) -> Any | None:
    """What a new issue's ``enrich`` job carries (the delivery that made it), or None for no job:
    no enricher is installed, or the draft asks for none (``IssueDraft.enrich``)."""
    return payload if hub.has_enrichers and draft.enrich else None


async def _update(hub: "Hub", delivery: ReceivedDelivery) -> Answer:
    decision = delivery.decision
    linked = await hub.store.find_linked(delivery.source.name, decision.external_id)
    if linked is None:
        return await _skip(hub, delivery, f"no issue is linked to {delivery.source.name} {decision.external_id}")
    return await _change(hub, delivery, linked, updated_answer)


async def _skip(hub: "Hub", delivery: ReceivedDelivery, reason: str) -> Answer:
    answer = skipped_answer(reason)
    await hub.store.record(delivery, answer)
    log.info("%s Skipping: %s", delivery.source.prefix, reason)
    return answer


async def _change(hub: "Hub", delivery: ReceivedDelivery, linked: LinkedIssue,
                  answer_for: Callable[..., Answer]) -> Answer:
    """A delivery for an issue already tracked: ``external_update`` once, then its changes (if
    any) and its delivery row in one transaction."""
    source, decision, issue = delivery.source, delivery.decision, linked.issue
    changes = hub.pm.hook.external_update(source=source.name, payload=delivery.payload, issue=issue,
                                          link=linked.link, config=hub.settings, delivery=delivery) or []
    if changes:
        _, answer = await hub.store.apply(
            issue, changes, source.name, delivery,
            lambda applied, ignored: answer_for(issue, decision.response, applied, ignored), link=linked.link)
    else:
        answer = answer_for(issue, decision.response, [])
        await hub.store.record(delivery, answer, issue.id)
    if answer.outcome == "stale":
        log.warning("%s Ignored for %s: its state is older than the last one applied (%s), arrived late or replayed",
                    source.prefix, issue.identifier, ", ".join(change["kind"] for change in answer.body["ignored"]))
    elif answer.changes:
        log.info("%s Updated issue %s: %s", source.prefix, issue.identifier,
                 ", ".join(change["kind"] for change in answer.changes))
    else:
        log.info("%s Deduplicated: already tracked as %s", source.prefix, issue.identifier)
    return answer
