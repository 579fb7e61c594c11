"""The baselines' own processes: what changed in a full feed, found without deltahook.

``python -m bench.antijoin MODE STATE FEED OUT``, one process per run, timed from start to
exit by ``bench.process`` (so only what each baseline needs is imported, and lazily):

- ``duckdb-state`` / ``dict-state`` (made once, not timed): the previous snapshot's key and
  row hash of every line of FEED, kept in STATE, as deltahook's store keeps its line hashes;
- ``duckdb``: DuckDB opens STATE, reads FEED as NDJSON, anti-joins it with the stored rows on
  key and row hash (new or changed lines) and the other way on key (keys gone: a full feed),
  and writes those keys to OUT;
- ``dict``: plain Python reads the stored line hashes into a set, hashes each line of FEED
  (xxh3-128), looks it up, and writes the key of each line not found to OUT.
"""

from __future__ import annotations

import sys
from pathlib import Path

KEY = "PartNo"  # the SKU feed's key
DIGEST = 16  # bytes of an xxh3-128 line hash

_ROWS = "SELECT json->>'$.{key}' AS key, hash(json) AS h FROM read_ndjson_objects(?)"


def duckdb_state(state: Path, feed: Path) -> None:
    """Store the key and row hash of every line of ``feed`` in a DuckDB file."""
    import duckdb

    state.unlink(missing_ok=True)
    with duckdb.connect(str(state)) as con:
        con.execute("CREATE TABLE previous AS " + _ROWS.format(key=KEY), [str(feed)])


def duckdb_changed(state: Path, feed: Path, out: Path) -> None:
    """Write the keys of ``feed`` new or changed against ``state``, and those gone from it."""
    import duckdb

    with duckdb.connect(str(state), read_only=True) as con:
        con.execute(
            f"CREATE TEMP TABLE feed AS {_ROWS.format(key=KEY)}", [str(feed)]
        )  # read once, used by both anti-joins
        con.execute(
            "COPY (SELECT key FROM feed ANTI JOIN previous USING (key, h) "
            "UNION ALL SELECT key FROM previous ANTI JOIN feed USING (key)) "
            f"TO '{out}' (FORMAT csv, HEADER false)"
        )


def dict_state(state: Path, feed: Path) -> None:
    """Store the xxh3-128 hash of every line of ``feed``, one after another."""
    from xxhash import xxh3_128_digest

    with feed.open("rb") as lines, state.open("wb") as stored:
        for line in lines:
            stored.write(xxh3_128_digest(line))


def dict_changed(state: Path, feed: Path, out: Path) -> None:
    """Write the key of each line of ``feed`` whose hash is not among the stored ones."""
    import orjson
    from xxhash import xxh3_128_digest

    blob = state.read_bytes()
    known = {blob[i : i + DIGEST] for i in range(0, len(blob), DIGEST)}
    with feed.open("rb") as lines:
        keys = [orjson.loads(line)[KEY] for line in lines if xxh3_128_digest(line) not in known]
    out.write_text("".join(f"{key}\n" for key in keys), encoding="utf-8")


def main(argv: list[str]) -> None:
    mode, state, feed = argv[0], Path(argv[1]), Path(argv[2])
    if mode == "duckdb-state":
        duckdb_state(state, feed)
    elif mode == "dict-state":
        dict_state(state, feed)
    elif mode == "duckdb":
        duckdb_changed(state, feed, Path(argv[3]))
    elif mode == "dict":
        dict_changed(state, feed, Path(argv[3]))
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
