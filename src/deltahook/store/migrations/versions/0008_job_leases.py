"""Job leases: which process runs an ingest job (host:pid) and until when it holds the job.

A running job whose process is gone, or whose lease ran out, is marked abandoned.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 06:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from deltahook.store.tables import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ingest_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("lease_until", UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ingest_jobs", schema=None) as batch_op:
        batch_op.drop_column("lease_until")
        batch_op.drop_column("owner")
