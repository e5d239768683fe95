"""Sinks: outside trackers (GitHub Issues, Linear, Jira) the hub publishes its issues to.

The outbox again: a new issue and every committed change queue one ``publish`` job per sink in
their own transaction (``hub.store.writes.publish_jobs``, which also keeps a sink's own changes
from echoing back to it); the worker runs them here, after the commit, never on a webhook's
path. The outside record is kept as the issue's link with ``source = <sink name>``, so the
sink's webhook source finds the issue by it (``Decision("update", external_id=...)``), and an
issue has at most one link per sink.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Iterable

import pluggy
import sqlalchemy as sa

from hub.config import ConfigError
from hub.models import new_id, utcnow
from hub.plugins import await_maybe
from hub.store import ISSUE_LABELS, ISSUES, JOBS, LABELS, LINKS, issue_view, link_view, storable
from hub.store.tables import decode_row
from hub.store.writes import PUBLISH, publish_jobs
from hub.types import Change, ExternalLinkDraft, IssueView, LinkView, Sink

if TYPE_CHECKING:
    from hub.runtime import Hub

__all__ = ["PUBLISH", "check_sinks", "publish", "queue_publish", "queue_sync", "registered_sinks"]

log = logging.getLogger("hub.sinks")


def registered_sinks(pm: pluggy.PluginManager, config: Any) -> list[Sink]:
    """Every sink the loaded plugins register for ``config`` (None: every sink they can serve);
    two with one name are a configuration error."""
    found: dict[str, Sink] = {}
    for result in pm.hook.register_sinks(config=config):
        for sink in result or []:
            if sink.name in found:
                raise ConfigError(f"two plugins register the sink {sink.name!r}")
            found[sink.name] = sink
    return list(found.values())


async def check_sinks(hub: "Hub") -> list[str]:
    """Ask each sink's plugin to check its tracker (``check_sink``); log and return the problems."""
    problems: list[str] = []
    for sink in hub.store.sinks:
        for result in hub.pm.hook.check_sink(sink=sink.name, config=hub.settings, http=hub.http, cache=hub.cache):
            try:
                found = await await_maybe(result) or []
            except Exception as exc:  # GitHub down at start: the jobs will say so, the hub runs on
                found = [f"could not be checked: {type(exc).__name__}: {exc}"]
            for problem in found:
                log.error("%s %s", sink.prefix, problem)
                problems.append(problem)
    return problems


async def queue_publish(connection: Any, issue_id: str, sinks: Iterable[Sink], changes: list[dict[str, Any]],
                        now: datetime) -> None:
    """Queue ``changes`` of ``issue_id`` for ``sinks`` on an open SQLAlchemy transaction (the worker's
    writes, e.g. a description enrichment rewrote)."""
    rows = publish_jobs(issue_id, sinks, changes, now)
    if rows:
        await connection.execute(sa.insert(JOBS), rows)


async def _issue(connection: Any, issue_id: str) -> IssueView | None:
    row = (await connection.execute(sa.select(ISSUES).where(ISSUES.c.id == issue_id))).mappings().first()
    return None if row is None else issue_view(decode_row(connection.dialect.name, (ISSUES,), row))


async def _links(connection: Any, issue_id: str) -> list[LinkView]:
    query = (sa.select(LINKS.c.source, LINKS.c.external_id, LINKS.c.external_url, LINKS.c.metadata)
             .where(LINKS.c.issue_id == issue_id).order_by(LINKS.c.created_at))
    rows = (await connection.execute(query)).mappings().all()
    return [link_view(decode_row(connection.dialect.name, (LINKS,), row)) for row in rows]


async def _link(connection: Any, issue_id: str, sink: str) -> LinkView | None:
    return next((link for link in await _links(connection, issue_id) if link.source == sink), None)


async def _labels(connection: Any, issue_id: str) -> list[str]:
    query = (sa.select(LABELS.c.name).join(ISSUE_LABELS, ISSUE_LABELS.c.label_id == LABELS.c.id)
             .where(ISSUE_LABELS.c.issue_id == issue_id).order_by(LABELS.c.name))
    return list((await connection.execute(query)).scalars())


