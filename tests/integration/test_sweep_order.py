"""A full feed's sweep removes entities in one order on every database: by key in code-point
order, whether it works from the line index (sorted in Python) or from the store's keys
(``keys_in_scope``), even where PostgreSQL's collation would sort the keys otherwise."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from deltahook.store import snapshots
from deltahook.store.tables import KEY_LENGTH
from tests.integration.test_full_feed_index import KIND, engine_for, upsert
from tests.integration.test_ingest import onhand

pytestmark = pytest.mark.postgres


def test_keys_in_scope_come_in_code_point_order_under_a_linguistic_collation(
    pg_url: str,
) -> None:
    """With the key column under ICU's English collation (which puts '_' and 'a' before 'B'),
    the store's keys still come in code-point order, the order the index's sweep sorts in."""
    parts = ["b", "B-2", "_3", "a-1"]
    with engine_for(pg_url) as engine:
        upsert(pg_url, [onhand(part) for part in parts], engine=engine)
        with engine.db.begin() as conn:
            conn.execute(
                text(
                    f'ALTER TABLE entities ALTER COLUMN "key" TYPE VARCHAR({KEY_LENGTH}) '
                    'COLLATE "en-x-icu"'
                )
            )
        with engine.db.connect() as conn:
            linguistic = list(conn.execute(text('SELECT "key" FROM entities ORDER BY "key"')))
            keys = list(snapshots.keys_in_scope(conn, KIND, None))
    assert [key for (key,) in linguistic] != sorted(keys)  # the collation does differ
    assert keys == sorted(keys)
    assert len(keys) == len(parts)
