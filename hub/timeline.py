"""The issue timeline: who changed what, whether a source (``sentry``), a token or a person.

Written from one place: ``hub.store.writes.apply_changes`` inserts ``event_rows`` for the changes
it applied, in their transaction. Webhook updates (actor: the source's name) and API or console
triage (``token:<name>``, ``user:<name>``) both go through it, so both land here the same way.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping

from hub.models import new_id, utcnow

__all__ = ["event_rows"]


def event_rows(
    issue_id: str, actor: str, applied: Iterable[Mapping[str, Any]], now: datetime | None = None
) -> list[dict[str, Any]]:
    """The ``chipp_issue_event`` rows for the applied changes (``{"kind", "value"?, "text"?}`` each)."""
    now = now or utcnow()
    # A microsecond apart, so that ordering by time keeps the order the changes were applied in.
    return [
        {"id": new_id(), "issue_id": issue_id, "kind": change["kind"], "actor": actor,
         "value": change.get("value"), "text": change.get("text"), "created_at": now + timedelta(microseconds=index)}
        for index, change in enumerate(applied)
    ]
