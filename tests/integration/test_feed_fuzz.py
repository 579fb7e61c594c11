"""Fuzzing the feed readers: a few hundred mutated feeds in each format, on each database.

Each feed is a valid one with one mutation (see ``tests.feed_mutations``), ingested into a
store that holds the valid records already. For every feed:

- nothing is raised but a documented ``DeltahookError`` (on the CLI: exit 1 and one line);
- every rejection names a line of the feed and a reason;
- a rejected record changes nothing: every entity whose stored body changed was sent by a line
  that was not rejected (upsert and merge feeds; a full feed's sweep changes others on purpose);
- nothing stored breaks its kind's schema or holds a value a store cannot keep;
- every 25th feed also goes through ``deltahook ingest``: exit 0, 3 or 4, or 1 with one line,
  never a traceback.

``DELTAHOOK_FUZZ_FEEDS`` (default 300 per format, 100 on PostgreSQL) and
``DELTAHOOK_FUZZ_SEED`` (default 13) change the budget and the feeds.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from deltahook.changes import canonical
from deltahook.cli import main
from deltahook.config import Settings
from deltahook.engine import Engine
from deltahook.errors import DeltahookError
from deltahook.feeds import values
from deltahook.feeds.keys import readable_key
from deltahook.feeds.readers import FORMATS, Format, Record, read_items
from deltahook.feeds.validate import RecordValidator
from deltahook.results import Mode, RunResult
from deltahook.store.tables import entities
from tests.feed_mutations import Mutated, base_lines, mutated_feeds, sku_rows, stock_rows

SEED = int(os.environ.get("DELTAHOOK_FUZZ_SEED", "13"))
MODES: tuple[Mode, ...] = ("upsert", "upsert", "upsert", "merge", "full")
CLI_EVERY = 25  # a CLI run costs about 20 ingests (start-up: catalog, rules, store)


def budget(database_url: str) -> int:
    default = 300 if database_url.startswith("sqlite") else 100
    return int(os.environ.get("DELTAHOOK_FUZZ_FEEDS", default))


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    with Engine.from_settings(Settings(database_url=database_url, batch_size=4)) as engine:
        for kind, rows in (("sku_onhand", stock_rows(8)), ("sku", sku_rows(6))):
            valid = b"\n".join(base_lines("ndjson", rows)) + b"\n"
            assert engine.ingest(kind, io.BytesIO(valid), fmt="ndjson").counts.inserted
        yield engine


def stored(engine: Engine, kind: str) -> dict[str, bytes]:
    with engine.db.connect() as conn:
        rows = conn.execute(select(entities.c.key, entities.c.body).where(entities.c.kind == kind))
        return {key: bytes(body) for key, body in rows}


def sent_keys(engine: Engine, feed: Mutated, fmt: Format, rejected: set[int]) -> set[str]:
    """The keys of the records the feed holds on lines that were not rejected."""
    kind = engine.catalog[feed.kind]
    found = read_items(io.BytesIO(feed.data), fmt, kind)
    keys = (
        readable_key(kind, item.data)
        for item in found
        if isinstance(item, Record) and item.line not in rejected
    )
    return {key for key in keys if key is not None}


def check_rejects(result: RunResult, feed: Mutated) -> None:
    lines = feed.data.count(b"\n") + 1
    for reject in result.rejects:
        assert 1 <= reject.line <= lines, reject
        assert reject.reason, reject
        assert "\x00" not in reject.reason + (reject.field or ""), reject


def check_store(
    engine: Engine, feed: Mutated, before: dict[str, bytes], sent: set[str] | None
) -> None:
    kind = engine.catalog[feed.kind]
    after = stored(engine, feed.kind)
    changed = {key for key, body in after.items() if before.get(key) != body}
    if sent is not None:
        assert changed <= sent, f"changed by a rejected record: {changed - sent}"
    validator = RecordValidator(kind)
    for key in changed:
        body = orjson.loads(after[key])
        assert values.problem(body) is None, key
        assert validator.problem(canonical.denormalise(kind, body)) is None, key


def ingest_one(engine: Engine, feed: Mutated, fmt: Format) -> None:
    mode = MODES[feed.index % len(MODES)]
    before = stored(engine, feed.kind)
    try:
        result = engine.ingest(
            feed.kind, io.BytesIO(feed.data), fmt=fmt, mode=mode, max_remove="100%"
        )
    except DeltahookError as exc:  # documented: the CLI prints it as one line
        message = str(exc)
    else:
        message = ""
    if message:
        assert "\n" not in message
        return
    check_rejects(result, feed)
    rejected = {r.line for r in result.rejects}
    sent = sent_keys(engine, feed, fmt, rejected) if mode != "full" else None
    check_store(engine, feed, before, sent)


def run_cli(database_url: str, feed: Mutated, fmt: Format, tmp: Any) -> None:
    path = tmp / f"feed-{feed.index}.{fmt}"
    path.write_bytes(feed.data)
    args = ["--database-url", database_url, "ingest", feed.kind, str(path)]
    result = CliRunner().invoke(main, args)
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.stdout + result.stderr
    if result.exit_code == 1:
        assert result.stderr.startswith("error:")
        assert result.stderr.count("\n") == 1
    else:
        assert result.exit_code in (0, 3, 4), result.exit_code


@pytest.mark.parametrize("fmt", FORMATS)
def test_mutated_feeds_are_read_or_rejected_by_line_and_never_stored_wrong(
    engine: Engine, database_url: str, fmt: Format, tmp_path: Any
) -> None:
    """A few hundred one-mutation feeds: rejects by line, nothing stored wrong, no traceback."""
    for feed in mutated_feeds(fmt, budget(database_url), SEED):
        where = f"seed {SEED}, {fmt} feed {feed.index} ({feed.kind}): {feed.how}"
        try:
            ingest_one(engine, feed, fmt)
            if feed.index % CLI_EVERY == 0:
                run_cli(database_url, feed, fmt, tmp_path)
        except Exception as exc:
            raise AssertionError(f"{where}: {exc!r}") from exc
