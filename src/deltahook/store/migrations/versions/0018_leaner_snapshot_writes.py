"""Fewer B-trees per stored snapshot: what a first load writes for each entity, and nothing more.

- Entities are no longer indexed by (kind, parent_key): no query reads them so (a parent's
  body is read by its own key), and every snapshot written paid for an insert into it.
- On SQLite, entity references are a ``WITHOUT ROWID`` table: the primary key was a second
  B-tree beside the rows it indexed, which a first load filled with two to three entries per
  SKU. PostgreSQL tables have no such choice; its table stays as it is.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-30 18:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_entities_kind_parent_key", table_name="entities")
    if op.get_bind().dialect.name == "sqlite":
        _recreate_references(with_rowid=False)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _recreate_references(with_rowid=True)
    op.create_index("ix_entities_kind_parent_key", "entities", ["kind", "parent_key"])


def _recreate_references(*, with_rowid: bool) -> None:
    """Copy ``entity_refs`` into a table made with (or without) a rowid, indexes and all."""
    with op.batch_alter_table(
        "entity_refs", recreate="always", table_kwargs={"sqlite_with_rowid": with_rowid}
    ):
        pass
