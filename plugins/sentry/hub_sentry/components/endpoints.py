"""The endpoints Sentry's UI components call: issue link (create, link, search), alert-rule settings,
stack-trace link.

Sentry's servers sign every component request with ``Sentry-App-Signature`` (HMAC-SHA256 of the
body with the client secret; of the empty string for the async select's GET), checked here
before anything is read. The stack-trace link is opened by the user's browser, unsigned: it
only redirects to a configured repository. Every refusal is a 4xx ``{"message": ...}`` that
Sentry shows the user.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from hub import Endpoint, EndpointError, EndpointRequest, EndpointResponse, ExternalLinkDraft, IssueDraft, LabelDraft
from hub import escape_markdown, safe_url

from hub_sentry.components.forms import MAX_DESCRIPTION, MAX_TITLE, IssueLinkForm, form_text, read_identifier, \
    read_issue_link, read_stacktrace_query
from hub_sentry.components.releases import release_commit
from hub_sentry.components.rule_settings import PRIORITIES, RULE_LABEL_COLOR, SettingsError, read_fields
from hub_sentry.components.schema import PATHS
from hub_sentry.issue import LABEL
from hub_sentry.settings import SentrySettings
from hub_sentry.shown import shown_in_sentry
from hub_sentry.signature import check_signature

__all__ = ["ENDPOINTS"]

log = logging.getLogger("hub.sentry")
PREFIX = "[Sentry Component]"
SIGNATURE_HEADER = "Sentry-App-Signature"


def _settings(context: Any) -> SentrySettings:
    return context.settings.plugin("sentry")


def _verify(request: EndpointRequest, context: Any) -> None:
    """401 unless Sentry signed the body (skipped, as for webhooks, while no client secret is set)."""
    secret = _settings(context).client_secret
    if secret is None:
        return
    problem = check_signature(request.body, request.headers.get(SIGNATURE_HEADER.lower()), secret.get_secret_value(),
                              header=SIGNATURE_HEADER)
    if problem:
        log.warning("%s Rejected %s: %s", PREFIX, request.path, problem)
        raise EndpointError(401, problem)


def _answer(context: Any, issue: Any) -> dict[str, str]:
    """What Sentry's sidebar shows, ``<project>#<identifier>`` linking to ``webUrl`` (``CHIPP#12``)."""
    project, identifier = shown_in_sentry(issue.identifier)
    return {"webUrl": context.issue_url(issue.identifier), "project": project, "identifier": identifier}


def _metadata(form: IssueLinkForm) -> dict[str, Any]:
    # The webhook's stored-metadata keys, so code_project and the GitHub mirror read both alike.
    return {"shortId": None, "project": {"id": form.project_id, "name": None, "slug": form.project_slug,
                                         "platform": None}, "linkedFrom": "sentry-issue-link"}


def _description(text: str | None, form: IssueLinkForm) -> str:
    # What a person typed is shown as typed: paragraphs kept, each escaped like payload text.
    paragraphs = [escape_markdown(part) for part in re.split(r"\n\s*\n", text or "") if part.strip()]
    links = [f"- [View in Sentry]({safe_url(form.web_url)})"] if form.web_url else []
    links.append(f"- Created from Sentry by {escape_markdown(form.actor)}")
    return "\n\n".join([*paragraphs, "## Links\n\n" + "\n".join(links)]) + "\n"


def _labels(value: str | None) -> tuple[LabelDraft, ...]:
    try:
        names = read_fields([{"name": "labels", "value": value}], strict=True).labels if value else ()
    except SettingsError as error:
        raise EndpointError(400, str(error)) from None
    return tuple(LabelDraft(name, RULE_LABEL_COLOR) for name in names if name != LABEL.name)


async def create(request: EndpointRequest, context: Any) -> EndpointResponse:
    """Issue link, create: the form becomes an issue through the webhook's store, linked to the Sentry issue."""
    _verify(request, context)
    payload = request.json()
    form = read_issue_link(payload)
    title = form_text(form.fields, "title", limit=MAX_TITLE, required=True)
    priority = (form_text(form.fields, "priority", limit=2) or "P3").upper()
    if priority not in PRIORITIES:
        raise EndpointError(400, f"priority must be one of {', '.join(PRIORITIES)}")
    assignee = form_text(form.fields, "assignee", limit=100)
    draft = IssueDraft(
        title=f"[{escape_markdown(form.project_slug)}] {escape_markdown(title)}"[:MAX_TITLE],
        description=_description(form_text(form.fields, "description", limit=MAX_DESCRIPTION, multiline=True), form),
        link=ExternalLinkDraft(external_id=form.issue_id, external_url=form.web_url, metadata=_metadata(form)),
        priority=priority,
        labels=(LABEL, *_labels(form_text(form.fields, "labels", limit=600))),
        assignee=assignee,
        log_name=f"Sentry issue {form.issue_id} (created from Sentry by {form.actor})",
    )
    filed = await context.create_issue("sentry", draft, request, payload=payload,
                                       summary=f"issue-link create, issue={form.issue_id}, by {form.actor}",
                                       answer=lambda issue: _answer(context, issue))
    if filed.outcome == "deduplicated":
        log.info("%s Sentry issue %s is tracked already as %s: linked to it", PREFIX, form.issue_id,
                 filed.issue.identifier)
    return EndpointResponse.json(dict(filed.body))


