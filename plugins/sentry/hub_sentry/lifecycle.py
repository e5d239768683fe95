"""What Sentry's later events do to an issue the hub already tracks (``external_update``).

Every comment carries a key made from the event itself, so an identical repeat of a delivery
adds nothing (the host skips a comment whose key the issue already has).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Mapping

from hub import Change, IssueView
from hub import escape_markdown, parse_datetime

from hub_sentry.alerts import EventAlert, MetricAlert
from hub_sentry.description import count_text
from hub_sentry.payload import IssuePayload, mapping, text
from hub_sentry.settings import SentrySettings

__all__ = ["assignee_changes", "event_alert_changes", "issue_changes", "map_assignee", "metric_alert_changes"]

log = logging.getLogger("hub.sentry")


def _actor(payload: Mapping[str, Any]) -> str | None:
    actor = mapping(payload.get("actor"))
    return text(actor.get("name")) or text(actor.get("id"))


def _release(issue: Mapping[str, Any]) -> str | None:
    details = mapping(issue.get("statusDetails"))
    if release := text(details.get("inRelease")):
        return f"in release {release}"
    if details.get("inNextRelease") is True:
        return "in the next release"
    if commit := text(mapping(details.get("inCommit")).get("commit")) or text(details.get("inCommit")):
        return f"in commit {commit}"
    return None


def _state_time(issue: Mapping[str, Any]) -> datetime | None:
    """When Sentry's state for ``issue`` last changed, by Sentry's own clock: its ``lastSeen``.

    A regression is a new event, so its ``lastSeen`` is later than any resolve before it; a
    resolve carries the ``lastSeen`` of the events it resolved. (The webhook's timestamp header
    is not signed; the body is.)
    """
    return parse_datetime(text(issue.get("lastSeen")) or "")


def issue_changes(parsed: IssuePayload, issue: IssueView, settings: SentrySettings) -> list[Change]:
    """Changes for an ``issue`` delivery about a tracked Sentry issue."""
    sentry = parsed.issue
    action, substatus = parsed.action, parsed.substatus
    seen = text(sentry.get("lastSeen")) or ""
    if action == "unresolved" and substatus in ("regressed", "escalating") and settings.comment_on_regression:
        what = "regressed after being marked as resolved" if substatus == "regressed" else "is escalating"
        counts = []
        # Only what reads as a count or a date is shown: the comment is Markdown, the payload is not.
        if (events := count_text(sentry.get("count"))) is not None:
            counts.append(f"{events} events")
        if (users := count_text(sentry.get("userCount"))) is not None:
            counts.append(f"{users} users")
        detail = f" ({', '.join(counts)})" if counts else ""
        last = f"; last seen {escape_markdown(seen)}" if parse_datetime(seen) else ""
        # Always a reopen, even of an open issue (it changes nothing then): its time is what
        # makes an older `resolved`, late or replayed, be ignored.
        changes = [Change("reopen", at=_state_time(sentry))]
        text_ = f"Sentry: this error {what}{detail}{last}."
        return changes + [Change("comment", text=text_, key=f"sentry:{substatus}:{seen}:{sentry.get('count')}")]
    if action == "resolved" and settings.auto_resolve:
        by = _actor(parsed.payload)
        how = " ".join(part for part in (f"by {by}" if by else None, _release(sentry)) if part)
        return [Change("close", at=_state_time(sentry)),
                Change("comment", text=f"Resolved in Sentry{' ' + escape_markdown(how) if how else ''}.",
                                        key=f"sentry:resolved:{seen}:{by}")]
    if action == "assigned" and settings.sync_assignees:
        return assignee_changes(sentry.get("assignedTo"), settings)
    if action in ("ignored", "archived"):
        by = _actor(parsed.payload)
        note = Change("comment", text=f"Archived in Sentry{' by ' + escape_markdown(by) if by else ''}.",
                      key=f"sentry:archived:{seen}:{by}")
        if settings.archived == "close":
            return [Change("close", at=_state_time(sentry)), note]
        if settings.archived == "label":
            return [Change("label", value="Sentry Archived", color="#9E9E9E"), note]
        return [note]
    return []


def map_assignee(assigned: Any, settings: SentrySettings) -> tuple[str | None, str]:
    """(hub agent or None, how Sentry names the assignee) through ``[sentry.assignees]``; never a guess."""
    who = mapping(assigned)
    kind = text(who.get("type")) or "user"
    candidates = [text(who.get("email")), text(who.get("name"))]
    if kind == "team":
        candidates = [f"team:{text(who.get('slug')) or text(who.get('name'))}", *candidates]
    shown = next((candidate for candidate in candidates if candidate), "someone")
    agent = next((settings.assignees[c] for c in candidates if c and c in settings.assignees), None)
    return agent, shown


def assignee_changes(assigned: Any, settings: SentrySettings) -> list[Change]:
    """Changes for Sentry's ``assigned``: the mapped agent, a comment when unmapped, None unassigns."""
    if assigned is None:
        return [Change("assign", value=None)]
    agent, shown = map_assignee(assigned, settings)
    if agent is not None:
        return [Change("assign", value=agent)]
    log.warning("[Sentry Webhook] Assignee %s has no hub agent in [sentry.assignees]; left unassigned", shown)
    return [Change("comment", text=f"Assigned in Sentry to {escape_markdown(shown)}, who has no hub agent in "
                                   f"[sentry.assignees]; the hub issue keeps its assignee.",
                   key=f"sentry:unmapped:{shown}")]


def metric_alert_changes(alert: MetricAlert, issue: IssueView) -> list[Change]:
    """A known incident: a new severity updates priority (and reopens); ``resolved`` closes."""
    if alert.action == "resolved":
        return [Change("close"), Change("comment", text=f"Sentry metric alert resolved: {escape_markdown(alert.rule)}.",
                                        key=f"sentry:alert-resolved:{alert.incident_id}:{alert.title}")]
    if alert.action in ("critical", "warning"):
        changes = [Change("reopen")] if issue.status == "closed" else []
        priority = "P1" if alert.action == "critical" else "P2"
        if priority != issue.priority:
            changes.append(Change("priority", value=priority))
        return changes + [Change("comment", text=f"Sentry metric alert is {alert.action}: {escape_markdown(alert.rule)}.",
                                 key=f"sentry:alert-{alert.action}:{alert.incident_id}:{alert.title}")]
    return []


def event_alert_changes(alert: EventAlert) -> list[Change]:
    """An alert rule fired for an event of a tracked issue: say so once per event and rule."""
    event = f" for event {escape_markdown(alert.event_id)}" if alert.event_id else ""
    return [Change("comment", text=f"Sentry alert rule \"{escape_markdown(alert.rule)}\" fired{event}.",
                   key=f"sentry:event-alert:{alert.event_id}:{alert.rule}")]
