"""Index line hashes: an unchanged NDJSON line is found by its hash, before it is parsed.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 03:50:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("entities", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_entities_kind_line_hash_key_scope"),
            ["kind", "line_hash", "key", "scope"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("entities", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_entities_kind_line_hash_key_scope"))
