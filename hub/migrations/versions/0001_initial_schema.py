"""Initial schema: issues, external links, labels, comments, delivery log, job outbox, cache.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _created_at(**kw) -> sa.Column:
    return sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, **kw)


def _issue_fk(ondelete: str = "CASCADE", nullable: bool = False) -> sa.Column:
    return sa.Column(
        "issue_id", sa.Text(), sa.ForeignKey("chipp_issue.id", ondelete=ondelete), nullable=nullable, index=True
    )


def upgrade() -> None:
    op.create_table(
        "chipp_issue_number",
        sa.Column("number", sa.Integer(), primary_key=True),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "chipp_issue",
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("number", sa.Integer(), nullable=False, unique=True),
        sa.Column("identifier", sa.Text(), nullable=False, unique=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("priority", sa.String(length=2), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False, index=True),
        sa.Column("assignee", sa.Text(), nullable=True),
        _created_at(index=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "chipp_external_issue",
        sa.Column("id", sa.Text(), primary_key=True),
        _issue_fk(),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("external_id", sa.Text(), nullable=False),
        sa.Column("external_url", sa.Text(), nullable=True),
        sa.Column("metadata", JSON, nullable=True),
        _created_at(server_default=sa.func.current_timestamp()),
        sa.UniqueConstraint("source", "external_id"),
    )
    op.create_table(
        "chipp_label",
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False, unique=True),
        sa.Column("color", sa.String(length=16), nullable=False),
        _created_at(),
    )
    op.create_table(
        "chipp_issue_label",
        sa.Column("issue_id", sa.Text(), sa.ForeignKey("chipp_issue.id", ondelete="CASCADE"), primary_key=True),
        sa.Column(
            "label_id", sa.Text(), sa.ForeignKey("chipp_label.id", ondelete="CASCADE"), primary_key=True, index=True
        ),
    )
    op.create_table(
        "chipp_comment",
        sa.Column("id", sa.Text(), primary_key=True),
        _issue_fk(),
        sa.Column("author", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=True),
        _created_at(),
        sa.UniqueConstraint("issue_id", "key"),
    )
    op.create_table(
        "hub_delivery",
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("request_id", sa.Text(), nullable=True),
        sa.Column("event", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        _issue_fk(ondelete="SET NULL", nullable=True),
        sa.Column("headers", JSON, nullable=True),
        sa.Column("response", JSON, nullable=True),
        sa.Column("changes", JSON, nullable=True),
        _created_at(index=True),
        sa.UniqueConstraint("source", "request_id"),
    )
    op.create_table(
        "hub_job",
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        _issue_fk(),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("payload", JSON, nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("run_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_by", sa.Text(), nullable=True),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        _created_at(),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_hub_job_due", "hub_job", ["status", "run_after"])
    op.create_table(
        "hub_cache",
        sa.Column("namespace", sa.Text(), primary_key=True),
        sa.Column("key", sa.Text(), primary_key=True),
        sa.Column("value", JSON, nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "hub_cache",
        "hub_job",
        "hub_delivery",
        "chipp_comment",
        "chipp_issue_label",
        "chipp_label",
        "chipp_external_issue",
        "chipp_issue",
        "chipp_issue_number",
    ):
        op.drop_table(table)
