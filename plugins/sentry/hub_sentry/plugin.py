"""Sentry source plugin: signed ``issue`` webhooks become deduplicated, well-described issues."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime
from typing import Any, Mapping

import httpx

from hub import Change, Decision, IssueDraft, IssueView, LinkView, ReceivedDelivery, Source, Verdict, hookimpl
from hub import Cache, Command, Periodic, Settings, Sink
from hub import parse_datetime

from hub_sentry.alerts import (
    METRIC_PREFIX,
    EventAlert,
    MetricAlert,
    event_issue_payload,
    metric_alert_draft,
    read_event_alert,
    read_metric_alert,
)
from hub_sentry.components.endpoints import ENDPOINTS
from hub_sentry.components.rule_settings import apply_to_changes, apply_to_draft, settings_of_delivery
from hub_sentry.components.schema import schema_command
from hub_sentry import syncback
from hub_sentry.api import RateLimited
from hub_sentry.commands import BACKFILL, periodic_reconcile
from hub_sentry.decisions import PREFIX, decide
from hub_sentry.installation import decide_installation, noted
from hub_sentry.issue import build_draft
from hub_sentry.lifecycle import event_alert_changes, issue_changes, map_assignee, metric_alert_changes
from hub_sentry.payload import IssuePayload, mapping, read_issue_payload, resource_of
from hub_sentry.settings import CONFIG_SECTION, SentrySettings
from hub_sentry.signature import check_signature, check_timestamp
from hub_sentry.stack import api_frames, order_paths, payload_filename, payload_frames

log = logging.getLogger("hub.sentry")

SOURCE = Source(
    name="sentry",
    description="Sentry webhook endpoint for automatic issue creation",
    supported_events=(
        "issue.created (substatus=new)",
        "issue.unresolved (substatus=regressed)",
        "issue.unresolved (substatus=escalating)",
    ),
    log_prefix=PREFIX,
    # Sentry signs only the body: a captured delivery re-sent with a fresh timestamp and
    # Request-ID is still the same delivery, and is applied once.
    unique_bodies=True,
    delivery_id_headers=("request-id",),
    # Which resource, and when it was signed, say what a delivery was.
    kept_headers=("sentry-hook-resource", "sentry-hook-timestamp"),
    secret_headers=("sentry-hook-signature",),
)


def _settings(config: Settings) -> SentrySettings:
    return config.plugin("sentry")


@hookimpl
def register_config():
    """``[sentry]`` and ``[sentry.projects]``; secrets SENTRY_CLIENT_SECRET and SENTRY_AUTH_TOKEN."""
    return CONFIG_SECTION


@hookimpl
def register_sources():
    """``/api/sentry/webhook``."""
    return [SOURCE]


@hookimpl
def register_endpoints():
    """What Sentry's UI components call: ``/api/sentry/issue-link/{create,link,search}``,
    ``/api/sentry/alert-rule-action``, ``/api/sentry/stacktrace-link`` (hub_sentry.components)."""
    return ENDPOINTS


@hookimpl(specname="register_commands")
def register_schema_command():
    """``hub sentry schema``: the UI-component schema to paste into the integration (beside the
    other ``hub sentry`` commands, registered on their own)."""
    return [schema_command()]


@hookimpl
def check_config(config: Settings) -> list[str]:
    """No secret: refuse to start if ``require_signature``, else warn loudly that anyone can post.
    Also: what asks Sentry's API without a token and organisation (fatal), and why hub issues
    will not be linked in Sentry when they could be (said once, at start)."""
    settings = _settings(config)
    problems = _api_problems(settings)
    if (unlinked := syncback.links_unreachable(config)) is not None:
        log.info("[Sentry sync] %s", unlinked)
    if settings.client_secret is not None:
        return problems
    if settings.require_signature:
        return [*problems, "[sentry] require_signature is true but SENTRY_CLIENT_SECRET is not set"]
    log.warning("%s SENTRY_CLIENT_SECRET is not set: signature verification is DISABLED and anyone "
                "who can reach /api/sentry/webhook can create issues. Set it in production.", PREFIX)
    return problems


def _api_problems(settings: SentrySettings) -> list[str]:
    """What asks Sentry's API without the means to: fatal at start, in one line each (a token
    Sentry refuses is not known here: the worker's check and the jobs say it, the hub runs on)."""
    wanted = [name for name, on in (("sync_back", settings.sync_back),
                                    ("reconcile_interval_minutes", settings.reconcile_interval_minutes)) if on]
    if wanted and not settings.api_ready:
        return [f"[sentry] {' and '.join(wanted)} ask Sentry's API: set SENTRY_AUTH_TOKEN and SENTRY_ORG "
                f"(or [sentry] organization)"]
    return []


