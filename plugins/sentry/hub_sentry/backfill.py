"""Backfill and reconcile: what Sentry said while the hub could not hear it.

Sentry does not retry an internal integration's webhook: a delivery the hub missed is lost. This
lists the organisation's issues seen in a window (Sentry's ``lastSeen``) and, for each, builds
the delivery Sentry would have sent and pushes it through the hub's pipeline (``hub.Pipeline``):
the same filters, dedupe, description, delivery log and outbox jobs as the webhook.

- An issue the hub does not track: ``created`` (or ``unresolved`` with its substatus, for a
  regression or an escalation), so the project filters and the substatus rules decide as for
  the webhook (an ``ongoing`` one is skipped with the webhook's reason). Resolved or archived
  in Sentry: never created (a resolve of an untracked issue changes nothing).
- An issue the hub tracks: only where the states differ. Resolved (or archived) in Sentry and
  open here: the ``resolved`` (``ignored``) delivery, so ``auto_resolve`` and ``archived`` decide;
  regressed or escalating in Sentry and closed here: the ``unresolved`` one (reopen and comment).
  A second run finds nothing to do.

The REST API's issue is the object Sentry's webhooks carry as ``data.issue``: the webhook
serializes the group (``_process_resource_change``: ``data["issue"] = serialize(group)``) and the
list uses a subclass of that serializer that adds stats, both camelCase (only events differ:
snake_case frames in a webhook, camelCase from the API). So it is passed through as it is.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Callable, Mapping

from hub import IssueView, Pipeline

from hub_sentry.api import SentryApi, SentryError
from hub_sentry.installation import current
from hub_sentry.payload import mapping, text
from hub_sentry.settings import SentrySettings

__all__ = ["Tally", "delivery_for", "reconcile", "stats_period"]

log = logging.getLogger("hub.sentry.backfill")
_REGRESSIONS = ("regressed", "escalating")
#: Issues pushed through the pipeline at once.
CONCURRENCY = 8
_UNITS = ((7 * 86400, "w"), (86400, "d"), (3600, "h"), (60, "m"), (1, "s"))


@dataclass
class Tally:
    """What a run did: issues seen, created, updated, unchanged, and skipped with why."""

    seen: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: Counter = field(default_factory=Counter)
    #: Issues listed so far (the progress bar's total grows as pages arrive).
    listed: int = 0

    def summary(self) -> str:
        """One line: ``sentry backfill: 42 seen, 20 created, 2 updated, 18 unchanged, 2 skipped (...)``."""
        skipped = sum(self.skipped.values())
        why = "; ".join(f"{count} {reason}" for reason, count in self.skipped.most_common())
        return (f"{self.seen} seen, {self.created} created, {self.updated} updated, {self.unchanged} unchanged, "
                f"{skipped} skipped" + (f" ({why})" if why else ""))


def stats_period(since: timedelta) -> str:
    """A window as Sentry's ``statsPeriod`` takes it: ``24h``, ``7d``, ``90m``."""
    seconds = max(1, int(since.total_seconds()))
    return next(f"{seconds // size}{unit}" for size, unit in _UNITS if seconds % size == 0)


def delivery_for(issue: Mapping[str, Any], tracked: IssueView | None) -> tuple[str | None, str]:
    """(the action Sentry would have delivered, or None; why) for an issue as the API lists it."""
    status = text(issue.get("status")) or ""
    substatus = text(issue.get("substatus"))
    if tracked is None:
        if status == "resolved":
            return None, "resolved in Sentry, never tracked"
        if status == "ignored":
            return None, "archived in Sentry, never tracked"
        if status != "unresolved":
            return None, f"status {status or 'missing'} in Sentry"
        return ("unresolved" if substatus in _REGRESSIONS else "created"), "new to the hub"
    if tracked.status == "open" and status in ("resolved", "ignored"):
        return status, f"{status} in Sentry, open here"
    if tracked.status == "closed" and status == "unresolved" and substatus in _REGRESSIONS:
        return "unresolved", f"{substatus} in Sentry, closed here"
    return None, "in step"


def _body(issue: Mapping[str, Any], action: str, installation: str | None) -> bytes:
    payload: dict[str, Any] = {"action": action, "data": {"issue": dict(issue)}}
    if installation:
        payload["installation"] = {"uuid": installation}
    return json.dumps(payload, ensure_ascii=False).encode()


async def reconcile(pipeline: Pipeline, since: timedelta, project: str | None = None,
                    progress: Callable[[Tally], None] | None = None, api: SentryApi | None = None) -> Tally:
    """Bring the hub up to date with the issues Sentry saw within ``since``; the tally.

    Raises SentryError (in words) when Sentry cannot be asked: a token it refuses or without
    ``event:read``, an unknown organisation or project, an answer that is not JSON.
    """
    settings: SentrySettings = pipeline.settings.plugin("sentry")
    api = api or SentryApi(pipeline.http, settings)
    scopes = await api.scopes()
    if scopes is not None and not {"event:read", "event:write", "event:admin"} & set(scopes):
        raise SentryError(f"the Sentry token lacks event:read (it has: {', '.join(sorted(scopes)) or 'no scope'})")
    project_id = await api.project_id(project) if project else None
    installation = await current(pipeline.cache)
    run = f"backfill-{uuid.uuid4().hex[:12]}"
    tally = Tally()
    # Issues are independent of each other: a few at a time let the store write them together
    # (group commit) instead of one round trip after another.
    slots = asyncio.Semaphore(CONCURRENCY)

    async def one(issue: Any) -> None:
        async with slots:
            await _one(pipeline, mapping(issue), installation, run, tally)
        if progress is not None:
            progress(tally)

    async for page in api.issues(stats_period(since), project_id):
        tally.listed += len(page)
        await asyncio.gather(*(one(issue) for issue in page))
    log.info("[Sentry backfill] %s", tally.summary())
    return tally


async def _one(pipeline: Pipeline, issue: Mapping[str, Any], installation: str | None, run: str, tally: Tally) -> None:
    tally.seen += 1
    issue_id = text(issue.get("id"))
    if not issue_id:
        tally.skipped["listed without an id"] += 1
        return
    action, why = delivery_for(issue, await pipeline.linked("sentry", issue_id))
    if action is None:
        if why == "in step":
            tally.unchanged += 1
        else:
            tally.skipped[why] += 1
        return
    # Marked in the delivery log: which run brought it (the delivery-id header Sentry's own use).
    headers = {"sentry-hook-resource": "issue", "request-id": f"{run}-{issue_id}"}
    answer = await pipeline.deliver("sentry", headers, _body(issue, action, installation))
    if answer.status != 200:
        tally.skipped[f"refused: {answer.body.get('error', answer.status)}"] += 1
    elif answer.outcome == "created":
        tally.created += 1
    elif answer.changes:
        tally.updated += 1
    elif answer.outcome == "skipped":
        tally.skipped[str(answer.body.get("reason", "skipped"))] += 1
    else:
        tally.unchanged += 1
