"""chipp_issue.source: which source made the issue (the console filters on it).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("chipp_issue") as batch:
        batch.add_column(sa.Column("source", sa.Text(), nullable=True))
        batch.create_index("ix_chipp_issue_source", ["source"])
    # Existing issues: the source of their first link.
    op.execute(
        "UPDATE chipp_issue SET source = (SELECT l.source FROM chipp_external_issue AS l "
        "WHERE l.issue_id = chipp_issue.id ORDER BY l.created_at LIMIT 1)"
    )


def downgrade() -> None:
    with op.batch_alter_table("chipp_issue") as batch:
        batch.drop_index("ix_chipp_issue_source")
        batch.drop_column("source")
