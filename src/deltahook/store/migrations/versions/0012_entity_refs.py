"""Entity references: which stored entity names which (fan-out of related-entity changes).

The table starts empty: ``deltahook rebuild-references`` fills it from the stored snapshots.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 07:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "entity_refs",
        sa.Column("ref_kind", sa.String(64), nullable=False),
        sa.Column("ref_key", sa.String(512), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("key", sa.String(512), nullable=False),
        sa.PrimaryKeyConstraint("ref_kind", "ref_key", "kind", "key", name="pk_entity_refs"),
    )
    op.create_index("ix_entity_refs_kind_key", "entity_refs", ["kind", "key"])


def downgrade() -> None:
    op.drop_index("ix_entity_refs_kind_key", table_name="entity_refs")
    op.drop_table("entity_refs")
