"""The console's pages: overview, issues, deliveries, jobs; and the forms that act on them.

Plain HTML forms (POST, CSRF token, then a redirect back: the browser's back button and a
reload do what a person expects), no script. Every route declares its scope like the API's:
reading needs ``read``, triage ``write``, replay, retry and cancel ``admin``.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import ClientException, NotFoundException
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Redirect
from litestar.utils.scope.state import ScopeState
from typing_extensions import Annotated

from hub.auth import scope_opt
from hub.auth.guard import principal_of
from hub.auth.scopes import allows
from hub.services import queries
from hub.console.render import page
from hub.dryrun import dry_run
from hub.headers import GENERIC_DELIVERY_ID
from hub.ingest import handle_webhook
from hub.jobs import cancel_jobs, retry_jobs
from hub.models import utcnow
from hub.redact import redact
from hub.routes.issues import checked_identifier
from hub.routes.triage import MAX_COMMENT, triage_changes
from hub.store import issue_view
from hub.types import Change

__all__ = ["CONSOLE_HANDLERS"]

log = logging.getLogger("hub.console")

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]

STATUSES = ("open", "closed")
PRIORITIES = ("P0", "P1", "P2", "P3", "P4")
SORTS = ("newest", "priority")
#: ``linked``, ``moved``, ``unchanged``: a record linked to an existing issue by a plugin endpoint
#: (``EndpointContext.link_issue``: Sentry's "Link issue").
OUTCOMES = ("created", "deduplicated", "updated", "stale", "skipped", "replayed", "rejected", "unauthorized",
            "linked", "moved", "unchanged")
JOB_STATUSES = ("queued", "running", "done", "failed", "cancelled")
#: The delivery log's time filter: the last hour, day, week.
SINCE = {"1h": timedelta(hours=1), "24h": timedelta(days=1), "7d": timedelta(days=7)}
_MAX_TEXT = 200
#: Headers a replay leaves out, besides the source's own delivery-id headers
#: (Source.delivery_id_headers): with its request id the replay would be answered as a repeat.
_REQUEST_ID_HEADERS = {GENERIC_DELIVERY_ID}


def _text(name: str, value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if len(value) > _MAX_TEXT or not value.isprintable():
        raise ClientException(f"{name} must be printable text of at most {_MAX_TEXT} characters")
    return value


def _choice(name: str, value: str | None, allowed: tuple[str, ...] | dict[str, Any]) -> str | None:
    if value is None or value == "":
        return None
    if value not in allowed:
        raise ClientException(f"{name} must be one of {', '.join(allowed)}")
    return value


def _cursor(value: str | None) -> str | None:
    if value and (len(value) > 400 or not value.isascii() or not value.isprintable()):
        raise ClientException("malformed cursor")
    return value or None


async def _context(request: Request, section: str) -> dict[str, Any]:
    principal = await principal_of(request)
    assert principal is not None  # the guard let the request through
    return {
        "section": section, "actor": principal.actor, "scope": principal.scope,
        "can_write": allows(principal.scope, "write"), "can_admin": allows(principal.scope, "admin"),
        "csrf_token": ScopeState.from_scope(request.scope).csrf_token or "",
    }


async def _page_of(fetch: Any) -> queries.Page:
    try:
        return await fetch
    except ValueError as exc:  # a cursor that decodes to nothing the list can continue from
        raise ClientException(str(exc)) from None


@get("/", tags=["console"], summary="Overview", opt=scope_opt("read"), include_in_schema=False)
async def overview(request: Request) -> Response:
    """The last day at a glance: deliveries per outcome, issues per hour, the queue, the last delivery."""
    figures = await queries.overview(request.app.state.hub.engine)
    return page("overview.html", **await _context(request, "overview"), figures=figures)


@get("/issues", tags=["console"], summary="Issues", opt=scope_opt("read"), include_in_schema=False)
async def issues(
    request: Request, status: FromQuery[str | None] = None, priority: FromQuery[str | None] = None,
    label: FromQuery[str | None] = None, source: FromQuery[str | None] = None,
    assignee: FromQuery[str | None] = None, q: FromQuery[str | None] = None, sort: FromQuery[str | None] = None,
    after: FromQuery[str | None] = None,
) -> Response:
    """The issue list: filters, search on title and identifier, newest first or by priority, keyset pages."""
    filters = queries.IssueFilters(
        status=_choice("status", status, STATUSES), priority=_choice("priority", priority, PRIORITIES),
        label=_text("label", label), source=_text("source", source), assignee=_text("assignee", assignee),
        q=_text("q", q), sort=_choice("sort", sort, SORTS) or "newest")
    result = await _page_of(queries.list_issues(request.app.state.hub.engine, filters, _cursor(after)))
    kept = {name: getattr(filters, name) for name in ("status", "priority", "label", "source", "assignee", "q")}
    kept["sort"] = filters.sort if filters.sort != "newest" else None
    query = {name: value for name, value in kept.items() if value}
    next_url = f"/issues?{urlencode({**query, 'after': result.next_cursor})}" if result.next_cursor else None
    return page("issues.html", **await _context(request, "issues"), page=result, filters=filters,
                statuses=STATUSES, priorities=PRIORITIES, next_url=next_url, first_url=f"/issues?{urlencode(query)}",
                paged=bool(after))


@get("/issues/{identifier:str}", tags=["console"], summary="One issue", opt=scope_opt("read"), include_in_schema=False)
async def issue(request: Request, identifier: FromPath[str]) -> Response:
    """An issue: description (Markdown, sanitised), links, labels, timeline, jobs, triage forms."""
    found = await queries.issue_detail(request.app.state.hub.engine, checked_identifier(identifier))
    if found is None:
        raise NotFoundException(f"no issue {identifier}")
    return page("issue.html", **await _context(request, "issues"), issue=found, priorities=PRIORITIES)


async def _apply(request: Request, identifier: str, changes: list[Change]) -> None:
    principal = await principal_of(request)
    assert principal is not None
    found = await queries.issue_detail(request.app.state.hub.engine, checked_identifier(identifier))
    if found is None:
        raise NotFoundException(f"no issue {identifier}")
    # The store's one writer of changes, as the API's triage: conditional in SQL, on the timeline.
    await request.app.state.hub.store.apply(issue_view(found), changes, principal.actor)


@post("/issues/{identifier:str}/triage", tags=["console"], summary="Triage from the console",
      opt=scope_opt("write"), include_in_schema=False, status_code=303)
async def triage(request: Request, identifier: FromPath[str], data: Form) -> Response:
    """Apply the triage form (status, priority, assignee) and go back to the issue."""
    fields: dict[str, Any] = {}
    for name in ("status", "priority"):
        if data.get(name):
            fields[name] = data[name]
    if "assignee" in data:
        fields["assignee"] = str(data["assignee"]).strip() or None
    if fields:
        await _apply(request, identifier, triage_changes(fields))
    return Redirect(f"/issues/{identifier}", status_code=303)


@post("/issues/{identifier:str}/comment", tags=["console"], summary="Comment from the console",
      opt=scope_opt("write"), include_in_schema=False, status_code=303)
async def comment(request: Request, identifier: FromPath[str], data: Form) -> Response:
    """Add the comment form's text as a comment by the signed-in person."""
    body = str(data.get("body") or "")
    if not body.strip() or len(body) > MAX_COMMENT:
        raise ClientException(f"a comment is non-empty text of at most {MAX_COMMENT} characters")
    await _apply(request, identifier, [Change("comment", text=body)])
    return Redirect(f"/issues/{identifier}#comments", status_code=303)


