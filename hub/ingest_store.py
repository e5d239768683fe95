"""The webhook hot path's database work, behind three calls: find, create, record.

``handle_webhook`` needs only these on the common paths (a new issue; a duplicate with nothing
to change). ``open_ingest_store`` picks the implementation for the database: on PostgreSQL,
``hub.pg_ingest`` writes a new issue in one statement through psycopg directly; on SQLite
``hub.sqlite_ingest`` runs each transaction on a thread of its own with the stdlib driver. Both
were measured against SQLAlchemy's async layer, which cost several times their CPU per delivery
(docs/performance.md). Rarer paths (updates with changes, replays) stay on SQLAlchemy in
``hub.ingest``.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Mapping, Protocol

from sqlalchemy.engine import make_url

from hub.config import ConfigError, DatabaseSettings
from hub.db import SQLITE_BUSY_TIMEOUT_SECONDS, async_url, is_postgres
from hub.store import LinkedIssue
from hub.types import IssueDraft, IssueView

__all__ = ["Created", "IngestStore", "RecentLinks", "created_response", "dedupe_message", "dedupe_response",
           "open_ingest_store"]


@dataclass(frozen=True)
class Created:
    """What ``IngestStore.create`` did: made ``issue``, or found ``linked`` and logged a duplicate.

    When ``linked`` is set, delivery-log row ``delivery_id`` says ``deduplicated`` with the body
    ``dedupe_response`` gives; a caller that then applies changes rewrites that row.
    """

    issue: IssueView | None = None
    linked: LinkedIssue | None = None
    delivery_id: str | None = None


def dedupe_message(identifier: str) -> str:
    """The ``message`` of a duplicate's answer (also its delivery-log ``reason``)."""
    return f"Issue already tracked as {identifier}"


def dedupe_response(issue: IssueView, response: Mapping[str, Any]) -> dict[str, Any]:
    """The answer to a delivery whose record the hub already tracks, when nothing changed."""
    return {"success": True, "deduplicated": True, "issue": {"id": issue.id, "identifier": issue.identifier},
            **response, "message": dedupe_message(issue.identifier)}


def created_response(issue: IssueView, response: Mapping[str, Any]) -> dict[str, Any]:
    """The answer to a delivery that created ``issue``."""
    return {"success": True, "issue": {"id": issue.id, "identifier": issue.identifier}, **response}


class RecentLinks:
    """Records this process saw linked lately: a hint to try a duplicate's cheaper write first.

    A duplicate needs no draft (``build_issue``) and writes one row; trying that first for a
    record seen linked saves both when, as in an alert storm, the same record comes again and
    again. Only a hint: a link gone since (its issue deleted by hand) makes ``log_duplicate``
    find nothing, and the delivery takes the create path. Bounded, oldest out first.
    """

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._keys: OrderedDict[tuple[str, str], None] = OrderedDict()

    def __contains__(self, key: tuple[str, str]) -> bool:
        return key in self._keys

    def add(self, key: tuple[str, str]) -> None:
        """Remember ``(source, external_id)`` as linked."""
        self._keys[key] = None
        self._keys.move_to_end(key)
        if len(self._keys) > self.size:
            self._keys.popitem(last=False)

    def discard(self, key: tuple[str, str]) -> None:
        """Forget ``(source, external_id)``."""
        self._keys.pop(key, None)


class IngestStore(Protocol):
    """The three database calls of a webhook's common paths."""

    async def find_linked(self, source: str, external_id: str) -> LinkedIssue | None:
        """The issue linked to ``(source, external_id)``, or None."""

    async def create(self, source: str, draft: IssueDraft, prefix: str, label_ids: dict[str, str],
                     job_payload: Any | None, delivery: Mapping[str, Any], response: Mapping[str, Any]
                     ) -> Created | None:
        """Create the issue unless ``(source, draft.link.external_id)`` is already linked.

        One transaction. New: the issue, link, labels, job (when ``job_payload`` is not None;
        the caller has made it ``store.storable``) and a ``created`` delivery row
        (``created_response``). Already linked: only a ``deduplicated`` delivery row
        (``dedupe_response``). None when a concurrent delivery
        linked the record first: nothing is written. Raises an integrity error on a replayed
        Request-ID or a stale cached label id (nothing written).
        """

    async def log_duplicate(self, source: str, external_id: str, delivery: Mapping[str, Any],
                            response: Mapping[str, Any]) -> Created | None:
        """When ``(source, external_id)`` is linked: its ``deduplicated`` delivery row, as ``create``
        writes it, in one transaction. None, with nothing written, when it is not linked."""

    async def record(self, delivery: Mapping[str, Any], outcome: str, issue_id: str | None,
                     response: Mapping[str, Any]) -> None:
        """Append one row to the delivery log (its own transaction)."""

    async def close(self) -> None:
        """Release connections."""


async def open_ingest_store(settings: DatabaseSettings) -> IngestStore:
    """The fastest implementation for the configured database."""
    if is_postgres(settings.url):
        from hub.pg_ingest import PostgresIngestStore

        return await PostgresIngestStore.open(settings)
    from hub.sqlite_ingest import SqliteIngestStore

    path = make_url(async_url(settings.url)).database
    if not path or path == ":memory:" or path.startswith("file:"):
        # Migrations, the engine and the webhook path each open their own connection.
        raise ConfigError(f"[database] url: SQLite needs a file path, not {path or 'an empty one'!r}")
    return await SqliteIngestStore.open(path, SQLITE_BUSY_TIMEOUT_SECONDS)
