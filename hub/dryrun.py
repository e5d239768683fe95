"""What the hub would do with a delivery, with nothing written: ``hub replay --dry-run`` and the
console's dry run.

It walks the pipeline's decisions (hub.ingest) with the current config and plugins: parse,
``accept_webhook``, the dedupe lookup, then ``build_issue`` or ``external_update``, and stops
before the store's first write; a duplicate's changes are applied in a transaction that is rolled
back (``Store.trial``), so a stale or empty change is reported as the real delivery would find it.
The signature is not checked (the delivery log never keeps it).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any, Mapping

from hub.ingest import parse_payload, received

if TYPE_CHECKING:
    from hub.runtime import Hub
    from hub.types import Source

__all__ = ["dry_run"]


async def dry_run(hub: "Hub", source: "Source", headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
    """``{"outcome": created|deduplicated|updated|skipped|rejected, "reason"?, "issue"?, "changes"?,
    "ignored"?}``: what a delivery of ``body`` would do now. Reads the database (the dedupe
    lookup) and tries a duplicate's changes in a transaction it rolls back; never writes."""
    hook, config = hub.pm.hook, hub.settings
    result: dict[str, Any] = {"source": source.name, "written": False}
    delivery = received(source, headers, body)
    try:
        payload = delivery.payload = parse_payload(body)
    except ValueError as exc:
        return {**result, "outcome": "rejected", "reason": str(exc)}
    decision = delivery.decision = hook.accept_webhook(source=source.name, headers=headers, payload=payload,
                                                       config=config)
    if decision is None:
        return {**result, "outcome": "skipped", "reason": f"no plugin handles deliveries of source {source.name}"}
    if decision.kind == "reject":
        return {**result, "outcome": "rejected", "reason": decision.reason}
    if decision.kind == "skip" or not decision.external_id:
        return {**result, "outcome": "skipped", "reason": decision.reason or "ignored"}
    result["event"] = decision.summary
    linked = await hub.store.find_linked(source.name, decision.external_id)
    if linked is None:
        if decision.kind == "update":
            return {**result, "outcome": "skipped",
                    "reason": f"no issue is linked to {source.name} {decision.external_id}"}
        draft = hook.build_issue(source=source.name, payload=payload, config=config, delivery=delivery)
        if draft is None:
            return {**result, "outcome": "skipped", "reason": f"no plugin builds issues for source {source.name}"}
        return {**result, "outcome": "created", "issue": {
            "title": draft.title, "description": draft.description, "priority": draft.priority,
            "assignee": draft.assignee, "labels": [label.name for label in draft.labels],
            "link": asdict(draft.link)}}
    changes = hook.external_update(source=source.name, payload=payload, issue=linked.issue, link=linked.link,
                                   config=config, delivery=delivery) or []
    # Applied in a transaction that is rolled back: what would change, and what would be ignored
    # (a state older than the link's last, a close of a closed issue), by the store's own rules.
    applied, ignored = await hub.store.trial(linked.issue, changes, source.name, link=linked.link) if changes else ([], [])
    return {**result, "outcome": "updated" if applied else "deduplicated",
            "reason": f"already tracked as {linked.issue.identifier}",
            "issue": {"identifier": linked.issue.identifier, "title": linked.issue.title},
            "changes": applied, **({"ignored": ignored} if ignored else {})}
