"""The webhook hot path's database work, behind three calls: find, create, record.

``handle_webhook`` needs only these on the common paths (a new issue; a duplicate with nothing
to change). ``open_ingest_store`` picks the implementation for the database: on PostgreSQL,
``hub.pg_ingest`` writes a new issue in one statement through psycopg directly; elsewhere (SQLite)
this module's ``SqlAlchemyIngestStore`` runs the same work as one SQLAlchemy transaction. Rarer
paths (updates with changes, replays, skips) stay on SQLAlchemy in ``hub.ingest``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from hub import store
from hub.config import DatabaseSettings
from hub.db import is_postgres
from hub.models import new_id
from hub.store import LinkedIssue
from hub.types import IssueDraft, IssueView

__all__ = ["Created", "IngestStore", "SqlAlchemyIngestStore", "created_response", "dedupe_message", "dedupe_response",
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


class IngestStore(Protocol):
    """The three database calls of a webhook's common paths."""

    async def find_linked(self, source: str, external_id: str) -> LinkedIssue | None:
        """The issue linked to ``(source, external_id)``, or None."""

    async def create(self, source: str, draft: IssueDraft, prefix: str, label_ids: dict[str, str],
                     job_payload: Any | None, delivery: Mapping[str, Any], response: Mapping[str, Any]
                     ) -> Created | None:
        """Create the issue unless ``(source, draft.link.external_id)`` is already linked.

        One transaction. New: the issue, link, labels, job (when ``job_payload`` is not None;
        the caller has made it ``store.storable``)
        and a ``created`` delivery row (``created_response``). Already linked: only a
        ``deduplicated`` delivery row (``dedupe_response``). None when a concurrent delivery
        linked the record first: nothing is written. Raises an integrity error on a replayed
        Request-ID or a stale cached label id (nothing written).
        """

    async def record(self, delivery: Mapping[str, Any], outcome: str, issue_id: str | None,
                     response: Mapping[str, Any]) -> None:
        """Append one row to the delivery log (its own transaction)."""

    async def close(self) -> None:
        """Release connections."""


class SqlAlchemyIngestStore:
    """The hot path over the app's SQLAlchemy engine: one transaction per call."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def find_linked(self, source: str, external_id: str) -> LinkedIssue | None:
        """The issue linked to ``(source, external_id)``, or None."""
        async with self.engine.connect() as connection:
            return await store.find_linked_issue(connection, source, external_id)

    async def create(self, source: str, draft: IssueDraft, prefix: str, label_ids: dict[str, str],
                     job_payload: Any | None, delivery: Mapping[str, Any], response: Mapping[str, Any]
                     ) -> Created | None:
        """Lookup, then the issue's rows or a duplicate's delivery row, in one transaction."""
        async with self.engine.connect() as connection:
            async with connection.begin() as transaction:
                linked = await store.find_linked_issue(connection, source, draft.link.external_id)
                if linked is not None:
                    delivery_id = new_id()
                    body = dedupe_response(linked.issue, response)
                    await store.record_delivery(connection, **delivery, outcome="deduplicated",
                                                reason=body["message"], issue_id=linked.issue.id, response=body,
                                                delivery_id=delivery_id)
                    return Created(linked=linked, delivery_id=delivery_id)
                issue = await store.insert_issue(connection, source, draft, prefix, label_ids)
                if issue is None:
                    await transaction.rollback()
                    return None
                if job_payload is not None:
                    await store.enqueue_job(connection, "enrich", issue.id, source, job_payload)
                await store.record_delivery(connection, **delivery, outcome="created", reason=None,
                                            issue_id=issue.id, response=created_response(issue, response))
        return Created(issue=issue)

    async def record(self, delivery: Mapping[str, Any], outcome: str, issue_id: str | None,
                     response: Mapping[str, Any]) -> None:
        """Append one row to the delivery log."""
        async with self.engine.begin() as connection:
            await store.record_delivery(connection, **delivery, outcome=outcome,
                                        reason=response.get("reason") or response.get("message"),
                                        issue_id=issue_id, response=response)

    async def close(self) -> None:
        """Nothing of its own: the engine belongs to the Hub."""


async def open_ingest_store(settings: DatabaseSettings, engine: AsyncEngine) -> IngestStore:
    """The fastest implementation for the configured database."""
    if is_postgres(settings.url):
        from hub.pg_ingest import PostgresIngestStore

        return await PostgresIngestStore.open(settings)
    return SqlAlchemyIngestStore(engine)
