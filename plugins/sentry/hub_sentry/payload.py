"""Reading Sentry's ``issue`` payload defensively: the sender's types are never trusted."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "RESOURCE_KEYS", "IssuePayload", "PayloadError", "read_issue_payload", "required_object", "required_text",
    "resource_of", "text",
]

#: The ``data`` key that carries each handled resource's object.
RESOURCE_KEYS = {"issue": "issue", "event_alert": "event", "metric_alert": "metric_alert"}


class PayloadError(ValueError):
    """The body is not a Sentry issue payload; the message names what is missing or wrong."""


def text(value: Any) -> str | None:
    """A string field as text: strings as they are, numbers as digits, anything else None."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def mapping(value: Any) -> Mapping[str, Any]:
    """A JSON object field, or an empty mapping when it is absent or of another type."""
    return value if isinstance(value, Mapping) else {}


def resource_of(payload: Any) -> str:
    """Which handled resource a body is, judged from its shape.

    The hooks after ``accept_webhook`` get no headers; ``accept_webhook`` rejects a body whose
    shape disagrees with its ``Sentry-Hook-Resource``, so both judge a delivery the same way.
    """
    data = mapping(mapping(payload).get("data"))
    if "metric_alert" in data:
        return "metric_alert"
    if "issue" not in data and "event" in data:
        return "event_alert"
    return "issue"


def required_object(container: Any, path: str) -> Mapping[str, Any]:
    """The JSON object at dotted ``path`` inside ``container`` (the body itself when ``path`` is "").

    PayloadError names the first part of the path that is missing or not an object.
    """
    if not isinstance(container, Mapping):
        raise PayloadError("body is not a JSON object")
    value: Any = container
    walked: list[str] = []
    for key in filter(None, path.split(".")):
        walked.append(key)
        value = value.get(key)
        if not isinstance(value, Mapping):
            raise PayloadError(f"{'.'.join(walked)} is missing")
    return value


def required_text(container: Mapping[str, Any], key: str, path: str) -> str:
    """A non-empty text field (numbers accepted as digits); PayloadError naming ``path`` otherwise."""
    value = text(container.get(key))
    if not value or not value.strip():
        raise PayloadError(f"{path} is missing")
    return value


@dataclass(frozen=True)
class IssuePayload:
    """The parts of an ``issue`` delivery the plugin uses, validated."""

    action: str
    issue: Mapping[str, Any]
    id: str
    title: str
    project: Mapping[str, Any]
    slug: str
    substatus: str | None
    short_id: str | None
    payload: Mapping[str, Any]


def read_issue_payload(payload: Any) -> IssuePayload:
    """Validate an ``issue`` delivery; raise PayloadError naming the first thing missing."""
    required_object(payload, "")
    action = payload.get("action")
    if not isinstance(action, str) or not action:
        raise PayloadError("action is missing")
    issue = required_object(payload, "data.issue")
    issue_id = required_text(issue, "id", "data.issue.id")
    title = issue.get("title")
    if not isinstance(title, str) or not title.strip():
        raise PayloadError("data.issue.title is missing")
    project = required_object(payload, "data.issue.project")
    slug = project.get("slug")
    if not isinstance(slug, str) or not slug:
        raise PayloadError("data.issue.project.slug is missing")
    substatus = issue.get("substatus")
    return IssuePayload(
        action=action,
        issue=issue,
        id=issue_id,
        title=title,
        project=project,
        slug=slug,
        substatus=substatus if isinstance(substatus, str) else None,
        short_id=text(issue.get("shortId")),
        payload=payload,
    )
