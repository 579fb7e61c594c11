"""Ingest jobs indexed by status, and by start time: the abandoned-job check (every ingest, the
console and ``deltahook status``) reads the running jobs, and the console's Jobs page reads the
newest; both scanned the whole table, which keeps a job per ingest for the log's retention.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30 15:20:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_ingest_jobs_status", "ingest_jobs", ["status"])
    op.create_index("ix_ingest_jobs_started_at_id", "ingest_jobs", ["started_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_ingest_jobs_started_at_id", table_name="ingest_jobs")
    op.drop_index("ix_ingest_jobs_status", table_name="ingest_jobs")
