"""Alertmanager source plugin: one hub issue per alert fingerprint, resolved and reopened with it.

Alertmanager groups alerts into one notification: a notification of several alerts is split
(``Decision.split``), each alert handled as a delivery of its own.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any, Mapping

from hub import Change, Decision, IssueDraft, IssueView, ReceivedDelivery, Settings, Source, Verdict, hookimpl

from hub_alertmanager.auth import check_authorization
from hub_alertmanager.issue import build_draft
from hub_alertmanager.lifecycle import alert_changes
from hub_alertmanager.payload import Alert, Malformed, Notification, read_notification
from hub_alertmanager.settings import CONFIG_SECTION, AlertmanagerSettings

log = logging.getLogger("hub.alertmanager")

PREFIX = "[Alertmanager Webhook]"
SOURCE = Source(
    name="alertmanager",
    description="Prometheus Alertmanager webhook (version 4): one issue per alert",
    supported_events=("firing", "resolved"),
    log_prefix=PREFIX,
    # Alertmanager sends no delivery id of its own; a proxy's X-Request-ID is used when present.
    secret_headers=("authorization",),
)


def _settings(config: Settings) -> AlertmanagerSettings:
    return config.plugin("alertmanager")


@hookimpl
def register_config():
    """``[alertmanager]``; secrets ALERTMANAGER_TOKEN and ALERTMANAGER_PASSWORD."""
    return CONFIG_SECTION


@hookimpl
def register_sources():
    """``/api/alertmanager/webhook``."""
    return [SOURCE]


@hookimpl
def check_config(config: Settings) -> list[str]:
    """A user name without a password (or the reverse) is a mistake; no credential is a warning."""
    settings = _settings(config)
    if (settings.username is None) != (settings.password is None):
        return ["[alertmanager] basic auth needs both username and ALERTMANAGER_PASSWORD"]
    if not settings.authenticated:
        log.warning("%s Neither ALERTMANAGER_TOKEN nor basic auth is set: anyone who can reach "
                    "/api/alertmanager/webhook can create issues.", PREFIX)
    return []


@hookimpl
def exposure_problems(config: Settings) -> list[str]:
    """Unauthenticated webhooks are only for this machine, unless ``allow_unauthenticated``."""
    settings = _settings(config)
    if not settings.authenticated and not settings.allow_unauthenticated:
        return ["neither ALERTMANAGER_TOKEN nor basic auth is set, so anyone who reaches /api/alertmanager/webhook "
                "could create issues (set one, or [alertmanager] allow_unauthenticated = true)"]
    return []


@hookimpl
def verify_webhook(source: str, headers: Mapping[str, str], config: Settings) -> Verdict | None:
    """The bearer token or basic credentials of ``http_config``, compared in constant time."""
    if source != SOURCE.name:
        return None
    settings = _settings(config)
    if not settings.authenticated:
        return Verdict(True, "authentication disabled")
    problem = check_authorization(headers, settings)
    return Verdict(problem is None, problem or "")


def _response(notification: Notification) -> dict[str, Any]:
    return {"alertmanager": {"receiver": notification.receiver, "alerts": len(notification.alerts),
                             "truncatedAlerts": notification.truncated_alerts}}


@hookimpl
def accept_webhook(source: str, payload: Any, config: Settings) -> Decision | None:
    """``firing`` creates (or deduplicates), ``resolved`` updates; filters and grouping skip."""
    if source != SOURCE.name:
        return None
    try:
        notification = read_notification(payload)
    except Malformed as exc:
        return Decision.reject(str(exc))
    response = _response(notification)
    if notification.truncated_alerts:
        log.warning("%s Alertmanager left out %d alert(s) of group %s (max_alerts)", PREFIX,
                    notification.truncated_alerts, notification.group_key[:200])
    if not notification.alerts:
        return Decision.skip("no alerts", response=response)
    decisions = [_alert_decision(notification, alert, _settings(config)) for alert in notification.alerts]
    if len(decisions) == 1:
        return replace(decisions[0], response=response)
    return Decision.split(decisions, response=response, summary=f"{len(decisions)} alerts, group {notification.group_key[:200]}")


def _alert_decision(notification: Notification, alert: Alert, settings: AlertmanagerSettings) -> Decision:
    summary = f"status={alert.status}, alertname={alert.name}, fingerprint={alert.fingerprint}"
    filtered = settings.filtered_out(alert.labels)
    if filtered:
        return Decision.skip(filtered, summary=summary)
    kind = "create" if alert.status == "firing" else "update"
    return Decision(kind, external_id=alert.fingerprint, summary=summary, parsed=(notification, alert))


@hookimpl
def build_issue(source: str, config: Settings, delivery: ReceivedDelivery) -> IssueDraft | None:
    """The issue for a firing alert (from what ``accept_webhook`` parsed)."""
    if source != SOURCE.name:
        return None
    notification, alert = delivery.parsed
    return build_draft(notification, alert, _settings(config), config.hub.tz)


@hookimpl
def external_update(source: str, issue: IssueView, config: Settings, delivery: ReceivedDelivery) -> list[Change] | None:
    """Resolved closes with a comment, firing again reopens with one, a repeat changes nothing."""
    if source != SOURCE.name:
        return None
    _notification, alert = delivery.parsed
    return alert_changes(alert, issue, config.hub.tz)
