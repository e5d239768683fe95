"""The hub's alert-rule action: settings a Sentry alert rule carries for the issues its alerts make.

Sentry posts the settings when a rule is saved (``{"fields": [{"name", "value"}], "installationId"}``,
``SentryAppAlertRuleActionRequester``): they are checked there, so the person editing the rule
sees what is wrong. The save carries no rule id, and every alert carries the rule's saved
settings itself (``data.issue_alert.settings`` of an ``event_alert``; the trigger's
``sentry_app`` action ``settings`` of a ``metric_alert``): those are what is applied, so a
rule edited in Sentry takes effect with its next alert and nothing is kept that could go stale.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from typing import Any, Iterable, Mapping

from hub import Change, IssueDraft, IssueView, LabelDraft

from hub_sentry.payload import mapping, text

__all__ = ["FIELD_NAMES", "RuleSettings", "SettingsError", "apply_to_changes", "apply_to_draft", "read_fields",
           "settings_of_delivery"]

log = logging.getLogger("hub.sentry")

PRIORITIES = ("P0", "P1", "P2", "P3", "P4")
FIELD_NAMES = ("priority", "assignee", "labels", "enrichment")
RULE_LABEL_COLOR = "#F55459"
MAX_LABELS = 10
_LABEL = re.compile(r"[^\x00-\x1f\x7f,]{1,50}")
_ASSIGNEE = re.compile(r"[^\x00-\x1f\x7f]{1,100}")


class SettingsError(ValueError):
    """The settings are not ones the hub can apply; the message is shown to the person in Sentry."""


@dataclass(frozen=True)
class RuleSettings:
    """What a rule asks of the issues its alerts make. None: leave it to the hub's own rules."""

    priority: str | None = None
    assignee: str | None = None
    labels: tuple[str, ...] = ()
    enrich: bool = True

    def describe(self) -> str:
        """One line for Sentry's confirmation and the log."""
        parts = [f"priority {self.priority or 'as Sentry says'}"]
        if self.assignee:
            parts.append(f"assignee {self.assignee}")
        if self.labels:
            parts.append(f"labels {', '.join(self.labels)}")
        parts.append("enrichment " + ("on" if self.enrich else "off"))
        return "; ".join(parts)


def _value(raw: Any, name: str) -> str | None:
    value = text(raw)
    if raw is not None and value is None:
        raise SettingsError(f"{name} must be text")
    return value.strip() if value is not None and value.strip() else None


def read_fields(fields: Any, *, strict: bool) -> RuleSettings:
    """Sentry's ``[{"name", "value"}]`` as RuleSettings. ``strict`` (a rule being saved): anything
    unknown or malformed is a SettingsError; otherwise (an alert arriving) it is left out, logged."""
    if not isinstance(fields, list):
        raise SettingsError("fields must be a list of {name, value}")
    found: dict[str, Any] = {}
    for field in fields:
        name = text(mapping(field).get("name"))
        if name not in FIELD_NAMES:
            if strict:
                raise SettingsError(f"unknown setting {str(name)[:40]!r}: expected one of {', '.join(FIELD_NAMES)}")
            continue
        found[name] = mapping(field).get("value")
    settings = RuleSettings()
    for name, raw in found.items():
        try:
            settings = _with(settings, name, _value(raw, name))
        except SettingsError as error:
            if strict:
                raise
            log.warning("[Sentry Webhook] Alert-rule setting left out: %s", error)
    return settings


def _with(settings: RuleSettings, name: str, value: str | None) -> RuleSettings:
    if value is None:
        return settings
    if name == "priority":
        if value.lower() == "sentry":
            return settings
        if value.upper() not in PRIORITIES:
            raise SettingsError(f"priority must be one of {', '.join(PRIORITIES)} or 'sentry', not {value[:20]!r}")
        return replace(settings, priority=value.upper())
    if name == "assignee":
        if not _ASSIGNEE.fullmatch(value):
            raise SettingsError("assignee must be a name of at most 100 characters on one line")
        return replace(settings, assignee=value)
    if name == "labels":
        labels = tuple(dict.fromkeys(label.strip() for label in value.split(",") if label.strip()))
        if len(labels) > MAX_LABELS or not all(_LABEL.fullmatch(label) for label in labels):
            raise SettingsError(f"labels must be at most {MAX_LABELS} comma-separated names of at most 50 characters")
        return replace(settings, labels=labels)
    if value.lower() not in ("on", "off"):
        raise SettingsError(f"enrichment must be 'on' or 'off', not {value[:20]!r}")
    return replace(settings, enrich=value.lower() == "on")


def _metric_alert_fields(payload: Mapping[str, Any]) -> Any:
    """The settings of this app's action on the trigger that fired (``critical`` or ``warning``)."""
    action = text(payload.get("action"))
    installation = text(mapping(payload.get("installation")).get("uuid"))
    rule = mapping(mapping(mapping(payload.get("data")).get("metric_alert")).get("alert_rule"))
    triggers = rule.get("triggers")
    for trigger in triggers if isinstance(triggers, list) else []:
        if text(mapping(trigger).get("label")) != action:
            continue
        actions = mapping(trigger).get("actions")
        for candidate in actions if isinstance(actions, list) else []:
            candidate = mapping(candidate)
            owner = text(candidate.get("sentry_app_installation_uuid"))
            # Another Sentry app's action on the same trigger is not ours to read.
            if candidate.get("type") == "sentry_app" and (owner is None or installation is None or owner == installation):
                return candidate.get("settings")
    return None


def settings_of_delivery(payload: Any, resource: str) -> RuleSettings | None:
    """The alert rule's settings carried by an ``event_alert`` or ``metric_alert`` delivery, or None."""
    payload = mapping(payload)
    if resource == "event_alert":
        fields = mapping(mapping(payload.get("data")).get("issue_alert")).get("settings")
    elif resource == "metric_alert":
        fields = _metric_alert_fields(payload)
    else:
        return None
    if not isinstance(fields, list) or not fields:
        return None
    return read_fields(fields, strict=False)


def apply_to_draft(draft: IssueDraft, settings: RuleSettings | None) -> IssueDraft:
    """A new issue made by the rule's alert: its priority, assignee, labels and enrichment."""
    if settings is None:
        return draft
    labels = (*draft.labels, *(LabelDraft(name, RULE_LABEL_COLOR) for name in settings.labels
                               if name not in {label.name for label in draft.labels}))
    return replace(draft, priority=settings.priority or draft.priority, assignee=settings.assignee or draft.assignee,
                   labels=labels, enrich=draft.enrich and settings.enrich)


def apply_to_changes(changes: Iterable[Change], issue: IssueView, settings: RuleSettings | None) -> list[Change]:
    """An issue the hub tracks already: the rule raises its priority (never lowers what a person
    set), assigns it when nobody is, and adds its labels."""
    changes = list(changes)
    if settings is None:
        return changes
    if settings.priority and settings.priority < issue.priority:
        changes.append(Change("priority", value=settings.priority))
    if settings.assignee and not issue.assignee:
        changes.append(Change("assign", value=settings.assignee))
    changes.extend(Change("label", value=name, color=RULE_LABEL_COLOR) for name in settings.labels)
    return changes
