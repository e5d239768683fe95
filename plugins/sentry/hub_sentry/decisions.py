"""Which Sentry deliveries create issues: the seed's event tables, the project filter, the answers."""

from __future__ import annotations

import logging
from typing import Any, Mapping

from hub import Decision

from hub_sentry.payload import IssuePayload, PayloadError, read_issue_payload
from hub_sentry.settings import SentrySettings

__all__ = ["PREFIX", "decide"]

log = logging.getLogger("hub.sentry")
PREFIX = "[Sentry Webhook]"

#: The seed's "Events That Are Ignored", with Sentry's wire name for archived (ignored).
_IGNORED = {
    "resolved": "error was fixed, no action needed",
    "assigned": "just an assignment change",
    "archived": "issue was intentionally ignored (archived)",
    "ignored": "issue was intentionally ignored (archived)",
}
_CREATING_UNRESOLVED = ("regressed", "escalating")


def _skip(reason: str, action: Any, substatus: Any) -> Decision:
    summary = f"action={action}, substatus={substatus}"
    log.info("%s Skipping: %s", PREFIX, summary)
    return Decision.skip(reason, summary=summary)


def _table_reason(parsed: IssuePayload) -> str | None:
    """Why the seed's event table ignores this delivery, or None when it creates an issue."""
    action, substatus = parsed.action, parsed.substatus
    if action == "created":
        return "action=created, substatus=ongoing: not a new unique error" if substatus == "ongoing" else None
    if action == "unresolved":
        if substatus in _CREATING_UNRESOLVED:
            return None
        return f"action=unresolved, substatus={substatus}: neither a regression nor an escalation"
    if action in _IGNORED:
        return f"action={action}: {_IGNORED[action]}"
    return f"action={action} is not handled"


def decide(headers: Mapping[str, str], payload: Any, settings: SentrySettings) -> Decision:
    """The Decision for one verified delivery: create, skip (with the reason) or reject (malformed)."""
    resource = headers.get("sentry-hook-resource")
    if not resource:
        return Decision.reject("missing Sentry-Hook-Resource header")
    if resource != "issue":
        action = payload.get("action") if isinstance(payload, Mapping) else None
        log.info("%s Skipping: resource=%s, action=%s", PREFIX, resource, action)
        return Decision.skip(f"resource {resource} is not handled", summary=f"resource={resource}, action={action}")
    try:
        parsed = read_issue_payload(payload)
    except PayloadError as error:
        return Decision.reject(str(error))
    summary = f"resource=issue, action={parsed.action}, substatus={parsed.substatus}, issue={parsed.short_id}"
    log.info("%s Received: %s", PREFIX, summary)
    if not settings.projects.enabled(parsed.slug):
        return _skip(f"project {parsed.slug} is not enabled", parsed.action, parsed.substatus)
    reason = _table_reason(parsed)
    if reason is not None:
        return _skip(reason, parsed.action, parsed.substatus)
    return Decision(
        "create",
        external_id=parsed.id,
        response={"sentry": {"id": parsed.id, "shortId": parsed.short_id}},
        summary=summary,
    )
