"""Console sign-outs: the sessions ended before they expired, so that a signed cookie kept
after signing out no longer opens the console (``store/signouts.py``).

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30 15:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from deltahook.store.tables import UTCDateTime

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_signouts",
        sa.Column("session", sa.String(64), nullable=False),
        sa.Column("expires_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("session", name=op.f("pk_console_signouts")),
    )


def downgrade() -> None:
    op.drop_table("console_signouts")
