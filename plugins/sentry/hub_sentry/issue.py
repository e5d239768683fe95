"""From a Sentry issue delivery to the hub's IssueDraft: title, priority, label, link, metadata."""

from __future__ import annotations

from typing import Any

from hub import ExternalLinkDraft, IssueDraft, LabelDraft
from hub import escape_markdown

from hub_sentry.description import describe
from hub_sentry.payload import IssuePayload, mapping, text
from hub_sentry.settings import SentrySettings

__all__ = ["LABEL", "build_draft", "priority_of", "stored_metadata", "web_url"]

LABEL = LabelDraft("Sentry", "#362D59")
_PRIORITIES = {"high": "P1", "medium": "P2", "low": "P4"}
_MAX_TITLE = 500


def priority_of(parsed: IssuePayload, settings: SentrySettings) -> str:
    """The seed's mapping (high P1, medium P2, low P4, else P3), unless the project overrides it."""
    override = settings.projects.priority.get(parsed.slug)
    if override:
        return override
    return _PRIORITIES.get(text(parsed.issue.get("priority")) or "", "P3")


def web_url(parsed: IssuePayload, settings: SentrySettings) -> str | None:
    """The issue's page in Sentry: the payload's own link, else one built from the organisation."""
    for key in ("permalink", "web_url", "webUrl"):
        url = parsed.issue.get(key)
        if isinstance(url, str) and url.startswith(("https://", "http://")):
            return url
    installation = mapping(parsed.payload.get("installation"))
    organization = text(mapping(installation.get("organization")).get("slug")) or settings.organization
    if not organization:
        return None
    return f"{settings.web_url}/organizations/{organization}/issues/{parsed.id}/"


def stored_metadata(parsed: IssuePayload) -> dict[str, Any]:
    """Exactly the seed's stored-metadata object."""
    project = parsed.project
    issue = parsed.issue
    return {
        "shortId": parsed.short_id,
        "project": {
            "id": text(project.get("id")),
            "name": text(project.get("name")),
            "slug": parsed.slug,
            "platform": text(project.get("platform")),
        },
        "substatus": parsed.substatus,
        "priority": text(issue.get("priority")),
        "level": text(issue.get("level")),
        "platform": text(issue.get("platform")),
    }


def build_draft(parsed: IssuePayload, settings: SentrySettings, tz: Any) -> IssueDraft:
    """The IssueDraft for a delivery that creates an issue."""
    # Trackers render titles as Markdown too: the payload's parts are escaped, HTML included.
    title = f"[{escape_markdown(parsed.slug)}] {escape_markdown(parsed.title)}"
    if len(title) > _MAX_TITLE:
        title = title[: _MAX_TITLE - 1] + "…"
    url = web_url(parsed, settings)
    return IssueDraft(
        title=title,
        description=describe(parsed, url, tz),
        priority=priority_of(parsed, settings),
        labels=(LABEL,),
        link=ExternalLinkDraft(external_id=parsed.id, external_url=url, metadata=stored_metadata(parsed)),
        log_name=f"Sentry {parsed.short_id or parsed.id}",
    )
