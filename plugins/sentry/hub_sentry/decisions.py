"""Which Sentry deliveries create or change issues: the seed's event tables, the lifecycle sync,
alerts, and the project filter."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from hub import Decision
from hub import clean_text

from hub_sentry.alerts import EventAlert, MetricAlert, enabled_for, read_event_alert, read_metric_alert
from hub_sentry.payload import RESOURCE_KEYS, IssuePayload, PayloadError, read_issue_payload, resource_of
from hub_sentry.settings import SentrySettings

__all__ = ["PREFIX", "decide"]

log = logging.getLogger("hub.sentry")
PREFIX = "[Sentry Webhook]"

#: Why each ignorable action is ignored (the seed's table), when the lifecycle sync is off for it.
_IGNORED = {
    "resolved": "error was fixed, no action needed",
    "assigned": "just an assignment change",
    "archived": "issue was intentionally ignored (archived)",
    "ignored": "issue was intentionally ignored (archived)",
}
_CREATING_UNRESOLVED = ("regressed", "escalating")


def shown(value: str | None) -> str | None:
    """A payload's text fit for the JSON answer: lone surrogates (which no encoder can write) and
    control characters replaced, at most 200 characters. The stored value keeps what was sent."""
    return None if value is None else clean_text(value)[:200]


def _skip(reason: str, action: Any, substatus: Any) -> Decision:
    summary = f"action={action}, substatus={substatus}"
    log.info("%s Skipping: %s", PREFIX, summary)
    return Decision.skip(reason, summary=summary)


def _updates(action: str, settings: SentrySettings) -> bool:
    """Whether a non-creating action changes a tracked issue (config switches)."""
    return {
        "resolved": settings.auto_resolve,
        "assigned": settings.sync_assignees,
        "ignored": True,
        "archived": True,
    }.get(action, False)


def _own_change(parsed: IssuePayload, settings: SentrySettings) -> bool:
    """Whether the delivery reports what the hub itself did through the integration's token.

    Sentry names an integration's change with the actor ``{"type": "application", "id": <the app's
    uuid>}`` (``AppPlatformEvent.get_actor``; its own automatic changes use the id ``sentry``).
    Only with ``sync_back`` does the hub change Sentry issues, so only then is it the hub's own.
    """
    actor = parsed.payload.get("actor")
    actor = actor if isinstance(actor, Mapping) else {}
    return settings.sync_back and actor.get("type") == "application" and actor.get("id") not in (None, "", "sentry")


def _issue_decision(parsed: IssuePayload, settings: SentrySettings) -> Decision:
    action, substatus = parsed.action, parsed.substatus
    summary = f"resource=issue, action={action}, substatus={substatus}, issue={parsed.short_id}"
    response: dict = {"sentry": {"id": shown(parsed.id), "shortId": shown(parsed.short_id)}}
    if parsed.notes:
        response["sentry"]["notes"] = list(parsed.notes)
    creates = (action == "created" and substatus != "ongoing") or (
        action == "unresolved" and substatus in _CREATING_UNRESOLVED)
    if not creates and _own_change(parsed, settings):
        return _skip(f"action={action} was made by this integration (the hub's own change sent back to Sentry): "
                     f"not applied again", action, substatus)
    if creates:
        return Decision("create", external_id=parsed.id, response=response, summary=summary)
    if _updates(action, settings):
        return Decision("update", external_id=parsed.id, response=response, summary=summary)
    if action == "created":
        return _skip("action=created, substatus=ongoing: not a new unique error", action, substatus)
    if action == "unresolved":
        return _skip(f"action=unresolved, substatus={substatus}: neither a regression nor an escalation",
                     action, substatus)
    if action in _IGNORED:
        return _skip(f"action={action}: {_IGNORED[action]}", action, substatus)
    return _skip(f"action={action} is not handled", action, substatus)


def _metric_alert_decision(alert: MetricAlert, settings: SentrySettings) -> Decision:
    summary = f"resource=metric_alert, action={alert.action}, incident={alert.incident_id}"
    log.debug("%s Received: %s", PREFIX, summary)
    if not enabled_for(alert.projects, settings):
        return _skip(f"project {', '.join(alert.projects) or '(none named)'} is not enabled", alert.action, None)
    response = {"sentry": {"incident": shown(alert.incident_id), "rule": shown(alert.rule)}}
    if alert.action in ("critical", "warning"):
        return Decision("create", external_id=alert.external_id, response=response, summary=summary)
    if alert.action == "resolved":
        return Decision("update", external_id=alert.external_id, response=response, summary=summary)
    return _skip(f"metric_alert action={alert.action} is not handled", alert.action, None)


def _event_alert_decision(alert: EventAlert, action: Any, settings: SentrySettings) -> Decision:
    summary = f"resource=event_alert, action={action}, issue={alert.issue_id}, rule={alert.rule}"
    log.debug("%s Received: %s", PREFIX, summary)
    if action != "triggered":
        return _skip(f"event_alert action={action} is not handled", action, None)
    if not enabled_for([alert.project_slug], settings):
        return _skip(f"project {alert.project_slug or '(not named in the event)'} is not enabled", action, None)
    response: dict = {"sentry": {"id": shown(alert.issue_id)}}
    if alert.notes:
        response["sentry"]["notes"] = list(alert.notes)
    return Decision("create", external_id=alert.issue_id, response=response, summary=summary)


def _check_shape(resource: str, payload: Any) -> None:
    """Refuse a body that carries another resource's object too: later hooks judge by shape alone."""
    shape = resource_of(payload)
    if shape != resource:
        raise PayloadError(f"Sentry-Hook-Resource is {resource} but the body carries data.{RESOURCE_KEYS[shape]}")


