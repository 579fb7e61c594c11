"""Line hash of snapshots: a byte-identical NDJSON line is recognised as no change.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 01:01:03.820134
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("entities", schema=None) as batch_op:
        batch_op.add_column(sa.Column("line_hash", sa.LargeBinary(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("entities", schema=None) as batch_op:
        batch_op.drop_column("line_hash")
