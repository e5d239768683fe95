"""Triage (scope ``write``): ``PATCH /api/issues/{identifier}`` and ``POST /api/issues/{identifier}/comments``.

The console will call the same routes. Every change goes through the store's ``Store.apply`` with
the caller as actor, so it lands on the issue's timeline like Sentry's changes do.
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from litestar import Request, patch, post
from litestar.exceptions import ClientException, NotFoundException
from litestar.params import FromPath, JSONBody

from hub.auth import scope_opt
from hub.auth.guard import principal_of
from hub.models import Issue
from hub.routes.issues import checked_identifier, load_issue_json
from hub.store import issue_view
from hub.types import Change

__all__ = ["add_comment", "triage_changes", "update_issue"]

ISSUES = Issue.__table__
_PRIORITY = re.compile(r"P[0-4]")
MAX_ASSIGNEE = 200
MAX_COMMENT = 65_536


def triage_changes(data: Any) -> list[Change]:
    """The changes a triage request asks for (``status``, ``priority``, ``assignee``); 400 when malformed.

    The API's JSON and the console's form both go through it.
    """
    if not isinstance(data, dict) or not data:
        raise ClientException("send a JSON object with status, priority and/or assignee")
    unknown = sorted(set(data) - {"status", "priority", "assignee"})
    if unknown:
        raise ClientException(f"unknown field {unknown[0]!r} (status, priority, assignee)")
    changes: list[Change] = []
    if "status" in data:
        if data["status"] not in ("open", "closed"):
            raise ClientException("status must be 'open' or 'closed'")
        changes.append(Change("close" if data["status"] == "closed" else "reopen"))
    if "priority" in data:
        if not isinstance(data["priority"], str) or not _PRIORITY.fullmatch(data["priority"]):
            raise ClientException("priority must be one of P0, P1, P2, P3, P4")
        changes.append(Change("priority", value=data["priority"]))
    if "assignee" in data:
        assignee = data["assignee"]
        if assignee is not None and (not isinstance(assignee, str) or not assignee.strip()
                                     or len(assignee) > MAX_ASSIGNEE or not assignee.isprintable()):
            raise ClientException(f"assignee must be null or printable text of at most {MAX_ASSIGNEE} characters")
        changes.append(Change("assign", value=assignee.strip() if assignee else None))
    return changes


async def _apply(request: Request, identifier: str, changes: list[Change]) -> list[dict[str, Any]]:
    principal = await principal_of(request)
    assert principal is not None  # the guard let the request through
    hub = request.app.state.hub
    async with hub.engine.connect() as connection:
        row = (await connection.execute(sa.select(ISSUES).where(ISSUES.c.identifier == identifier))).mappings().first()
    if row is None:
        raise NotFoundException(f"no issue {identifier}")
    # The store's one writer of changes (the webhook path's too): each change is conditional in
    # the database, so a view read a moment ago is enough, and the timeline row goes in with it.
    applied, _answer = await hub.store.apply(issue_view(row), changes, principal.actor)
    return applied


@patch("/api/issues/{identifier:str}", tags=["triage"], summary="Change status, priority or assignee",
       opt=scope_opt("write"))
async def update_issue(request: Request, identifier: FromPath[str], data: JSONBody[Any]) -> dict[str, Any]:
    """Apply ``{"status", "priority", "assignee"}`` (any of them); answer the issue and what changed."""
    identifier = checked_identifier(identifier)
    applied = await _apply(request, identifier, triage_changes(data))
    return {**await load_issue_json(request.app.state.hub.engine, identifier), "changed": applied}


@post("/api/issues/{identifier:str}/comments", tags=["triage"], summary="Comment on an issue",
      opt=scope_opt("write"), status_code=201)
async def add_comment(request: Request, identifier: FromPath[str], data: JSONBody[Any]) -> dict[str, Any]:
    """Add ``{"body": "..."}`` as a comment by the caller; answer the issue."""
    identifier = checked_identifier(identifier)
    body = data.get("body") if isinstance(data, dict) else None
    if not isinstance(body, str) or not body.strip() or len(body) > MAX_COMMENT:
        raise ClientException(f"body must be non-empty text of at most {MAX_COMMENT} characters")
    applied = await _apply(request, identifier, [Change("comment", text=body)])
    return {**await load_issue_json(request.app.state.hub.engine, identifier), "changed": applied}
