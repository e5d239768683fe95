"""Reading Sentry's ``issue`` payload defensively: the sender's types are never trusted."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

__all__ = ["IssuePayload", "PayloadError", "read_issue_payload", "text"]


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
    if not isinstance(payload, Mapping):
        raise PayloadError("body is not a JSON object")
    action = payload.get("action")
    if not isinstance(action, str) or not action:
        raise PayloadError("action is missing")
    data = payload.get("data")
    if not isinstance(data, Mapping):
        raise PayloadError("data is missing")
    issue = data.get("issue")
    if not isinstance(issue, Mapping):
        raise PayloadError("data.issue is missing")
    issue_id = text(issue.get("id"))
    if not issue_id:
        raise PayloadError("data.issue.id is missing")
    title = issue.get("title")
    if not isinstance(title, str) or not title.strip():
        raise PayloadError("data.issue.title is missing")
    project = issue.get("project")
    if not isinstance(project, Mapping):
        raise PayloadError("data.issue.project is missing")
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
