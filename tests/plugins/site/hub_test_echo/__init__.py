"""A third-party source plugin, installed only for the test suite (through its dist-info entry point).

It uses every hook, with nothing but ``from hub import ...``: whatever the built-in plugins do, a
stranger's plugin can do too. Payload: ``{"id": "x", "title": "...", "action": "open|close|comment",
"files": [...], "first_seen": "ISO time", "text": "..."}``.
"""

from __future__ import annotations

import asyncio
import hmac
import time

from pydantic import BaseModel, ConfigDict

from hub import (
    Change,
    ConfigSection,
    Decision,
    ExternalLinkDraft,
    IssueDraft,
    LabelDraft,
    RetryLater,
    Section,
    Sink,
    Source,
    Verdict,
    hookimpl,
)
from hub import parse_datetime


class EchoSettings(BaseModel):
    """``[echo]``: the token (env ECHO_TOKEN), a start-up refusal switch, enrichment behaviour."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    token: str | None = None
    refuse_to_start: bool = False
    enrich: str = "ok"  # ok | retry-later | fail | nothing
    verify_delay_seconds: float = 0.0  # a slow request, to watch graceful shutdown finish it
    enrich_delay_seconds: float = 0.0  # a slow job, to watch shutdown release it
    sink: bool = False  # publish to the "echo-out" sink (kept in the cache, namespace echo-out)


@hookimpl
def register_config():
    return ConfigSection(name="echo", model=EchoSettings, env={"token": "ECHO_TOKEN"}, secrets=frozenset({"token"}))


@hookimpl
def register_sources():
    return [Source(name="echo", description="Echo test source", supported_events=("open", "close"),
                   log_prefix="[Echo Webhook]",
                   # A third-party source names its own delivery-id header; the host knows none.
                   delivery_id_headers=("request-id",))]


@hookimpl
def check_config(config):
    if config.plugin("echo").refuse_to_start:
        return ["[echo] refuse_to_start is set"]
    return []


@hookimpl
def verify_webhook(source, headers, body, config):
    if source != "echo":
        return None
    if config.plugin("echo").verify_delay_seconds:
        time.sleep(config.plugin("echo").verify_delay_seconds)
    token = config.plugin("echo").token
    if not token:
        return Verdict(True, "no token configured")
    given = headers.get("x-echo-token", "")
    return Verdict(hmac.compare_digest(given.encode(), token.encode()), "bad echo token")


@hookimpl
def accept_webhook(source, payload):
    if source != "echo":
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("id"), str):
        return Decision.reject("id is missing")
    action = payload.get("action")
    if action == "open":
        return Decision("create", external_id=payload["id"], response={"echo": {"id": payload["id"]}},
                        summary=f"action=open, id={payload['id']}")
    if action in ("close", "comment"):
        return Decision("update", external_id=payload["id"], summary=f"action={action}")
    return Decision.skip(f"action={action} is not handled", summary=f"action={action}")


@hookimpl
def build_issue(source, payload):
    if source != "echo":
        return None
    return IssueDraft(
        title=f"[echo] {payload.get('title', 'untitled')}",
        description=f"Echo says: {payload.get('text', '')}",
        priority="P2",
        labels=(LabelDraft("Echo", "#00AA00"),),
        link=ExternalLinkDraft(external_id=payload["id"], external_url=f"https://echo.test/{payload['id']}",
                               metadata={"first_seen": payload.get("first_seen"), "files": payload.get("files", [])}),
        log_name=f"Echo {payload['id']}",
    )


@hookimpl
def external_update(source, payload, issue):
    if source != "echo":
        return None
    action = payload.get("action")
    if action == "close":
        return [Change("close"), Change("comment", text="Echo closed it", key=f"close:{payload.get('at')}")]
    if action == "comment":
        return [Change("comment", text=payload.get("text", ""), key=payload.get("key"))]
    if action == "open" and issue.status == "closed":
        return [Change("reopen"), Change("comment", text="Echo reopened it", key=f"reopen:{payload.get('at')}")]
    return []


@hookimpl
async def stack_files(link, payload):
    if link.source != "echo":
        return None
    return list((payload or {}).get("files", []))


@hookimpl
def first_seen(link):
    if link.source != "echo":
        return None
    return parse_datetime(link.metadata.get("first_seen"))


@hookimpl
async def enrich_description(issue, link, stack_files, first_seen, config, cache):
    mode = config.plugin("echo").enrich
    await asyncio.sleep(config.plugin("echo").enrich_delay_seconds)
    runs = (await cache.get("echo", issue.id) or 0) + 1
    await cache.set("echo", issue.id, runs)
    if mode == "retry-later":
        raise RetryLater("echo is rate limited", after_seconds=120)
    if mode == "fail":
        raise RuntimeError(f"echo enrichment failed (run {runs})")
    if mode == "nothing":
        return Section(key="echo", markdown="", note="nothing to say")
    files = "\n".join(f"- `{path}`" for path in stack_files) or "- (none)"
    return Section(key="echo", markdown=f"## Echo\n\nFirst seen: {first_seen.isoformat()}\n\n{files}")


@hookimpl
def register_sinks(config):
    if config is None or config.plugin("echo").sink:
        return [Sink(name="echo-out", description="Echo's outside tracker", command="echo-out")]
    return []


@hookimpl
async def check_sink(sink, config):
    return None if sink != "echo-out" else []


@hookimpl
async def publish_issue(sink, issue, link, changes, cache):
    if sink != "echo-out":
        return None
    seen = await cache.get("echo-out", issue.id) or []
    seen.append({"link": link.external_id if link else None, "status": issue.status,
                 "changes": [[change.kind, change.actor, change.text or change.value] for change in changes]})
    await cache.set("echo-out", issue.id, seen)
    if link is None:
        return ExternalLinkDraft(external_id=f"out-{issue.identifier}", metadata={"made": True})
    return None


def _find_arguments(parser):
    parser.add_argument("record", help="the echo record's id")
    parser.add_argument("--fail", action="store_true", help="end with a CommandError")


async def _find(args, settings, pm):
    """``hub echo find ID``: the hub issue made from an echo record (async, on the configured database)."""
    from hub import CommandError, Pipeline

    if args.fail:
        raise CommandError("echo find was told to fail")
    async with Pipeline.open(settings, pm) as pipeline:
        issue = await pipeline.linked("echo", args.record)
    print(f"echo {args.record}: {issue.identifier if issue else 'not tracked'}")
    return 0 if issue else 3


@hookimpl
def register_commands():
    from hub import Command

    return [Command(group="echo", name="find", help="the issue an echo record made", run=_find,
                    arguments=_find_arguments, group_help="Echo test source: its own commands")]
