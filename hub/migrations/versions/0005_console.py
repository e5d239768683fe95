"""The console: the delivery log keeps each delivery's status and body; an index per list filter.

``hub_delivery.status`` and ``body``: the HTTP status answered and the raw body (rejected
deliveries get a row too, their body cut). Indexes ending in each list's order (newest first)
so every list's first page is read from an index; trigram search on titles on PostgreSQL.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_ISSUE_INDEXES = {
    "ix_chipp_issue_newest": ["created_at", "number"],
    "ix_chipp_issue_status_newest": ["status", "created_at", "number"],
    "ix_chipp_issue_source_newest": ["source", "created_at", "number"],
    "ix_chipp_issue_assignee_newest": ["assignee", "created_at", "number"],
    "ix_chipp_issue_priority_oldest": ["priority", "created_at", "number"],
}
_DELIVERY_INDEXES = {
    "ix_hub_delivery_source_newest": ["source", "created_at", "id"],
    "ix_hub_delivery_outcome_newest": ["outcome", "created_at", "id"],
}


def upgrade() -> None:
    with op.batch_alter_table("hub_delivery") as batch:
        batch.add_column(sa.Column("status", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("body", sa.Text(), nullable=True))
    for name, columns in _ISSUE_INDEXES.items():
        op.create_index(name, "chipp_issue", columns)
    for name, columns in _DELIVERY_INDEXES.items():
        op.create_index(name, "hub_delivery", columns)
    if op.get_bind().dialect.name == "postgresql":
        # pg_trgm is a trusted extension (PostgreSQL 13+): a database owner may create it.
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.create_index("ix_chipp_issue_title_trgm", "chipp_issue", ["title"], postgresql_using="gin",
                        postgresql_ops={"title": "gin_trgm_ops"})


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_chipp_issue_title_trgm", "chipp_issue")
    for name in _DELIVERY_INDEXES:
        op.drop_index(name, "hub_delivery")
    for name in _ISSUE_INDEXES:
        op.drop_index(name, "chipp_issue")
    with op.batch_alter_table("hub_delivery") as batch:
        batch.drop_column("body")
        batch.drop_column("status")
