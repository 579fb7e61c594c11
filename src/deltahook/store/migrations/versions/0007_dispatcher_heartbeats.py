"""Dispatcher heartbeats: /healthz, /metrics and the console say when none has been seen.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 06:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from deltahook.store.tables import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dispatchers",
        sa.Column("worker_id", sa.String(length=64), nullable=False),
        sa.Column("started_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("seen_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("worker_id", name=op.f("pk_dispatchers")),
    )


def downgrade() -> None:
    op.drop_table("dispatchers")
