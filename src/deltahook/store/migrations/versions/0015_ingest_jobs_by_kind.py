"""Ingest jobs indexed by kind: PostgreSQL's line-index freshness check reads the other jobs of
the run's kind first thing in every batch (``store/freshness.py``), and the purge keeps the
table to the delivery log's retention (``jobs.purge``).

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 11:50:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_ingest_jobs_kind", "ingest_jobs", ["kind"])


def downgrade() -> None:
    op.drop_index("ix_ingest_jobs_kind", table_name="ingest_jobs")