@hookimpl
def exposure_problems(config: Settings) -> list[str]:
    """Unsigned webhooks are only for this machine, unless ``[sentry] allow_unsigned`` says otherwise."""
    settings = _settings(config)
    if settings.client_secret is None and not settings.allow_unsigned:
        return ["SENTRY_CLIENT_SECRET is not set, so anyone who reaches /api/sentry/webhook could create issues "
                "(set it, or [sentry] allow_unsigned = true)"]
    return []


@hookimpl
def verify_webhook(source: str, headers: Mapping[str, str], body: bytes, config: Settings) -> Verdict | None:
    """HMAC-SHA256 of the raw body, then the timestamp's age; skipped (loudly, at start) without a secret."""
    if source != "sentry":
        return None
    settings = _settings(config)
    if settings.client_secret is None:
        return Verdict(True, "signature verification disabled")
    problem = check_signature(body, headers.get("sentry-hook-signature"), settings.client_secret.get_secret_value())
    problem = problem or check_timestamp(headers.get("sentry-hook-timestamp"), settings.max_timestamp_skew_seconds)
    return Verdict(problem is None, problem or "")


@hookimpl
def accept_webhook(source: str, headers: Mapping[str, str], payload: Any, config: Settings) -> Decision | None:
    """The seed's event tables and the project filter."""
    if source != "sentry":
        return None
    database = config.database.url
    if headers.get("sentry-hook-resource") == "installation":
        return decide_installation(payload, database)
    decision = decide(headers, payload, _settings(config))
    # Every delivery names the installation: the sink files external issues under it.
    return decision if decision.kind == "reject" else noted(decision, payload, database)


def _read(delivery: ReceivedDelivery | None, kind: type, reader: Any, payload: Any) -> Any:
    """What accept_webhook read (``delivery.parsed``) when it is of ``kind``, else ``reader(payload)``
    (called with ``delivery=None``: the plugin's unit tests)."""
    parsed = delivery.parsed if delivery is not None else None
    return parsed if isinstance(parsed, kind) else reader(payload)


@hookimpl
def build_issue(source: str, payload: Any, config: Settings, delivery: ReceivedDelivery | None) -> IssueDraft | None:
    """Title ``[project] title``, the seed's priority map and description, the Sentry label.

    A metric alert makes one issue per incident; an event alert for an issue the hub does not
    track yet makes that issue from the event.
    """
    if source != "sentry":
        return None
    settings = _settings(config)
    kind = resource_of(payload)
    if kind == "metric_alert":
        # The alert rule's own settings (the hub's alert-rule action) decide over the defaults.
        return apply_to_draft(metric_alert_draft(_read(delivery, MetricAlert, read_metric_alert, payload)),
                              settings_of_delivery(payload, kind))
    if kind == "event_alert":
        # The event becomes an issue payload of its own, read once here.
        parsed = read_issue_payload(event_issue_payload(_read(delivery, EventAlert, read_event_alert, payload)))
    else:
        parsed = _read(delivery, IssuePayload, read_issue_payload, payload)
    draft = build_draft(parsed, settings, config.hub.tz)
    if settings.sync_assignees and settings.assignees and parsed.issue.get("assignedTo"):
        # An "assigned" that arrived before the issue existed was skipped; the creation carries it.
        agent, _shown = map_assignee(parsed.issue.get("assignedTo"), settings)
        if agent is not None:
            draft = replace(draft, assignee=agent)
    return apply_to_draft(draft, settings_of_delivery(payload, kind))


