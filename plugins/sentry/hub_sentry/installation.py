"""Which Sentry installation the hub serves: the uuid external issues are filed under.

Sentry names it in every delivery (``installation.uuid``) and announces it with the
``installation`` resource (``created`` when the integration is installed, ``deleted`` when it is
removed). The webhook's hooks are synchronous and have no cache, so the decision carries what
to keep (``Decision.remember``) and the host writes it to the shared cache; the worker's sink
reads it back. A process asks for the write only when the uuid differs from the last one it
asked for, so the webhook's path pays nothing for it after the first delivery.
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from typing import Any, Mapping

from hub import Cache, Decision

from hub_sentry.payload import mapping, text

__all__ = ["NAMESPACE", "current", "decide_installation", "noted"]

log = logging.getLogger("hub.sentry")
NAMESPACE = "sentry.installation"
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
KEY = "current"
#: The uuid this process last asked the host to remember, per database (a hint: the cache row
#: in that database is the truth).
_asked: dict[str, str | None] = {}


def _entry(value: Mapping[str, Any], database: str) -> tuple[str, str, Any]:
    _asked[database] = value.get("uuid")
    return (NAMESPACE, KEY, dict(value))


def _uuid(value: Any) -> str | None:
    """The installation's uuid when it is one (8-4-4-4-12 hex): anything else is never stored."""
    found = text(value)
    return found.lower() if found and _UUID.fullmatch(found) else None


def _described(installation: Mapping[str, Any]) -> dict[str, Any]:
    return {"uuid": _uuid(installation.get("uuid")),
            "organization": (text(mapping(installation.get("organization")).get("slug")) or "")[:100] or None,
            "app": _uuid(mapping(installation.get("app")).get("uuid"))}


def noted(decision: Decision, payload: Any, database: str) -> Decision:
    """``decision`` asking to remember the delivery's ``installation.uuid`` when this process has
    not asked ``database`` (its URL) for that uuid yet."""
    installation = mapping(mapping(payload).get("installation"))
    uuid = _uuid(installation.get("uuid"))
    if not uuid or _asked.get(database) == uuid:
        return decision
    return replace(decision, remember=(*decision.remember, _entry(_described(installation), database)))


def decide_installation(payload: Any, database: str) -> Decision:
    """An ``installation`` delivery: ``created`` remembers the uuid, ``deleted`` forgets it."""
    action = (text(mapping(payload).get("action")) or "")[:40] or None
    installation = mapping(mapping(mapping(payload).get("data")).get("installation"))
    uuid = _uuid(installation.get("uuid"))
    summary = f"resource=installation, action={action}, installation={uuid}"
    if not uuid:
        return Decision.reject("data.installation.uuid is missing (or not a uuid)")
    if action == "created":
        log.info("[Sentry Webhook] Installed: %s", uuid)
        return Decision.skip(f"installation {uuid} recorded", summary=summary,
                             remember=(_entry(_described(installation), database),))
    if action == "deleted":
        log.warning("[Sentry Webhook] Uninstalled: %s; no external issues are linked until it is installed again",
                    uuid)
        return Decision.skip(f"installation {uuid} removed", summary=summary,
                             remember=(_entry({"uuid": None, "removed": uuid}, database),))
    return Decision.skip(f"installation action={action} is not handled", summary=summary)


async def current(cache: Cache) -> str | None:
    """The installation's uuid, as the deliveries last said (None: unknown, or uninstalled)."""
    value = await cache.get(NAMESPACE, KEY)
    return text(value.get("uuid")) if isinstance(value, Mapping) else None
