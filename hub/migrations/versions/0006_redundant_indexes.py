"""Three indexes every composite one already covers: ``chipp_issue`` by status, by source, by creation time.

``ix_chipp_issue_status_newest`` (status, created_at, number), ``ix_chipp_issue_source_newest``
and ``ix_chipp_issue_newest`` (created_at, number) serve every query the single-column ones
served (a B-tree answers for any prefix of its columns), so each new issue wrote three index
entries for nothing (docs/performance.md, issue 19).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

#: Index name -> the column it held, each the first column of a composite index that stays.
_REDUNDANT = {
    "ix_chipp_issue_status": "status",
    "ix_chipp_issue_source": "source",
    "ix_chipp_issue_created_at": "created_at",
}


def upgrade() -> None:
    for name in _REDUNDANT:
        op.drop_index(name, "chipp_issue")


def downgrade() -> None:
    for name, column in _REDUNDANT.items():
        op.create_index(name, "chipp_issue", [column])
