"""From one alert to the hub's IssueDraft, and the comments its later notifications add."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote
from zoneinfo import ZoneInfo

from hub import ExternalLinkDraft, IssueDraft, LabelDraft, clean_text, code_span, escape_markdown, format_datetime, \
    safe_url

from hub_alertmanager.payload import Alert, Notification
from hub_alertmanager.settings import AlertmanagerSettings

__all__ = ["LABEL", "build_draft", "silence_url", "title_of", "when"]

LABEL = LabelDraft(name="alertmanager", color="#e6522c")
_MAX_TITLE = 200


def title_of(alert: Alert) -> str:
    """``[alertname] summary`` on one line (the description annotation when there is no summary)."""
    summary = alert.annotations.get("summary") or alert.annotations.get("description") or ""
    title = clean_text(f"[{alert.name}] {summary}".strip())
    return title if len(title) <= _MAX_TITLE else title[: _MAX_TITLE - 1] + "…"


def silence_url(notification: Notification, alert: Alert) -> str | None:
    """Alertmanager's own page for a new silence matching exactly this alert's labels."""
    base = notification.external_url.rstrip("/")
    if not base.startswith(("http://", "https://")):
        return None
    matchers = ",".join(f'{name}="{value}"' for name, value in sorted(alert.labels.items()))
    return f"{base}/#/silences/new?filter={quote('{' + matchers + '}', safe='')}"


def when(moment: datetime | None, tz: ZoneInfo) -> str:
    """A time for people, or ``unknown``."""
    return format_datetime(moment, tz) if moment is not None else "unknown"


def _link(text: str, url: str) -> str:
    if not url.startswith(("http://", "https://")):
        return escape_markdown(url) if url else "none"
    return f"[{escape_markdown(text)}]({safe_url(url)})"


def _description(notification: Notification, alert: Alert, tz: ZoneInfo) -> str:
    lines = ["## Alert", ""]
    for name in ("summary", "description"):
        if alert.annotations.get(name):
            lines.append(f"**{name.capitalize()}:** {escape_markdown(alert.annotations[name])}")
            lines.append("")
    lines += [f"- **Started:** {escape_markdown(when(alert.starts_at, tz))}",
              f"- **Source:** {_link('Prometheus expression', alert.generator_url)}",
              f"- **Fingerprint:** {code_span(alert.fingerprint)}"]
    silence = silence_url(notification, alert)
    if silence:
        lines.append(f"- **Silence:** {_link('silence this alert in Alertmanager', silence)}")
    lines += ["", "## Labels", ""]
    lines += [f"- {code_span(name)}: {code_span(value)}" for name, value in sorted(alert.labels.items())]
    others = {name: value for name, value in alert.annotations.items() if name not in ("summary", "description")}
    if others:
        lines += ["", "## Annotations", ""]
        lines += [f"- {code_span(name)}: {escape_markdown(value)}" for name, value in sorted(others.items())]
    return "\n".join(lines) + "\n"


def build_draft(notification: Notification, alert: Alert, settings: AlertmanagerSettings, tz: ZoneInfo) -> IssueDraft:
    """The issue for a firing alert: title, priority by severity, description, link by fingerprint."""
    url = alert.generator_url if alert.generator_url.startswith(("http://", "https://")) else None
    return IssueDraft(
        title=title_of(alert), description=_description(notification, alert, tz),
        link=ExternalLinkDraft(external_id=alert.fingerprint, external_url=url,
                               metadata={"alertname": alert.name, "labels": alert.labels,
                                         "receiver": notification.receiver}),
        priority=settings.priority_for(alert.labels), labels=(LABEL,), log_name=f"alert {alert.name}")
