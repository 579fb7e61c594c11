"""Endpoint health and pacing per subscription: the circuit breaker's and auto-disable's
settings, the rate limit, and the health the dispatcher records (failures in a row, last
success, last status, the open circuit, why it was switched off).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 07:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from deltahook.store.tables import UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

COLUMNS = (
    ("circuit_after", sa.Integer(), "20"),
    ("circuit_cooldown_s", sa.Float(), "60"),
    ("disable_after_s", sa.Float(), "432000"),
    ("rate_limit", sa.Float(), None),
    ("rate_burst", sa.Integer(), None),
    ("rate_tokens", sa.Float(), None),
    ("rate_at", UTCDateTime(timezone=True), None),
    ("failures", sa.Integer(), "0"),
    ("failing_since", UTCDateTime(timezone=True), None),
    ("last_success_at", UTCDateTime(timezone=True), None),
    ("last_attempt_at", UTCDateTime(timezone=True), None),
    ("last_status_code", sa.Integer(), None),
    ("circuit_until", UTCDateTime(timezone=True), None),
    ("disabled_reason", sa.Text(), None),
)


def upgrade() -> None:
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        for name, kind, default in COLUMNS:
            batch_op.add_column(
                sa.Column(name, kind, nullable=default is None, server_default=default)
            )


def downgrade() -> None:
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        for name, _kind, _default in reversed(COLUMNS):
            batch_op.drop_column(name)
