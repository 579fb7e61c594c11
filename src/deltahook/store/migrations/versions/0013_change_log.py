"""The change log: every stored row change, compact, for replaying the recent past.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 07:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from deltahook.store.tables import UTCDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "change_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("job_id", sa.String(36), nullable=False),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("entity_key", sa.String(512), nullable=False),
        sa.Column("parent_key", sa.String(512), nullable=True),
        sa.Column("row_table", sa.String(128), nullable=False),
        sa.Column("row_key", sa.LargeBinary(), nullable=False),
        sa.Column("op", sa.String(8), nullable=False),
        sa.Column("fields", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_change_log"),
    )
    op.create_index("ix_change_log_job_id", "change_log", ["job_id"])
    op.create_index("ix_change_log_at", "change_log", ["at"])


def downgrade() -> None:
    op.drop_index("ix_change_log_at", table_name="change_log")
    op.drop_index("ix_change_log_job_id", table_name="change_log")
    op.drop_table("change_log")
