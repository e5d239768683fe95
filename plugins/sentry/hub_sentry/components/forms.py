"""What Sentry's UI components send, read defensively (every field may be missing or of another type).

The shapes are Sentry's own requesters (getsentry/sentry ``src/sentry/sentry_apps/external_requests/``):
- issue link, create and link (``IssueLinkRequester.body``): ``{"fields": {<form>}, "issueId": <int>,
  "installationId": <uuid>, "webUrl": <group URL>, "project": {"slug", "id": <int>},
  "actor": {"type": "user", "id": <int>, "name"}}``;
- the async select (``SelectRequester``): a GET with ``installationId``, ``projectSlug``, ``query``
  and ``dependentData`` in the query string;
- alert-rule settings (``SentryAppAlertRuleActionRequester.body``): ``{"fields": [{"name", "value"}],
  "installationId"}``;
- the stack-trace link (``SentryAppComponentPreparer._prepare_stacktrace_link`` and the frontend's
  ``OpenInContextLine``): ``installationId``, ``projectSlug``, ``filename``, ``lineNo`` in the query.
Anything unusable is an EndpointError 400 whose message Sentry shows the user.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

from hub import EndpointError

from hub_sentry.payload import mapping, text

__all__ = ["IssueLinkForm", "StackTraceQuery", "read_issue_link", "read_stacktrace_query", "form_text"]

_SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,19}-[0-9]{1,12}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# ASCII digits only: str.isdigit() also takes "²" and "١", which int() refuses or reads.
_DIGITS = re.compile(r"[0-9]{1,20}")
MAX_TITLE = 500
MAX_DESCRIPTION = 20_000


def _bad(message: str) -> EndpointError:
    return EndpointError(400, message)


def form_text(fields: Mapping[str, Any], name: str, *, limit: int, required: bool = False,
              multiline: bool = False) -> str | None:
    """Form field ``name`` as stripped text (numbers as digits); None when empty and not required."""
    value = fields.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise _bad(f"{name} is required")
        return None
    found = text(value)
    if found is None:
        raise _bad(f"{name} must be text")
    found = found.strip()
    if len(found) > limit:
        raise _bad(f"{name} is longer than {limit} characters")
    if not multiline and _CONTROL.search(found):
        raise _bad(f"{name} must be on one line")
    return found


@dataclass(frozen=True)
class IssueLinkForm:
    """An issue-link request (create or link): the Sentry issue and who asked, and the form."""

    issue_id: str
    project_slug: str
    project_id: str | None
    web_url: str | None
    actor: str
    fields: Mapping[str, Any]


def read_issue_link(payload: Any) -> IssueLinkForm:
    """The issue-link body; EndpointError 400 naming the first thing wrong."""
    if not isinstance(payload, Mapping):
        raise _bad("the body must be a JSON object")
    issue_id = payload.get("issueId")
    # Sentry sends the group id as a number; a string of digits is taken as well.
    if isinstance(issue_id, bool) or text(issue_id) is None or not _DIGITS.fullmatch(text(issue_id).strip()):
        raise _bad("issueId must be the Sentry issue's numeric id")
    project = mapping(payload.get("project"))
    slug = text(project.get("slug"))
    if slug is None or not _SLUG.fullmatch(slug):
        raise _bad("project.slug is missing or malformed")
    fields = payload.get("fields", {})
    if not isinstance(fields, Mapping):
        raise _bad("fields must be an object")
    web_url = text(payload.get("webUrl"))
    actor = mapping(payload.get("actor"))
    name = text(actor.get("name")) or text(actor.get("id")) or "someone in Sentry"
    return IssueLinkForm(
        issue_id=str(int(text(issue_id).strip())),
        project_slug=slug,
        project_id=text(project.get("id")),
        web_url=web_url if web_url and re.fullmatch(r"https?://\S{1,2000}", web_url) else None,
        actor=_CONTROL.sub(" ", name)[:100],
        fields=fields,
    )


def read_identifier(fields: Mapping[str, Any], name: str = "issue") -> str:
    """A hub issue identifier (``CHIPP-12``) chosen in the form; EndpointError 400 if it is none."""
    value = form_text(fields, name, limit=40, required=True)
    if not _IDENTIFIER.fullmatch(value):
        raise _bad(f"{name} must be a hub issue such as CHIPP-12")
    return value.upper()


@dataclass(frozen=True)
class StackTraceQuery:
    """A stack-trace link's query: the frame's file and line in a Sentry project."""

    project_slug: str | None
    filename: str
    line: int | None


def read_stacktrace_query(query: Mapping[str, str]) -> StackTraceQuery:
    """The stack-trace link's parameters; EndpointError 400 naming the first thing wrong."""
    filename = (query.get("filename") or "").strip()
    if not filename:
        raise _bad("filename is required")
    if len(filename) > 1000 or _CONTROL.search(filename):
        raise _bad("filename is malformed")
    slug = query.get("projectSlug") or None
    if slug is not None and not _SLUG.fullmatch(slug):
        raise _bad("projectSlug is malformed")
    line_text = (query.get("lineNo") or "").strip()
    line = None
    if line_text and line_text != "null":
        if not _DIGITS.fullmatch(line_text) or not 0 < int(line_text) < 10_000_000:
            raise _bad("lineNo must be a line number")
        line = int(line_text)
    return StackTraceQuery(project_slug=slug, filename=filename, line=line)
