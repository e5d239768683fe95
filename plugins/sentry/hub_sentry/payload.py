"""Reading Sentry's ``issue`` payload defensively: the sender's types are never trusted.

Real deliveries differ with the Sentry version and self-hosted installs: older ones lack
``substatus`` and ``priority``, some carry an issue's id only inside its URLs, numbers come where
strings are usual. What can be derived is derived, and said (``notes``); only what cannot be is
refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "RESOURCE_KEYS", "IssuePayload", "PayloadError", "id_from_urls", "read_issue_payload", "required_object",
    "required_text", "resource_of", "slug_from_urls", "text",
]

#: ``.../issues/1170820242/`` in an API or web URL of an issue or of one of its events.
_ISSUE_IN_URL = re.compile(r"/issues/(\d+)(?:/|$|\?)")
#: ``.../projects/<org>/<project>/`` in an API URL.
_PROJECT_IN_URL = re.compile(r"/projects/[^/?#]+/([^/?#]+)/")

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


def id_from_urls(container: Mapping[str, Any], keys: tuple[str, ...]) -> tuple[str, str] | None:
    """(issue id, the key it came from) found in the first of ``keys`` whose URL names an issue."""
    for key in keys:
        url = container.get(key)
        if isinstance(url, str) and (match := _ISSUE_IN_URL.search(url)):
            return match.group(1), key
    return None


def slug_from_urls(container: Mapping[str, Any], keys: tuple[str, ...]) -> tuple[str, str] | None:
    """(project slug, the key it came from) found in the first of ``keys`` whose URL names a project."""
    for key in keys:
        url = container.get(key)
        if isinstance(url, str) and (match := _PROJECT_IN_URL.search(url)):
            return match.group(1), key
    return None


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
    #: What was derived or left out, for the answer and the log ("data.issue.id from data.issue.url").
    notes: tuple[str, ...] = ()


def _derived_title(issue: Mapping[str, Any], meta: Mapping[str, Any]) -> str | None:
    """A title as Sentry builds one: the metadata's title, else ``type: value``, else what there is."""
    if title := text(meta.get("title")):
        return title
    kind, value = text(meta.get("type")), text(meta.get("value"))
    if kind and value:
        return f"{kind}: {value}"
    return kind or value or text(issue.get("culprit")) or None


def read_issue_payload(payload: Any) -> IssuePayload:
    """Validate an ``issue`` delivery; raise PayloadError naming the first thing missing that cannot
    be derived (the action, the issue object, an id found neither as a field nor in its URLs)."""
    required_object(payload, "")
    action = payload.get("action")
    if not isinstance(action, str) or not action:
        raise PayloadError("action is missing")
    issue = required_object(payload, "data.issue")
    notes: list[str] = []
    issue_id = text(issue.get("id"))
    if not issue_id or not issue_id.strip():
        found = id_from_urls(issue, ("url", "web_url", "permalink", "issue_url"))
        if found is None:
            raise PayloadError("data.issue.id is missing (and no issue URL names it)")
        issue_id = found[0]
        notes.append(f"data.issue.id taken from data.issue.{found[1]}")
    title = issue.get("title")
    if not isinstance(title, str) or not title.strip():
        title = _derived_title(issue, mapping(issue.get("metadata"))) or text(issue.get("shortId")) or \
            f"Sentry issue {issue_id}"
        notes.append("data.issue.title missing: derived from the issue's metadata")
    project = mapping(issue.get("project"))
    slug = project.get("slug")
    if not isinstance(slug, str) or not slug.strip():
        found = slug_from_urls(issue, ("project_url", "url"))
        slug = found[0] if found else (text(project.get("name")) or "sentry")
        notes.append(f"data.issue.project.slug missing: {'taken from data.issue.' + found[1] if found else 'used ' + slug}")
    substatus = issue.get("substatus")
    return IssuePayload(
        action=action,
        issue=issue,
        id=issue_id.strip(),
        title=title,
        project=project,
        slug=slug,
        substatus=substatus if isinstance(substatus, str) else None,
        short_id=text(issue.get("shortId")),
        payload=payload,
        notes=tuple(notes),
    )
