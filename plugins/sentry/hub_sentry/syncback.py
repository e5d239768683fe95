"""The ``sentry`` sink: the hub's issue shown in Sentry, and its status sent back.

The sink has the source's name, so the host's no-echo rule keeps every change Sentry made (actor
``sentry``) from being queued back to it; what a person, a token or the GitHub mirror did is.
The sink's record is the Sentry issue itself (the source's link): nothing new is created there.

- The link: once per issue, ``POST /api/0/sentry-app-installations/{uuid}/external-issues/``
  with the hub issue's identifier and console URL (Sentry creates or updates it; the answer's
  id is kept in the shared cache, ``sentry.external-issue``, for removing it: the hub deletes no
  issues yet, so nothing removes it today).
- Status back (``[sentry] sync_back``): close resolves the Sentry issue, reopen unresolves it, an
  assignment is sent as the Sentry user or team ``[sentry.assignees]`` maps to the agent.

Sentry then sends its own ``resolved`` (or ``assigned``...) delivery, with the integration as
the actor: ``decisions`` skips it (the hub's own change, not a new one).
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Any, Mapping, Sequence
from urllib.parse import urlsplit

import httpx

from hub import Cache, Change, GiveUp, IssueView, LinkView, Settings, Sink, Unavailable

from hub_sentry.alerts import METRIC_PREFIX
from hub_sentry.api import RateLimited, SentryApi, SentryError, SentryUnavailable
from hub_sentry.installation import current
from hub_sentry.settings import SentrySettings
from hub_sentry.shown import shown_in_sentry

__all__ = ["LINKS", "SINK", "check", "enabled", "links_unreachable", "needed_scopes", "publish", "sentry_assignee"]

log = logging.getLogger("hub.sentry.syncback")
SINK = Sink(name="sentry", description="Sentry (the hub issue linked, its status sent back)",
            log_prefix="[Sentry sync]")
#: The shared cache's external issues made in Sentry, by hub issue id.
LINKS = "sentry.external-issue"


def links_unreachable(config: Settings) -> str | None:
    """Why hub issues are not linked in Sentry although they could be (the token, the
    organisation and ``link_issues`` are there), in one line; None when they are, or are not wanted."""
    settings: SentrySettings = config.plugin("sentry")
    if not settings.api_ready or not settings.link_issues or _links_on(config, settings):
        return None
    return (f"Hub issues are not linked in Sentry: the hub's address ({config.public_base()}) leads only to the "
            f"reader's own machine; set [hub] public_url to where people reach the hub")


def _links_on(config: Settings, settings: SentrySettings) -> bool:
    # The link's base is the host's (Settings.public_base: the one definition of which setting
    # wins, falling back to where `hub serve` listens). Shown in Sentry, a loopback or wildcard
    # address would lead every reader to their own machine, so then there is no link.
    return settings.link_issues and _reachable(config.public_base())


def _reachable(base: str) -> bool:
    host = urlsplit(base).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return bool(host)  # a name: whoever configured it means people to reach it
    return not (address.is_loopback or address.is_unspecified)


def enabled(config: Settings) -> bool:
    """Whether the sink has anything to do: a token and organisation, and the link or sync back on."""
    settings: SentrySettings = config.plugin("sentry")
    return settings.api_ready and (settings.sync_back or _links_on(config, settings))


def needed_scopes(config: Settings) -> list[str]:
    """The token scopes what is switched on needs (docs/sentry.md says why each)."""
    settings: SentrySettings = config.plugin("sentry")
    needed = ["event:read"]
    if settings.sync_back or _links_on(config, settings):
        needed.append("event:write")
    return needed


async def check(config: Settings, http: httpx.AsyncClient) -> list[str]:
    """The token's scopes against what is switched on, and that the organisation answers: problems, in words."""
    settings: SentrySettings = config.plugin("sentry")
    api = SentryApi(http, settings, max_wait=0)
    try:
        scopes = await api.scopes()
        # A cheap call the token must be able to make: the organisation exists and lists issues.
        await api.page(f"/api/0/organizations/{api.organization}/issues/",
                       {"query": "", "statsPeriod": "1h", "limit": 1},
                       what=f"read the organisation {settings.organization!r}", scope="event:read")
    except SentryError as exc:
        return [str(exc)]
    if scopes is None:
        return []  # Sentry did not say: the first write will, with its 403
    missing = [scope for scope in needed_scopes(config) if scope not in scopes and
               scope.replace(":write", ":admin") not in scopes]
    if missing:
        return [f"the Sentry token lacks {', '.join(missing)} (it has: {', '.join(sorted(scopes)) or 'no scope'}): "
                f"give the internal integration Issue & Event: Read & Write"]
    return []


