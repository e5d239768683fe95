"""One webhook delivery through the pipeline: verify, parse, accept, write, answer.

Everything the answer promises is committed before the answer: the issue, its link, its labels,
its enrichment job (outbox) and the delivery record share one transaction. Slow work (GitHub)
happens later in the worker.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

import psycopg
import sqlalchemy as sa

from hub import store
from hub.ingest_store import Created, created_response, dedupe_response
from hub.types import Decision, Source

if TYPE_CHECKING:
    from hub.runtime import Hub

__all__ = ["Answer", "DATABASE_ERRORS", "handle_webhook", "safe_headers"]

log = logging.getLogger("hub.webhook")

#: Errors that mean "the database is not reachable right now": answered 503, not 500.
DATABASE_ERRORS = (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError, psycopg.OperationalError,
                   psycopg.InterfaceError, sqlite3.OperationalError, ConnectionError, TimeoutError)
#: A UNIQUE or FOREIGN KEY violation, from SQLAlchemy or from a driver on a hot path.
_INTEGRITY_ERRORS = (sa.exc.IntegrityError, psycopg.IntegrityError, sqlite3.IntegrityError)

_UNSAFE_HEADER_WORDS = ("signature", "authorization", "cookie", "token", "secret", "api-key")
_REQUEST_ID_HEADERS = ("request-id", "x-request-id", "x-github-delivery")


@dataclass(frozen=True)
class Answer:
    """The HTTP answer to a delivery: status code and JSON body."""

    status: int
    body: dict[str, Any]
    outcome: str
    changes: list[dict[str, Any]] = field(default_factory=list)


def safe_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers fit for the delivery log: signatures, credentials and cookies left out."""
    return {
        name: value
        for name, value in headers.items()
        if not any(word in name.lower() for word in _UNSAFE_HEADER_WORDS)
    }


def _error(status: int, outcome: str, message: str) -> Answer:
    return Answer(status, {"success": False, "error": message}, outcome)


async def handle_webhook(
    hub: "Hub", source: Source, headers: Mapping[str, str], body: bytes, *, verified: bool = False,
    retried: bool = False,
) -> Answer:
    """Run one delivery through the pipeline and return the answer to send.

    ``verified=True`` skips the signature check (``hub replay`` of a file the operator trusts).
    Raises one of DATABASE_ERRORS when the database is unreachable.
    """
    hook = hub.pm.hook
    config = hub.settings
    if not verified:
        verdict = hook.verify_webhook(source=source.name, headers=headers, body=body, config=config)
        if verdict is not None and not verdict.ok:
            log.warning("%s Rejected: %s", source.prefix, verdict.reason)
            return _error(401, "unauthorized", verdict.reason or "invalid signature")
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as exc:
        reason = f"invalid JSON: {exc}" if isinstance(exc, ValueError) else "invalid JSON: nested too deeply"
        log.warning("%s Rejected: %s", source.prefix, reason)
        return _error(400, "rejected", reason)
    decision = hook.accept_webhook(source=source.name, headers=headers, payload=payload, config=config)
    if decision is None:
        decision = Decision.skip(f"no plugin handles deliveries of source {source.name}")
    if decision.kind == "reject":
        log.warning("%s Rejected: %s", source.prefix, decision.reason)
        return _error(400, "rejected", decision.reason)
    request_id = next((headers[name] for name in _REQUEST_ID_HEADERS if headers.get(name)), None)
    delivery = {"source": source.name, "request_id": request_id, "event": decision.summary,
                "headers": safe_headers(headers)}
    try:
        if decision.kind == "skip" or not decision.external_id:
            answer = Answer(200, {"success": True, "skipped": True, "reason": decision.reason or "ignored"},
                            "skipped")
            await hub.ingest.record(delivery, answer.outcome, None, answer.body)
            return answer
        if decision.kind == "create":
            return await _create(hub, source, payload, body, decision, delivery)
        return await _update(hub, source, payload, decision, delivery)
    except _INTEGRITY_ERRORS:
        # The delivery row shares the transaction of everything the delivery changed, and
        # UNIQUE(source, request_id) makes a replayed Request-ID roll all of it back. Nothing is
        # looked up on the hot path: only a conflict costs the extra query.
        earlier = await _earlier_answer(hub, source.name, request_id)
        if earlier is not None:
            log.info("%s Replayed Request-ID %s: answering with the earlier outcome", source.prefix, request_id)
            return earlier
        if not hub.label_ids or retried:
            raise
        # A label id cached by this process no longer exists (deleted by hand): forget them all.
        hub.label_ids.clear()
        return await handle_webhook(hub, source, headers, body, verified=True, retried=True)


async def _earlier_answer(hub: "Hub", source: str, request_id: str | None) -> Answer | None:
    if not request_id:
        return None
    async with hub.engine.connect() as connection:
        row = (await connection.execute(
            sa.select(store.DELIVERIES.c.response)
            .where(store.DELIVERIES.c.source == source, store.DELIVERIES.c.request_id == store.storable(request_id))
        )).first()
    return None if row is None else Answer(200, row.response, "replayed")


async def _record(connection: Any, delivery: dict[str, Any], answer: Answer, issue_id: str | None,
                  replaces: str | None = None) -> None:
    reason = answer.body.get("reason") or answer.body.get("message")
    if replaces is not None:
        await store.replace_delivery(connection, replaces, outcome=answer.outcome, reason=reason, issue_id=issue_id,
                                     response=answer.body, changes=answer.changes)
        return
    await store.record_delivery(connection, **delivery, outcome=answer.outcome, reason=reason, issue_id=issue_id,
                                response=answer.body, changes=answer.changes)