async def _keep_link(hub: "Hub", issue_id: str, sink: str, draft: ExternalLinkDraft) -> bool:
    """Store the sink's link unless the issue has one for the sink already; whether it was stored.

    Jobs of one issue and sink run one at a time (``hub.jobs`` claims them in order), so the
    check and the insert cannot race each other; UNIQUE(source, external_id) still refuses one
    outside record linked to two issues.
    """
    async with hub.engine.begin() as connection:
        if await _link(connection, issue_id, sink) is not None:
            return False
        await connection.execute(sa.insert(LINKS).values(
            id=new_id(), issue_id=issue_id, source=sink, external_id=storable(draft.external_id),
            external_url=draft.external_url, metadata=dict(draft.metadata) if draft.metadata is not None else None,
            created_at=utcnow()))
    return True


async def publish(hub: "Hub", job: Any) -> str:
    """Run one ``publish`` job: hand the issue and the job's changes to the sink's plugin."""
    sink = job.source
    async with hub.engine.connect() as connection:
        issue = await _issue(connection, job.issue_id)
        if issue is None:
            return "issue no longer exists"
        links = await _links(connection, job.issue_id)
        labels = await _labels(connection, job.issue_id)
    link = next((found for found in links if found.source == sink), None)
    # The project the issue's records belong to, by the code_project contract (the sink needs no
    # other plugin's link metadata to choose where the issue goes).
    project = next((named for found in links if found.source != sink
                    for named in [hub.pm.hook.code_project(link=found, payload=None, config=hub.settings)] if named),
                   None)
    changes = [Change(kind=entry["kind"], text=entry.get("text") or "", value=entry.get("value"),
                      actor=entry.get("actor")) for entry in (job.payload or {}).get("changes", [])]
    created: ExternalLinkDraft | None = None
    answered = False
    for result in hub.pm.hook.publish_issue(sink=sink, issue=issue, link=link, links=links, changes=changes,
                                            labels=labels, project=project, config=hub.settings, http=hub.http,
                                            cache=hub.cache):
        outcome = await await_maybe(result)
        answered = answered or outcome is not None
        if isinstance(outcome, ExternalLinkDraft):
            created = outcome
    if created is not None and link is None:
        await _keep_link(hub, job.issue_id, sink, created)
        return f"published as {created.external_id}" + (f"; {len(changes)} change(s)" if changes else "")
    if link is None and created is None:
        return f"no plugin published to sink {sink!r}" if not answered else "nothing published"
    kinds = ", ".join(change.kind for change in changes)
    return f"{kinds or 'nothing'} published to {link.external_id if link else sink}"


async def queue_sync(hub: "Hub", sink: str, since: timedelta) -> list[str]:
    """Queue a ``publish`` job for every issue made within ``since`` that has no link for ``sink``
    and no publish job waiting for it; return the new jobs' ids (oldest issue first)."""
    now = utcnow()
    waiting = sa.select(JOBS.c.issue_id).where(JOBS.c.kind == PUBLISH, JOBS.c.source == sink,
                                               JOBS.c.status.in_(("queued", "running")))
    linked = sa.select(LINKS.c.issue_id).where(LINKS.c.source == sink)
    query = (sa.select(ISSUES.c.id).where(ISSUES.c.created_at >= now - since, ISSUES.c.id.not_in(linked),
                                          ISSUES.c.id.not_in(waiting))
             .order_by(ISSUES.c.created_at, ISSUES.c.number))
    sinks = [found for found in hub.store.sinks if found.name == sink]
    ids: list[str] = []
    async with hub.engine.begin() as connection:
        for issue_id in (await connection.execute(query)).scalars():
            rows = publish_jobs(issue_id, sinks, None, now)
            await connection.execute(sa.insert(JOBS), rows)
            ids.extend(row["id"] for row in rows)
    return ids
