"""An uptime monitor's webhook: ``down`` opens an issue per monitor, ``up`` closes it.

The body: ``{"monitor": "api", "status": "down" | "up", "url": "https://...", "checked_at": "<ISO 8601>"}``,
signed with HMAC-SHA256 of the raw body in ``X-Uptime-Signature`` (hex), with ``UPTIME_SECRET``.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping

from pydantic import BaseModel, ConfigDict, SecretStr

from hub import (Change, ConfigSection, Decision, ExternalLinkDraft, IssueDraft, IssueView, ReceivedDelivery,
                 Settings, Source, Verdict, clean_text, escape_markdown, hookimpl, parse_datetime, safe_url)

SOURCE = Source(name="uptime", description="Uptime monitor: down opens an issue, up closes it",
                supported_events=("down", "up"), log_prefix="[Uptime Webhook]",
                delivery_id_headers=("x-uptime-delivery",), kept_headers=("x-uptime-monitor",),
                secret_headers=("x-uptime-signature",))


class UptimeSettings(BaseModel):
    """``[uptime]``: the signing secret (from UPTIME_SECRET only) and the priority of a down monitor."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    secret: SecretStr | None = None
    priority: str = "P2"


@dataclass(frozen=True)
class Check:
    """One parsed delivery: made once in accept_webhook, handed to the later hooks."""

    monitor: str
    down: bool
    url: str
    at: datetime | None


@hookimpl
def register_config():
    """``[uptime]``; the secret comes from UPTIME_SECRET."""
    return ConfigSection(name="uptime", model=UptimeSettings, env={"secret": "UPTIME_SECRET"},
                         secrets=frozenset({"secret"}))


@hookimpl
def register_sources():
    """``/api/uptime/webhook``."""
    return [SOURCE]


@hookimpl
def verify_webhook(source: str, headers: Mapping[str, str], body: bytes, config: Settings) -> Verdict | None:
    """HMAC-SHA256 of the raw body, compared in constant time; unsigned when no secret is set."""
    if source != SOURCE.name:
        return None
    secret = config.plugin("uptime").secret
    if secret is None:
        return Verdict(True, "no UPTIME_SECRET: deliveries are not checked")
    expected = hmac.new(secret.get_secret_value().encode(), body, hashlib.sha256).hexdigest()
    given = headers.get("x-uptime-signature", "")
    ok = hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode())
    return Verdict(ok, "" if ok else "invalid X-Uptime-Signature")


@hookimpl
def accept_webhook(source: str, payload: Any) -> Decision | None:
    """Read the body once; ``down`` creates, ``up`` updates, anything malformed is rejected."""
    if source != SOURCE.name:
        return None
    if not isinstance(payload, Mapping):
        return Decision.reject("the body is not a JSON object")
    monitor, status, url = payload.get("monitor"), payload.get("status"), payload.get("url", "")
    if not isinstance(monitor, str) or not monitor.strip() or len(monitor) > 200:
        return Decision.reject("monitor is not a name")
    if status not in ("down", "up", "paused"):
        return Decision.reject("status is not down, up or paused")
    if status == "paused":
        return Decision.skip("a paused monitor says nothing about the service")
    check = Check(clean_text(monitor), status == "down", url if isinstance(url, str) else "",
                  parse_datetime(payload.get("checked_at")))
    return Decision("create" if check.down else "update", external_id=check.monitor, parsed=check,
                    summary=f"monitor={check.monitor}, status={status}")


@hookimpl
def build_issue(source: str, config: Settings, delivery: ReceivedDelivery) -> IssueDraft | None:
    """``[uptime] <monitor> is down``, with the checked URL."""
    if source != SOURCE.name:
        return None
    check: Check = delivery.parsed
    url = check.url if check.url.startswith(("https://", "http://")) else None
    shown = f"[{escape_markdown(check.url)}]({safe_url(url)})" if url else "unknown"
    return IssueDraft(title=f"[uptime] {check.monitor} is down", description=f"**Checked:** {shown}\n",
                      link=ExternalLinkDraft(external_id=check.monitor, external_url=url),
                      priority=config.plugin("uptime").priority, log_name=f"monitor {check.monitor}")


@hookimpl
def external_update(source: str, issue: IssueView, delivery: ReceivedDelivery) -> list[Change] | None:
    """Up closes the issue, down again reopens it; each at the monitor's own time."""
    if source != SOURCE.name:
        return None
    check: Check = delivery.parsed
    if check.down:
        return [Change("reopen", at=check.at)] if issue.status == "closed" else []
    return [Change("close", at=check.at), Change("comment", text="The monitor is up again.",
                                                 key=f"uptime:up:{check.at.isoformat() if check.at else ''}")]