async def link(request: EndpointRequest, context: Any) -> EndpointResponse:
    """Issue link, link: the Sentry issue is linked to an existing hub issue (moved only when asked)."""
    _verify(request, context)
    form = read_issue_link(request.json())
    identifier = read_identifier(form.fields)
    move = (form_text(form.fields, "move", limit=3) or "no").lower() == "yes"
    filed = await context.link_issue(
        "sentry", ExternalLinkDraft(external_id=form.issue_id, external_url=form.web_url, metadata=_metadata(form)),
        identifier, request, move=move, summary=f"issue-link link, issue={form.issue_id}, to {identifier}, "
                                                f"by {form.actor}", answer=lambda issue: _answer(context, issue))
    return EndpointResponse.json(dict(filed.body))


def _shown(title: str) -> str:
    # Titles are stored Markdown-escaped; Sentry's dropdown shows plain text.
    return re.sub(r"\\(.)", r"\1", title)[:120]


async def search(request: EndpointRequest, context: Any) -> EndpointResponse:
    """The link form's async select: hub issues by identifier or title, as ``[{label, value}]``."""
    if _settings(context).client_secret is None:
        # Unsigned webhooks only ever write; this reads the hub's issues, so it is never open.
        raise EndpointError(403, "searching hub issues needs SENTRY_CLIENT_SECRET on the hub")
    _verify(request, context)
    query = (request.query.get("query") or "").strip()
    if len(query) > 200:
        raise EndpointError(400, "query is longer than 200 characters")
    issues = await context.search_issues(query, limit=20)
    return EndpointResponse.json([{"label": f"{issue.identifier} {_shown(issue.title)}", "value": issue.identifier}
                                  for issue in issues])


async def alert_rule(request: EndpointRequest, context: Any) -> EndpointResponse:
    """Alert-rule settings saved in Sentry: checked, answered 200 or 400 with what to fix."""
    _verify(request, context)
    payload = request.json()
    if not isinstance(payload, dict):
        raise EndpointError(400, "the body must be a JSON object")
    try:
        settings = read_fields(payload.get("fields"), strict=True)
    except SettingsError as error:
        raise EndpointError(400, str(error)) from None
    log.info("%s Alert-rule settings accepted: %s", PREFIX, settings.describe())
    return EndpointResponse.json({"message": f"Saved: {settings.describe()}"})


async def stacktrace(request: EndpointRequest, context: Any) -> EndpointResponse:
    """Stack-trace link: to the file and line in the project's repository, at the release's commit
    when Sentry knows one, else on the default branch. Unsigned (a browser opens it): it only
    ever redirects to a repository the hub is configured with."""
    frame = read_stacktrace_query(request.query)
    commit = await release_commit(context, _settings(context), frame.project_slug)
    url = await context.code_link(frame.project_slug, frame.filename, frame.line, commit)
    if url is None:
        raise EndpointError(404, f"no code repository is configured for Sentry project "
                                 f"{frame.project_slug or '(none named)'}")
    return EndpointResponse.redirect(url)


def _endpoint(key: str, handler: Any, method: str, summary: str, timeout: float = 5.0) -> Endpoint:
    # Sentry's requesters wait longer (safe_urlopen's default timeout, 30 s in the src/sentry/http.py read).
    return Endpoint("sentry", PATHS[key], handler, methods=(method,), summary=summary, timeout_seconds=timeout)


ENDPOINTS = [
    _endpoint("create", create, "POST", "Sentry issue link: create a hub issue"),
    _endpoint("link", link, "POST", "Sentry issue link: link an existing hub issue"),
    _endpoint("search", search, "GET", "Sentry issue link: the hub issues to choose from"),
    _endpoint("alert_rule", alert_rule, "POST", "Sentry alert-rule action: check a rule's settings"),
    # Sentry's API (2 s) and GitHub's file list (2.5 s) may both be asked before the redirect.
    _endpoint("stacktrace", stacktrace, "GET", "Sentry stack-trace link: to the file in the repository", timeout=8.0),
]
