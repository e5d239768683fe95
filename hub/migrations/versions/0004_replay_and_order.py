"""Replays and ordering: the digest of a delivery's body, and the source time of a link's state.

``hub_delivery.body_sha256`` (UNIQUE per source): for sources that sign only the body, the same
body re-sent is the same delivery, whatever its headers. ``hub_link_state``: the source's own
time of the last close or reopen applied for a record; an older one is ignored.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("hub_delivery") as batch:
        batch.add_column(sa.Column("body_sha256", sa.Text(), nullable=True))
        batch.create_unique_constraint("uq_hub_delivery_source_body_sha256", ["source", "body_sha256"])
    op.create_table(
        "hub_link_state",
        sa.Column("source", sa.Text(), primary_key=True),
        sa.Column("external_id", sa.Text(), primary_key=True),
        sa.Column("state_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("hub_link_state")
    with op.batch_alter_table("hub_delivery") as batch:
        batch.drop_constraint("uq_hub_delivery_source_body_sha256", type_="unique")
        batch.drop_column("body_sha256")
