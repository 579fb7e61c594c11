"""Index deliveries by event type and time: the console's Log tab and per-type counts read one
range of it, however long the log is.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 06:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_deliveries_event_type_created_at"),
            ["event_type", "created_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deliveries_event_type_created_at"))
