"""Sentry's alert resources: ``metric_alert`` (one issue per incident) and ``event_alert``.

A metric alert's dedupe key is its incident id, kept apart from issue ids by a prefix. An event
alert belongs to the Sentry issue of its event, so it shares that issue's key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from hub import ExternalLinkDraft, IssueDraft, LabelDraft
from hub import escape_markdown

from hub_sentry.description import code, safe_url
from hub_sentry.payload import PayloadError, id_from_urls, mapping, required_object, required_text, slug_from_urls, text
from hub_sentry.settings import SentrySettings

__all__ = ["ALERT_LABEL", "EventAlert", "MetricAlert", "read_event_alert", "read_metric_alert"]

ALERT_LABEL = LabelDraft("Sentry Alert", "#F55459")
METRIC_PREFIX = "metric_alert:"


@dataclass(frozen=True)
class MetricAlert:
    """A ``metric_alert`` delivery, validated."""

    action: str
    incident_id: str
    rule: str
    title: str
    description: str | None
    projects: tuple[str, ...]
    web_url: str | None
    started: str | None

    @property
    def external_id(self) -> str:
        """The dedupe key: one issue per incident."""
        return METRIC_PREFIX + self.incident_id


def read_metric_alert(payload: Any) -> MetricAlert:
    """Validate a ``metric_alert`` delivery; raise PayloadError naming what is missing."""
    action = required_text(required_object(payload, ""), "action", "action")
    data = required_object(payload, "data")
    alert = required_object(payload, "data.metric_alert")
    incident = required_text(alert, "id", "data.metric_alert.id")
    rule = mapping(alert.get("alert_rule"))
    projects = rule.get("projects") or alert.get("projects") or []
    return MetricAlert(
        action=action,
        incident_id=incident,
        rule=text(rule.get("name")) or text(alert.get("title")) or f"incident {incident}",
        title=text(data.get("description_title")) or text(alert.get("title")) or "",
        description=text(data.get("description_text")),
        projects=tuple(slug for slug in projects if isinstance(slug, str)) if isinstance(projects, list) else (),
        web_url=text(data.get("web_url")),
        started=text(alert.get("date_started")),
    )


def metric_alert_draft(alert: MetricAlert) -> IssueDraft:
    """The issue for a new incident: titled from the alert rule, P1 critical, P2 warning."""
    lines = [f"**Sentry metric alert {alert.action}:** {escape_markdown(alert.rule)}"]
    if alert.title:
        lines.append(f"**Incident:** {escape_markdown(alert.title)}")
    if alert.description:
        lines.append(f"**Condition:** {escape_markdown(alert.description.replace(chr(92) + 'n', ' '))}")
    if alert.projects:
        lines.append(f"**Projects:** {', '.join(code(slug) for slug in alert.projects)}")
    links = [f"- [View in Sentry]({safe_url(alert.web_url)})"] if alert.web_url else []
    links.append(f"- Incident ID: {code(alert.incident_id)}")
    description = "## Alert\n\n" + "\n\n".join(lines) + "\n\n## Links\n\n" + "\n".join(links) + "\n"
    return IssueDraft(
        title=f"[alert] {escape_markdown(alert.rule)}"[:500],
        description=description,
        priority="P1" if alert.action == "critical" else "P2",
        labels=(ALERT_LABEL,),
        link=ExternalLinkDraft(external_id=alert.external_id, external_url=alert.web_url,
                               metadata={"incident": alert.incident_id, "rule": alert.rule,
                                         "projects": list(alert.projects), "status": alert.action}),
        log_name=f"Sentry metric alert {alert.rule} (incident {alert.incident_id})",
    )


@dataclass(frozen=True)
class EventAlert:
    """An ``event_alert`` delivery: an alert rule fired for an event of a Sentry issue."""

    issue_id: str
    event_id: str | None
    rule: str
    event: Mapping[str, Any]
    project_slug: str | None
    #: What was derived from elsewhere in the event (its URLs), for the answer and the log.
    notes: tuple[str, ...] = ()


def read_event_alert(payload: Any) -> EventAlert:
    """Validate an ``event_alert`` delivery; raise PayloadError naming what is missing."""
    data = required_object(payload, "data")
    event = required_object(payload, "data.event")
    notes: list[str] = []
    issue_id = text(event.get("issue_id"))
    if not issue_id or not issue_id.strip():
        # Older Sentry versions name the issue only inside the event's URLs.
        found = id_from_urls(event, ("issue_url", "web_url"))
        if found is None:
            raise PayloadError("data.event.issue_id is missing (and no issue URL names it)")
        issue_id = found[0]
        notes.append(f"data.event.issue_id taken from data.event.{found[1]}")
    if not (text(event.get("title")) or "").strip():
        notes.append("data.event.title missing: derived from the event")
    slug = None
    tags = event.get("tags")
    for tag in tags if isinstance(tags, list) else []:
        if isinstance(tag, list) and len(tag) == 2 and tag[0] == "project_slug" and isinstance(tag[1], str):
            slug = tag[1]
    slug = text(event.get("project_slug")) or slug
    if not slug and (found_slug := slug_from_urls(event, ("url",))):
        slug = found_slug[0]
        notes.append("data.event.project_slug taken from data.event.url")
    return EventAlert(
        issue_id=issue_id.strip(),
        event_id=text(event.get("event_id")),
        rule=text(data.get("triggered_rule")) or "an alert rule",
        event=event,
        project_slug=slug,
        notes=tuple(notes),
    )


def _event_title(event: Mapping[str, Any]) -> str:
    """The event's title, else what Sentry would show for it: metadata, message, the log entry."""
    if (title := text(event.get("title"))) and title.strip():
        return title
    meta = mapping(event.get("metadata"))
    kind, value = text(meta.get("type")), text(meta.get("value"))
    return (text(meta.get("title")) or (f"{kind}: {value}" if kind and value else kind or value)
            or text(event.get("message")) or text(mapping(event.get("logentry")).get("formatted"))
            or f"Sentry event {text(event.get('event_id')) or ''}".strip())


def event_issue_payload(alert: EventAlert) -> dict[str, Any]:
    """The event's fields in the shape of an ``issue`` delivery, so one builder describes both."""
    event = alert.event
    slug = alert.project_slug or "sentry"
    web_url = text(event.get("web_url"))
    return {
        "action": "created",
        "data": {"issue": {
            "id": alert.issue_id,
            "shortId": None,
            "title": _event_title(event),
            "culprit": event.get("culprit"),
            "level": event.get("level"),
            "platform": event.get("platform"),
            "metadata": mapping(event.get("metadata")),
            "project": {"id": text(event.get("project")), "name": alert.project_slug, "slug": slug,
                        "platform": event.get("platform")},
            "firstSeen": event.get("datetime"),
            "lastSeen": event.get("datetime"),
            "permalink": web_url.split("/events/")[0] + "/" if web_url and "/events/" in web_url else web_url,
        }},
    }


def enabled_for(projects: tuple[str, ...] | list[str | None], settings: SentrySettings) -> bool:
    """Whether a delivery naming these projects passes the filters (none named: only if unfiltered)."""
    named = [slug for slug in projects if slug]
    if not named:
        return not settings.projects.filtered
    return any(settings.projects.enabled(slug) for slug in named)
