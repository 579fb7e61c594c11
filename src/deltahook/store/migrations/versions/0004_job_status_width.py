"""Job statuses up to 32 characters: "validation failed" is stored as the API and events say it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 06:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ingest_jobs", schema=None) as batch_op:
        batch_op.alter_column(
            "status", existing_type=sa.String(16), type_=sa.String(32), existing_nullable=False
        )


def downgrade() -> None:
    with op.batch_alter_table("ingest_jobs", schema=None) as batch_op:
        batch_op.alter_column(
            "status", existing_type=sa.String(32), type_=sa.String(16), existing_nullable=False
        )