@get("/deliveries", tags=["console"], summary="The delivery log", opt=scope_opt("read"), include_in_schema=False)
async def deliveries(request: Request, source: FromQuery[str | None] = None, outcome: FromQuery[str | None] = None,
                     since: FromQuery[str | None] = None, after: FromQuery[str | None] = None) -> Response:
    """The delivery log, newest first: filters by source, outcome and time; keyset pages."""
    source, outcome = _text("source", source), _choice("outcome", outcome, OUTCOMES)
    since = _choice("since", since, SINCE)
    result = await _page_of(queries.list_deliveries(
        request.app.state.hub.engine, source=source, outcome=outcome,
        since=utcnow() - SINCE[since] if since else None, cursor=_cursor(after)))
    query = {name: value for name, value in (("source", source), ("outcome", outcome), ("since", since)) if value}
    next_url = f"/deliveries?{urlencode({**query, 'after': result.next_cursor})}" if result.next_cursor else None
    return page("deliveries.html", **await _context(request, "deliveries"), page=result, outcomes=OUTCOMES,
                sources=sorted(request.app.state.hub.sources), since_choices=list(SINCE),
                filters={"source": source, "outcome": outcome, "since": since}, next_url=next_url,
                first_url=f"/deliveries?{urlencode(query)}", paged=bool(after))


def _delivery_id(value: str) -> str:
    if len(value) > 64 or not value.isprintable():
        raise ClientException("malformed delivery id")
    return value


async def _delivery_page(request: Request, delivery_id: str, **extra: Any) -> Response:
    hub = request.app.state.hub
    found = await queries.delivery(hub.engine, _delivery_id(delivery_id))
    if found is None:
        raise NotFoundException(f"no delivery {delivery_id}")
    secrets = hub.settings.secrets
    # Stored headers are an allow-list already; configured secrets and token shapes are masked
    # again here in case a sender put one in a header that is kept.
    headers = {name: redact(str(value), secrets) for name, value in (found["headers"] or {}).items()}
    body = found["body"]
    pretty = body
    if body:
        try:
            pretty = json.dumps(json.loads(body), indent=2, ensure_ascii=False)
        except ValueError:
            pass
    return page("delivery.html", **await _context(request, "deliveries"), delivery=found, headers=headers,
                body=redact(pretty, secrets) if pretty else pretty,
                answer=json.dumps(found["response"], indent=2, ensure_ascii=False) if found["response"] else "",
                replayable=_replayable(found), source_known=found["source"] in hub.sources, **extra)


