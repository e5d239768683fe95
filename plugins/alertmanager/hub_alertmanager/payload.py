"""Reading Alertmanager's webhook body (version 4) without trusting its shape.

The shape is Alertmanager's ``notify/webhook`` Message: ``version``, ``groupKey``,
``truncatedAlerts``, ``status``, ``receiver``, ``groupLabels``, ``commonLabels``,
``commonAnnotations``, ``externalURL`` and ``alerts`` (each ``status``, ``labels``,
``annotations``, ``startsAt``, ``endsAt``, ``generatorURL``, ``fingerprint``). Anything else a
sender posts is a ``Malformed`` with a one-line reason, never an exception of another kind.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping

from hub import clean_text, parse_datetime

__all__ = ["Alert", "Malformed", "Notification", "read_notification"]

#: Alertmanager's fingerprint is a 64-bit hash printed as 16 hex digits; allow some slack, no more.
_FINGERPRINT = re.compile(r"[0-9a-fA-F]{1,32}")
_MAX_TEXT = 4096


class Malformed(ValueError):
    """The body is not an Alertmanager version 4 notification; the message says why, on one line."""


@dataclass(frozen=True)
class Alert:
    """One alert of a notification."""

    status: str
    fingerprint: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime | None
    ends_at: datetime | None
    generator_url: str

    @property
    def name(self) -> str:
        """The ``alertname`` label (Prometheus always sets it), else the fingerprint."""
        return self.labels.get("alertname") or self.fingerprint


@dataclass(frozen=True)
class Notification:
    """One webhook delivery: the group's alerts and what Alertmanager says about the group."""

    status: str
    receiver: str
    group_key: str
    external_url: str
    truncated_alerts: int
    alerts: tuple[Alert, ...]


def _strings(value: Any, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise Malformed(f"{what} is not an object")
    if not all(isinstance(key, str) and isinstance(item, str) for key, item in value.items()):
        raise Malformed(f"{what} holds a value that is not a string")
    return {clean_text(key)[:256]: item[:_MAX_TEXT] for key, item in value.items()}


def _text(value: Any, what: str, *, required: bool = False) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise Malformed(f"{what} is not a string")
    return value[:_MAX_TEXT]


def _status(value: Any, what: str) -> str:
    if value not in ("firing", "resolved"):
        raise Malformed(f"{what} is neither firing nor resolved")
    return value


def _alert(value: Any, index: int) -> Alert:
    if not isinstance(value, Mapping):
        raise Malformed(f"alerts[{index}] is not an object")
    fingerprint = value.get("fingerprint")
    if not isinstance(fingerprint, str) or not _FINGERPRINT.fullmatch(fingerprint):
        raise Malformed(f"alerts[{index}].fingerprint is not a hexadecimal fingerprint")
    return Alert(status=_status(value.get("status"), f"alerts[{index}].status"), fingerprint=fingerprint.lower(),
                 labels=_strings(value.get("labels"), f"alerts[{index}].labels"),
                 annotations=_strings(value.get("annotations"), f"alerts[{index}].annotations"),
                 starts_at=parse_datetime(value.get("startsAt")), ends_at=parse_datetime(value.get("endsAt")),
                 generator_url=_text(value.get("generatorURL"), f"alerts[{index}].generatorURL"))


def read_notification(payload: Any) -> Notification:
    """The notification in ``payload`` (the parsed JSON body); Malformed when it is not one."""
    if not isinstance(payload, Mapping):
        raise Malformed("the body is not a JSON object")
    if payload.get("version") != "4":
        raise Malformed(f"unsupported webhook version {clean_text(payload.get('version'))[:20]!r} (expected '4')")
    alerts = payload.get("alerts")
    if not isinstance(alerts, list):
        raise Malformed("alerts is not a list")
    truncated = payload.get("truncatedAlerts", 0)
    if isinstance(truncated, bool) or not isinstance(truncated, int) or truncated < 0:
        raise Malformed("truncatedAlerts is not a count")
    return Notification(status=_status(payload.get("status"), "status"),
                        receiver=_text(payload.get("receiver"), "receiver"),
                        group_key=_text(payload.get("groupKey"), "groupKey"),
                        external_url=_text(payload.get("externalURL"), "externalURL"),
                        truncated_alerts=min(truncated, 10**9),
                        alerts=tuple(_alert(alert, index) for index, alert in enumerate(alerts)))