def sentry_assignee(agent: str | None, settings: SentrySettings) -> tuple[bool, str | None]:
    """(known, what Sentry's ``assignedTo`` takes) for the hub agent: the first ``[sentry.assignees]``
    key mapping to it (an email or user name as it is, ``team:<slug>`` as it is); None unassigns."""
    if agent is None:
        return True, None
    for sentry_name, mapped in settings.assignees.items():
        if mapped == agent:
            return True, sentry_name
    return False, None


def _failure(exc: SentryError) -> Exception:
    """The job outcome a Sentry failure means: retry later, an outage, or give up with the reason."""
    if isinstance(exc, RateLimited):
        return exc.retry_later()
    if isinstance(exc, SentryUnavailable):
        return Unavailable(str(exc))
    return GiveUp(str(exc))


async def _ensure_link(api: SentryApi, cache: Cache, issue: IssueView, link: LinkView, config: Settings) -> str:
    made = await cache.get(LINKS, issue.id)
    installation = await current(cache)
    if isinstance(made, Mapping) and made.get("installation") == installation:
        return "linked already"
    if installation is None:
        return "no installation known yet (it comes with Sentry's next delivery)"
    answer = await api.link_external_issue(installation, link.external_id, config.issue_url(issue.identifier),
                                           *shown_in_sentry(issue.identifier))
    await cache.set(LINKS, issue.id, {"id": str(answer["id"]), "installation": installation,
                                      "sentry": link.external_id})
    log.info("[Sentry sync] %s linked in Sentry issue %s", issue.identifier, link.external_id)
    return "linked"


async def _send(api: SentryApi, issue: IssueView, link: LinkView, changes: Sequence[Change],
                settings: SentrySettings) -> list[str]:
    sent = []
    for change in changes:
        body: dict[str, Any] | None = None
        if change.kind == "close":
            body = {"status": "resolved"}
        elif change.kind == "reopen":
            body = {"status": "unresolved"}
        elif change.kind == "assign":
            known, assignee = sentry_assignee(change.value, settings)
            if not known:
                log.warning("[Sentry sync] %s: the agent %s has no Sentry name in [sentry.assignees]; not sent",
                            issue.identifier, change.value)
                continue
            body = {"assignedTo": assignee}
        if body is None:
            continue
        await api.update_issue(link.external_id, body)
        sent.append(change.kind)
    if sent:
        log.info("[Sentry sync] %s: %s sent to Sentry issue %s", issue.identifier, ", ".join(sent), link.external_id)
    return sent


async def publish(issue: IssueView, link: LinkView | None, changes: Sequence[Change], config: Settings,
                  http: httpx.AsyncClient, cache: Cache) -> None:
    """Link the Sentry issue to the hub issue (once) and send the changes back (``sync_back``)."""
    settings: SentrySettings = config.plugin("sentry")
    if link is None or link.external_id.startswith(METRIC_PREFIX):
        return None  # not from a Sentry issue (an alert incident, another source): nothing to show there
    api = SentryApi(http, settings, max_wait=0)  # the worker never sleeps on a rate limit: RetryLater
    try:
        if _links_on(config, settings):
            await _ensure_link(api, cache, issue, link, config)
        if settings.sync_back:
            await _send(api, issue, link, changes, settings)
    except SentryError as exc:
        raise _failure(exc) from None
    return None