@hookimpl
def external_update(source: str, payload: Any, issue: IssueView, config: Settings,
                    delivery: ReceivedDelivery | None) -> list[Change] | None:
    """Lifecycle sync: resolve, regress/escalate, assign, archive; alert incidents and rules firing."""
    if source != "sentry":
        return None
    settings = _settings(config)
    kind = resource_of(payload)
    if kind == "metric_alert":
        return apply_to_changes(metric_alert_changes(_read(delivery, MetricAlert, read_metric_alert, payload), issue),
                                issue, settings_of_delivery(payload, kind))
    if kind == "event_alert":
        return apply_to_changes(event_alert_changes(_read(delivery, EventAlert, read_event_alert, payload)),
                                issue, settings_of_delivery(payload, kind))
    return issue_changes(_read(delivery, IssuePayload, read_issue_payload, payload), issue, settings)


@hookimpl
async def stack_files(link: LinkView, payload: Any, config: Settings, http: httpx.AsyncClient) -> list[str] | None:
    """Stack paths from the delivery and, with a token and organisation, from the latest event.

    Sentry's rate limit raises RetryLater at the time Sentry names (the enrichment waits for the
    frames rather than being written once without them); any other failure of the API is logged
    and the delivery's own paths are used.
    """
    if link.source != "sentry" or link.external_id.startswith(METRIC_PREFIX):
        return None
    try:
        fetched = await api_frames(http, _settings(config), link.external_id)
    except RateLimited as exc:
        # The worker logs the retry with this reason ("cannot read the latest event of issue ...").
        raise exc.retry_later() from None
    frames = payload_frames(payload) + fetched
    filename = payload_filename(payload)
    return order_paths(frames, [filename] if filename else [])


@hookimpl
def code_project(link: LinkView) -> str | None:
    """The Sentry project's slug, kept in the link's metadata when the issue was made."""
    if link.source != "sentry":
        return None
    project = (link.metadata or {}).get("project")
    slug = project.get("slug") if isinstance(project, Mapping) else None
    return slug if isinstance(slug, str) and slug else None


@hookimpl
def first_seen(link: LinkView, payload: Any) -> datetime | None:
    """``data.issue.firstSeen`` of the delivery that created the issue."""
    if link.source != "sentry":
        return None
    data = mapping(mapping(payload).get("data"))
    if link.external_id.startswith(METRIC_PREFIX):
        return parse_datetime(mapping(data.get("metric_alert")).get("date_started"))
    if "event" in data and "issue" not in data:
        return parse_datetime(mapping(data.get("event")).get("datetime"))
    return parse_datetime(mapping(data.get("issue")).get("firstSeen"))


@hookimpl
def register_sinks(config: Settings | None) -> list[Sink]:
    """The ``sentry`` sink (the link in Sentry, status back) while it has something to do."""
    if config is None or syncback.enabled(config):
        return [syncback.SINK]
    return []


# Synchronous hookimpls that return a coroutine only for their own sink: another sink's job
# never makes (and leaves un-awaited) a coroutine of this plugin.
@hookimpl
def check_sink(sink: str, config: Settings, http: httpx.AsyncClient) -> Any:
    """At the worker's start: the token's scopes (``GET /api/0/``) and the organisation answer."""
    if sink != syncback.SINK.name:
        return None
    return syncback.check(config, http)


@hookimpl
def publish_issue(sink: str, issue: IssueView, link: LinkView | None, changes: list[Change],
                  config: Settings, http: httpx.AsyncClient, cache: Cache) -> Any:
    """Link the Sentry issue to the hub's, and send its status back (hub_sentry.syncback)."""
    if sink != syncback.SINK.name:
        return None
    return syncback.publish(issue, link, changes, config, http, cache)


@hookimpl
def register_commands() -> list[Command]:
    """``hub sentry backfill``."""
    return [BACKFILL]


@hookimpl
def register_periodic(config: Settings) -> list[Periodic]:
    """The reconcile with Sentry's API every ``[sentry] reconcile_interval_minutes`` (off by default)."""
    return periodic_reconcile(config)