async def _create(hub: "Hub", source: Source, payload: Any, body: bytes, decision: Decision,
                  delivery: dict[str, Any]) -> Answer:
    # One call looks up the record and either creates the issue or logs the duplicate; the
    # UNIQUE link still decides every race: ``create`` writes nothing for the loser, which is
    # then answered with the winner's issue.
    key = (source.name, decision.external_id)
    if key in hub.recent_links:
        # Seen linked before: a duplicate, most likely. Its write needs no draft.
        created = await hub.ingest.log_duplicate(source.name, decision.external_id, delivery, decision.response)
        if created is not None:
            return await _dedupe(hub, source, payload, decision, delivery, created)
        hub.recent_links.discard(key)
    draft = hub.pm.hook.build_issue(source=source.name, payload=payload, config=hub.settings)
    if draft is None:
        linked = await hub.ingest.find_linked(source.name, decision.external_id)
        if linked is not None:
            return await _update(hub, source, payload, decision, delivery, dedupe=True)
        answer = Answer(200, {"success": True, "skipped": True,
                              "reason": f"no plugin builds issues for source {source.name}"}, "skipped")
        await hub.ingest.record(delivery, answer.outcome, None, answer.body)
        return answer
    job_payload = None
    if hub.has_enrichers:
        # JSON can carry NUL only as the escape \u0000: without it in the body, the payload has
        # none and need not be walked (store.storable) before it is stored.
        job_payload = payload if b"\\u0000" not in body else store.storable(payload)
    created = await hub.ingest.create(source.name, draft, hub.settings.hub.issue_prefix, hub.label_ids,
                                      job_payload, delivery, decision.response)
    if created is None:
        log.info("%s Lost the race for %s: answering with the winner's issue", source.prefix, decision.external_id)
        return await _update(hub, source, payload, decision, delivery, dedupe=True)
    hub.recent_links.add(key)
    if created.linked is not None:
        return await _dedupe(hub, source, payload, decision, delivery, created)
    issue = created.issue
    log.info("%s Created issue %s from %s", source.prefix, issue.identifier, draft.log_name or decision.external_id)
    hub.notify_jobs()
    return Answer(200, created_response(issue, decision.response), "created")


async def _dedupe(hub: "Hub", source: Source, payload: Any, decision: Decision, delivery: dict[str, Any],
                  created: Created) -> Answer:
    """A delivery for an issue already tracked, its ``deduplicated`` row already logged."""
    linked = created.linked
    changes = hub.pm.hook.external_update(
        source=source.name, payload=payload, issue=linked.issue, link=linked.link, config=hub.settings
    )
    if changes:
        # Changes are applied in one transaction that reads the issue again (it may have moved
        # since) and rewrites the logged row with what was applied. Should that transaction
        # fail, the sender gets a 503 and the row keeps saying "deduplicated".
        return await _update(hub, source, payload, decision, delivery, dedupe=True, replaces=created.delivery_id)
    answer = Answer(200, dedupe_response(linked.issue, decision.response), "deduplicated")
    _log_update(source, answer)
    return answer


async def _update(
    hub: "Hub", source: Source, payload: Any, decision: Decision, delivery: dict[str, Any], dedupe: bool = False,
    replaces: str | None = None,
) -> Answer:
    """Apply ``external_update`` to the linked issue; skipped with a reason when nothing is linked.

    ``replaces``: the id of this delivery's log row, already written, to rewrite instead of
    appending a second one.
    """
    async with hub.engine.begin() as connection:
        linked = await store.find_linked_issue(connection, source.name, decision.external_id)
        if linked is None:
            reason = f"no issue is linked to {source.name} {decision.external_id}"
            answer = Answer(200, {"success": True, "skipped": True, "reason": reason}, "skipped")
            await _record(connection, delivery, answer, None, replaces)
            log.info("%s Skipping: %s", source.prefix, reason)
            return answer
        answer = await _apply_update(hub, connection, source, payload, decision, delivery, linked, dedupe, replaces)
    _log_update(source, answer)
    return answer


async def _apply_update(hub: "Hub", connection: Any, source: Source, payload: Any, decision: Decision,
                        delivery: dict[str, Any], linked: store.LinkedIssue, dedupe: bool,
                        replaces: str | None = None) -> Answer:
    """``external_update``'s changes and the delivery record, inside the caller's transaction."""
    issue = linked.issue
    changes = hub.pm.hook.external_update(
        source=source.name, payload=payload, issue=issue, link=linked.link, config=hub.settings
    ) or []
    applied = await store.apply_changes(connection, issue, changes, author=source.name, label_ids=hub.label_ids)
    if dedupe:
        body = dedupe_response(issue, decision.response)
    else:
        body = {"success": True, "updated": True, "issue": {"id": issue.id, "identifier": issue.identifier},
                **decision.response}
    if applied:
        body["changes"] = applied
    answer = Answer(200, body, "updated" if applied else "deduplicated", applied)
    await _record(connection, delivery, answer, issue.id, replaces)
    return answer


def _log_update(source: Source, answer: Answer) -> None:
    identifier = answer.body["issue"]["identifier"]
    if answer.changes:
        log.info("%s Updated issue %s: %s", source.prefix, identifier,
                 ", ".join(change["kind"] for change in answer.changes))
    else:
        log.info("%s Deduplicated: already tracked as %s", source.prefix, identifier)