def _replayable(row: dict[str, Any]) -> bool:
    # Only a delivery the hub accepted (its signature checked then) goes through again unsigned:
    # replaying a 401's body would let anyone's unsigned body in through an admin's click.
    return bool(row["body"]) and row["status"] == 200


@get("/deliveries/{delivery_id:str}", tags=["console"], summary="One delivery", opt=scope_opt("read"),
     include_in_schema=False)
async def delivery(request: Request, delivery_id: FromPath[str]) -> Response:
    """A delivery: stored headers (redacted), its body, the answer, replay and dry run."""
    return await _delivery_page(request, delivery_id)


async def _stored(request: Request, delivery_id: str) -> tuple[Any, dict[str, Any]]:
    hub = request.app.state.hub
    found = await queries.delivery(hub.engine, _delivery_id(delivery_id))
    if found is None:
        raise NotFoundException(f"no delivery {delivery_id}")
    source = hub.sources.get(found["source"])
    if source is None:
        raise ClientException(f"no plugin serves the source {found['source']!r} now", status_code=409)
    if not found["body"]:
        raise ClientException("this delivery's body was not kept", status_code=409)
    return source, found


def _replay_headers(row: dict[str, Any], source: Any) -> dict[str, str]:
    dropped = {*_REQUEST_ID_HEADERS, *source.delivery_id_headers}
    headers = {name: str(value) for name, value in (row["headers"] or {}).items() if name not in dropped}
    headers.setdefault("content-type", "application/json")
    return headers


@post("/deliveries/{delivery_id:str}/dry-run", tags=["console"], summary="Dry-run a stored delivery",
      opt=scope_opt("write"), include_in_schema=False, status_code=200)
async def dry_run_delivery(request: Request, delivery_id: FromPath[str]) -> Response:
    """What the current config and plugins would do with this delivery; nothing written."""
    source, found = await _stored(request, delivery_id)
    result = await dry_run(request.app.state.hub, source, _replay_headers(found, source), found["body"].encode())
    return await _delivery_page(request, delivery_id, dry_run=result)


@post("/deliveries/{delivery_id:str}/replay", tags=["console"], summary="Replay a stored delivery",
      opt=scope_opt("admin"), include_in_schema=False, status_code=200)
async def replay(request: Request, delivery_id: FromPath[str]) -> Response:
    """Push the stored body through the pipeline again (a new delivery-log row); show the answer."""
    source, found = await _stored(request, delivery_id)
    if not _replayable(found):
        raise ClientException("only a delivery answered 200 is replayed (its signature was checked then)",
                              status_code=409)
    principal = await principal_of(request)
    hub = request.app.state.hub
    answer = await handle_webhook(hub, source, _replay_headers(found, source), found["body"].encode(), verified=True)
    log.info("Delivery %s replayed by %s: %s", delivery_id, principal.actor if principal else "?", answer.outcome)
    hub.notify_jobs()
    return await _delivery_page(request, delivery_id, replayed={"status": answer.status, "outcome": answer.outcome,
                                                                "body": json.dumps(answer.body, indent=2)})


@get("/jobs", tags=["console"], summary="Jobs", opt=scope_opt("read"), include_in_schema=False)
async def jobs(request: Request, status: FromQuery[str | None] = None, after: FromQuery[str | None] = None) -> Response:
    """The outbox: queued, running, failed (attempts, last error), done; retry and cancel."""
    status = _choice("status", status, JOB_STATUSES)
    result = await _page_of(queries.list_jobs(request.app.state.hub.engine, status=status, cursor=_cursor(after)))
    query = {"status": status} if status else {}
    next_url = f"/jobs?{urlencode({**query, 'after': result.next_cursor})}" if result.next_cursor else None
    return page("jobs.html", **await _context(request, "jobs"), page=result, statuses=JOB_STATUSES, status=status,
                next_url=next_url, first_url=f"/jobs?{urlencode(query)}", paged=bool(after))


def _job_id(value: str) -> str:
    if len(value) > 64 or not value.isprintable():
        raise ClientException("malformed job id")
    return value


@post("/jobs/{job_id:str}/retry", tags=["console"], summary="Retry a job now", opt=scope_opt("admin"),
      include_in_schema=False, status_code=303)
async def retry(request: Request, job_id: FromPath[str]) -> Response:
    """Queue the job again now, with fresh attempts (not a running one)."""
    hub = request.app.state.hub
    await retry_jobs(hub.engine, [_job_id(job_id)])
    hub.notify_jobs()
    return Redirect("/jobs", status_code=303)


@post("/jobs/{job_id:str}/cancel", tags=["console"], summary="Cancel a job", opt=scope_opt("admin"),
      include_in_schema=False, status_code=303)
async def cancel(request: Request, job_id: FromPath[str]) -> Response:
    """Cancel a queued or failed job: it is never run again."""
    await cancel_jobs(request.app.state.hub.engine, [_job_id(job_id)])
    return Redirect("/jobs", status_code=303)


CONSOLE_HANDLERS = [overview, issues, issue, triage, comment, deliveries, delivery, dry_run_delivery, replay, jobs,
                    retry, cancel]
