"""The per-type delivery index gains the id: the log's order (newest first, then id
descending) is read straight off it, so a Log tab page stops after its rows however long the
log is (with (event_type, created_at) alone, rows of one instant were sorted first).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 06:30:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deliveries_event_type_created_at"))
        batch_op.create_index(
            batch_op.f("ix_deliveries_event_type_created_at_id"),
            ["event_type", "created_at", "id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deliveries_event_type_created_at_id"))
        batch_op.create_index(
            batch_op.f("ix_deliveries_event_type_created_at"),
            ["event_type", "created_at"],
            unique=False,
        )
