"""``EndpointContext``: what a plugin's endpoint handler may do with the running hub.

Issues are created through the webhook's own store call (one transaction: issue, link, labels,
jobs, delivery row; the UNIQUE link decides), so a record a plugin endpoint filed and a later
webhook delivery of the same record meet on one issue. Links are added or moved explicitly,
never doubled: UNIQUE(source, external_id) holds one record to one issue.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from typing import Any, Callable, Literal, Mapping

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from hub.delivery import Answer
from hub.ingest import applied_once, enrich_payload, received
from hub.models import new_id, utcnow
from hub.pipeline import Pipeline
from hub.plugins import await_maybe
from hub.services.queries import IssueFilters, list_issues
from hub.store import ISSUES, LINKS, issue_view, storable
from hub.store.tables import decode_row
from hub.types import Decision, EndpointError, EndpointRequest, ExternalLinkDraft, IssueDraft, IssueView

__all__ = ["EndpointContext", "Filed"]

log = logging.getLogger("hub.endpoints")


@dataclasses.dataclass(frozen=True)
class Filed:
    """What ``create_issue`` or ``link_issue`` did: the issue, the outcome, the answer logged.

    outcome: ``created``, ``deduplicated`` (the record was linked already: that issue),
    ``linked``, ``moved``, ``unchanged`` (linked to that issue already), or ``replayed`` (a request
    id seen before: ``body`` is the first answer and ``issue`` None).
    """

    issue: IssueView | None
    outcome: Literal["created", "deduplicated", "linked", "moved", "unchanged", "replayed"]
    body: Mapping[str, Any]


def _view(dialect: str, row: Mapping[str, Any]) -> IssueView:
    # The store's one reading of an issue row (times made aware, JSON parsed), as the sinks read it.
    return issue_view(decode_row(dialect, (ISSUES,), row))


class EndpointContext(Pipeline):
    """Handed to every endpoint handler (``register_endpoints``) with the request: the running hub's
    ``Pipeline`` (``settings``, ``http``, ``cache``, ``deliver``, ``linked``), and what a form or a
    lookup from another system needs besides (search, create, link)."""

    def issue_url(self, identifier: str) -> str:
        """The issue's page in the hub's console."""
        return self._hub.settings.issue_url(identifier)

    async def issue(self, identifier: str) -> IssueView | None:
        """The issue ``identifier`` (``CHIPP-5``, any case), or None."""
        if not identifier.isprintable():
            return None
        async with self._hub.engine.connect() as connection:
            row = (await connection.execute(sa.select(ISSUES).where(
                ISSUES.c.identifier == identifier.strip().upper()))).mappings().first()
        return None if row is None else _view(connection.dialect.name, row)

    async def search_issues(self, text: str | None, limit: int = 20) -> list[IssueView]:
        """Issues whose title contains ``text`` or whose identifier is ``text``, newest first
        (the API's ``q``); the newest ones when ``text`` is empty."""
        # What no database column holds (NUL, lone surrogates, controls) cannot match anything;
        # PostgreSQL would refuse the statement over it.
        text = re.sub(r"[\x00-\x1f\x7f\ud800-\udfff]", "", text or "").strip()[:200]
        filters = IssueFilters(q=text or None)
        page = await list_issues(self._hub.engine, filters, per_page=max(1, min(limit, 100)))
        return [_view(self._hub.engine.dialect.name, row) for row in page.rows]

    async def code_link(self, project: str | None, path: str, line: int | None, commit: str | None) -> str | None:
        """The web URL of ``path`` at ``line`` in ``project``'s repository (the ``code_link`` hook), or None."""
        for result in self._hub.pm.hook.code_link(project=project, path=path, line=line, commit=commit,
                                                  config=self._hub.settings, http=self._hub.http,
                                                  cache=self._hub.cache):
            url = await await_maybe(result)
            if url:
                return url
        return None

    def _delivery(self, source: str, request: EndpointRequest, payload: Any, decision: Decision) -> Any:
        known = self._hub.sources.get(source)
        if known is None:
            raise ValueError(f"{source!r} is not a registered webhook source")
        delivery = received(known, request.headers, request.body)
        delivery.payload = payload
        delivery.decision = decision
        return delivery

    async def create_issue(self, source: str, draft: IssueDraft, request: EndpointRequest, *, payload: Any,
                           summary: str, answer: Callable[[IssueView], Mapping[str, Any]]) -> Filed:
        """Create the issue ``draft`` describes, exactly as a webhook delivery of ``source`` would
        (link, labels, ``enrich`` job unless ``draft.enrich`` is False, ``publish`` jobs, and the
        request as a delivery row answered ``answer(issue)``), or find the issue already linked.

        ``payload`` is what enrichers get as the delivery (``stack_files``, ``first_seen``).
        A request whose id was seen (the source's delivery-id header) changes nothing: ``replayed``.
        """
        hub, store = self._hub, self._hub.store
        delivery = self._delivery(source, request, payload,
                                  Decision("create", external_id=draft.link.external_id, summary=summary))
        job_payload = enrich_payload(hub, draft, payload)

        async def write() -> Filed:
            new = await store.create_issue(source, draft, hub.settings.hub.issue_prefix, job_payload, delivery,
                                           lambda issue: Answer(200, storable(dict(answer(issue))), "created"))
            if new is not None:
                log.info("%s Created issue %s from %s", delivery.source.prefix, new.issue.identifier,
                         draft.log_name or draft.link.external_id)
                hub.notify_jobs()
                return Filed(new.issue, "created", new.answer.body)
            linked = await store.find_linked(source, draft.link.external_id)
            if linked is None:
                raise EndpointError(409, "the record was linked and unlinked meanwhile, try again")
            body = storable(dict(answer(linked.issue)))
            await store.record(delivery, Answer(200, body, "deduplicated"), linked.issue.id)
            return Filed(linked.issue, "deduplicated", body)

        # The webhook's rule for a delivery seen before (hub.ingest.applied_once).
        return await applied_once(hub, delivery, write, lambda earlier: Filed(None, "replayed", earlier))

    async def link_issue(self, source: str, link: ExternalLinkDraft, identifier: str, request: EndpointRequest, *,
                         move: bool, summary: str, answer: Callable[[IssueView], Mapping[str, Any]]) -> Filed:
        """Link the record ``(source, link.external_id)`` to the existing issue ``identifier``.

        A record linked to another issue stays there unless ``move`` (EndpointError 409 naming
        it); linked to this one already: ``unchanged``. Unknown issue: EndpointError 404. The
        request is logged as a delivery answered ``answer(issue)``; a request id seen before
        changes nothing (``replayed``).
        """
        hub = self._hub
        delivery = self._delivery(source, request, None, Decision("update", external_id=link.external_id,
                                                                   summary=summary))
        if delivery.request_id:
            earlier = await hub.store.earlier_response(source, delivery.request_id)
            if earlier is not None:
                return Filed(None, "replayed", earlier)
        external_id = storable(link.external_id)
        if not identifier.isprintable():
            raise EndpointError(404, "no such issue in the hub")
        async with hub.engine.begin() as connection:
            row = (await connection.execute(sa.select(ISSUES).where(
                ISSUES.c.identifier == identifier.strip().upper()))).mappings().first()
            if row is None:
                raise EndpointError(404, f"no issue {identifier.strip().upper()[:40]} in the hub")
            target = _view(connection.dialect.name, row)
            outcome = await _link_or_move(connection, source, external_id, link, target, move)
        body = storable(dict(answer(target)))
        await hub.store.record(delivery, Answer(200, body, outcome), target.id)
        hub.store.recent_links.add((source, external_id))
        log.info("%s %s %s %s to %s", delivery.source.prefix, outcome.capitalize(), source, external_id,
                 target.identifier)
        return Filed(target, outcome, body)


async def _link_or_move(connection: Any, source: str, external_id: str, link: ExternalLinkDraft, target: IssueView,
                        move: bool) -> Literal["linked", "moved", "unchanged"]:
    """One transaction: insert the link, or find where it is and move it (only if asked)."""
    module = postgresql if connection.dialect.name == "postgresql" else sqlite
    metadata = storable(dict(link.metadata)) if link.metadata is not None else None
    inserted = await connection.execute(module.insert(LINKS).values(
        id=new_id(), issue_id=target.id, source=source, external_id=external_id, external_url=link.external_url,
        metadata=metadata, created_at=utcnow()).on_conflict_do_nothing(index_elements=["source", "external_id"]))
    if inserted.rowcount == 1:
        return "linked"
    current = (await connection.execute(
        sa.select(LINKS.c.issue_id, ISSUES.c.identifier).join(ISSUES, ISSUES.c.id == LINKS.c.issue_id)
        .where(LINKS.c.source == source, LINKS.c.external_id == external_id))).first()
    if current is None:
        raise EndpointError(409, "the record was unlinked meanwhile, try again")
    if current.issue_id == target.id:
        return "unchanged"
    if not move:
        raise EndpointError(409, f"already linked to {current.identifier}: choose to move the link to "
                                 f"{target.identifier} to change it")
    moved = await connection.execute(
        sa.update(LINKS).where(LINKS.c.source == source, LINKS.c.external_id == external_id,
                               LINKS.c.issue_id == current.issue_id)
        .values(issue_id=target.id, external_url=link.external_url, metadata=metadata))
    if moved.rowcount != 1:
        raise EndpointError(409, "the link changed meanwhile, try again")
    return "moved"