def decide(headers: Mapping[str, str], payload: Any, settings: SentrySettings) -> Decision:
    """The Decision for one verified delivery: create, update, skip (with the reason) or reject."""
    decision = _decide(headers, payload, settings)
    # A reason quotes the payload (``action=...``): it goes into the JSON answer, so it must encode.
    return replace(decision, reason=shown(decision.reason) or "") if decision.reason else decision


def _decide(headers: Mapping[str, str], payload: Any, settings: SentrySettings) -> Decision:
    resource = headers.get("sentry-hook-resource")
    if not resource:
        return Decision.reject("missing Sentry-Hook-Resource header")
    try:
        if resource == "metric_alert" and settings.metric_alerts:
            alert = read_metric_alert(payload)
            _check_shape(resource, payload)
            # What was read rides on the decision: build_issue and external_update get it back.
            return replace(_metric_alert_decision(alert, settings), parsed=alert)
        if resource == "event_alert" and settings.event_alerts:
            event_alert = read_event_alert(payload)
            _check_shape(resource, payload)
            return replace(_event_alert_decision(event_alert, payload.get("action"), settings), parsed=event_alert)
        if resource != "issue":
            action = payload.get("action") if isinstance(payload, Mapping) else None
            log.info("%s Skipping: resource=%s, action=%s", PREFIX, resource, action)
            return Decision.skip(f"resource {resource} is not handled", summary=f"resource={resource}, action={action}")
        parsed = read_issue_payload(payload)
        _check_shape(resource, payload)
    except PayloadError as error:
        return Decision.reject(str(error))
    # Every outcome has its own INFO line from the host (Created, Deduplicated, Updated, Skipping,
    # Rejected): what arrived is verbose logging ([hub] log_level = "DEBUG"), as the seed has it,
    # unless the payload's shape needed notes, which say Sentry's payloads drifted.
    log.log(logging.INFO if parsed.notes else logging.DEBUG, "%s Received: resource=issue, action=%s, substatus=%s, issue=%s%s",
            PREFIX, parsed.action, parsed.substatus, parsed.short_id,
            f" ({'; '.join(parsed.notes)})" if parsed.notes else "")
    if not settings.projects.enabled(parsed.slug):
        return _skip(f"project {parsed.slug} is not enabled", parsed.action, parsed.substatus)
    return replace(_issue_decision(parsed, settings), parsed=parsed)
