"""Reads of the worker over SQLAlchemy (the API's reads are in hub/routes)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.store.tables import ISSUES, LINKS, LinkedIssue, decode_row, issue_view, link_view

__all__ = ["load_issue_with_link"]


async def load_issue_with_link(connection: AsyncConnection, issue_id: str, source: str) -> LinkedIssue | None:
    """The issue and its (first) link from ``source``, or None when the issue is gone."""
    query = (
        sa.select(ISSUES, LINKS.c.source, LINKS.c.external_id, LINKS.c.external_url, LINKS.c.metadata)
        .join(LINKS, LINKS.c.issue_id == ISSUES.c.id)
        .where(ISSUES.c.id == issue_id, LINKS.c.source == source)
        .order_by(LINKS.c.created_at)
        .limit(1)
    )
    row = (await connection.execute(query)).mappings().first()
    if row is None:
        return None
    row = decode_row(connection.dialect.name, (ISSUES, LINKS), row)
    return LinkedIssue(issue=issue_view(row), link=link_view(row))
