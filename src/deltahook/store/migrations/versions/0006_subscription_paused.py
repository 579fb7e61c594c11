"""Why a dispatcher holds a subscription's deliveries (a ``${VAR}`` it cannot fill), for
``deltahook status``; NULL while nothing holds them.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 06:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("paused", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_column("paused")
