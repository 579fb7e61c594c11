"""Baseline jobs: whether an ingest job was a baseline load (stored, notified nothing).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 06:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ingest_jobs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("baseline", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("ingest_jobs", schema=None) as batch_op:
        batch_op.drop_column("baseline")
