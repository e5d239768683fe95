"""Access: API tokens, accounts, sessions, login attempts and links, the server secret, the issue timeline.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _when(name: str, nullable: bool = False, **kw) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable, **kw)


def upgrade() -> None:
    op.create_table(
        "chipp_issue_event",
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("issue_id", sa.Text(), sa.ForeignKey("chipp_issue.id", ondelete="CASCADE"), nullable=False,
                  index=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        _when("created_at"),
    )
    op.create_table(
        "hub_token",
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False, unique=True),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False, unique=True),
        _when("created_at"),
        _when("last_used_at", nullable=True),
    )
    op.create_table(
        "hub_user",
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False, unique=True),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        _when("created_at"),
    )
    op.create_table(
        "hub_session",
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("digest", sa.String(length=64), nullable=False, unique=True),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.Text(), sa.ForeignKey("hub_user.id", ondelete="CASCADE"), nullable=True, index=True),
        sa.Column("token_id", sa.Text(), sa.ForeignKey("hub_token.id", ondelete="CASCADE"), nullable=True,
                  index=True),
        _when("created_at"),
        _when("expires_at", index=True),
    )
    op.create_table(
        "hub_login_attempt",
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("key", sa.Text(), nullable=False),
        _when("created_at"),
    )
    op.create_index("ix_hub_login_attempt_key", "hub_login_attempt", ["key", "created_at"])
    op.create_table(
        "hub_login_link",
        sa.Column("id", sa.Text(), primary_key=True),
        sa.Column("digest", sa.String(length=64), nullable=False, unique=True),
        _when("expires_at"),
        _when("used_at", nullable=True),
    )
    op.create_table(
        "hub_secret",
        sa.Column("name", sa.Text(), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
        _when("created_at"),
    )


def downgrade() -> None:
    for table in ("hub_secret", "hub_login_link", "hub_login_attempt", "hub_session", "hub_user", "hub_token",
                  "chipp_issue_event"):
        op.drop_table(table)
