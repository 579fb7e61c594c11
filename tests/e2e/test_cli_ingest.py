"""The ingest command as a user meets it: exit codes, one-line errors, JSON output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, event

from deltahook.cli import main
from deltahook.store import jobs
from deltahook.store.db import open_engine
from tests.conftest import REPO


def run(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    runner = CliRunner()
    result = runner.invoke(
        main,
        ["--database-url", f"sqlite:///{tmp_path / 'db.sqlite'}", *args],
        catch_exceptions=False,
    )
    return result.exit_code, result.stdout, result.stderr


def stock_feed(tmp_path: Path, lines: dict[int, str] | None = None, count: int = 14) -> Path:
    rows = [
        orjson.dumps(
            {
                "PartNo": f"P{i}",
                "WarehouseCode": "W1",
                "WarehouseId": 1,
                "LocationCode": "A",
                "LocationId": 1,
                "OnhandValue": i,
            }
        ).decode()
        for i in range(1, count + 1)
    ]
    for number, text in (lines or {}).items():
        rows[number - 1] = text
    path = tmp_path / "stock.ndjson"
    path.write_text("\n".join(rows) + "\n")
    return path


def test_rejected_records_give_a_non_zero_exit_and_their_lines(tmp_path: Path) -> None:
    """Malformed JSON on line 7 and a wrong type on line 12: both named, the rest stored."""
    feed = stock_feed(
        tmp_path,
        {
            7: '{"PartNo": ',
            12: '{"PartNo": "P12", "WarehouseCode": "W1", '
            '"WarehouseId": "one", "LocationCode": "A", "LocationId": 1}',
        },
    )
    code, out, err = run(tmp_path, "ingest", "sku_onhand", str(feed))
    assert code == 3
    assert "inserted 12" in out
    assert "line 7: malformed JSON" in err
    assert "line 12: WarehouseId: 'one' is not of type 'integer'" in err


def test_json_output_is_the_summary_and_changes_stream_as_json_lines(tmp_path: Path) -> None:
    """--json prints the job's summary only; --changes streams each row change and each
    notification as a JSON line, then the summary as the last line."""
    feed = stock_feed(tmp_path, count=2)
    run(tmp_path, "ingest", "sku_onhand", str(feed))
    feed.write_text(feed.read_text().replace('"OnhandValue":2', '"OnhandValue":5'))
    code, out, _ = run(tmp_path, "ingest", "sku_onhand", str(feed), "--json")
    assert code == 0
    doc = json.loads(out)
    assert (doc["counts"]["updated"], doc["counts"]["unchanged"]) == (1, 1)
    assert {"job_id", "status", "elapsed_s", "rejects"} <= doc.keys()
    assert "changes" not in doc
    feed.write_text(feed.read_text().replace('"OnhandValue":5', '"OnhandValue":6'))
    code, out, _ = run(tmp_path, "ingest", "sku_onhand", str(feed), "--changes")
    assert code == 0
    *lines, last = [json.loads(line) for line in out.splitlines()]
    (change,) = [line["change"] for line in lines if "change" in line]
    assert change["rows"][0]["fields"] == [{"field": "OnhandValue", "old": 5, "new": 6}]
    assert all(line.keys() <= {"change", "notification"} for line in lines)
    assert last["summary"]["counts"]["updated"] == 1


def test_json_output_names_the_status_the_job_was_stored_with(tmp_path: Path) -> None:
    """A feed with a reject: --json says "validation failed", as the stored job does."""
    feed = stock_feed(tmp_path, {2: '{"PartNo": '}, count=3)
    code, out, _ = run(tmp_path, "ingest", "sku_onhand", str(feed), "--json")
    doc = json.loads(out)
    db = open_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with db.connect() as conn:
        job = jobs.find(conn, doc["job_id"])
    db.dispose()
    assert job is not None
    assert (code, doc["status"], job["status"]) == (3, "validation failed", "validation failed")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["ingest", "skus", "x.ndjson"],
            "unknown entity kind (known kinds: account, category, company",
        ),
        (["ingest", "sku", "missing.ndjson"], "cannot read feed missing.ndjson"),
        (["ingest", "sku", "feed.txt"], "pass --format ndjson, json or csv"),
        (["ingest", "sku", "feed.csv"], "cannot be read from CSV"),
    ],
)
def test_user_mistakes_are_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    """A user's mistake prints one line on stderr and exits 1, never a traceback."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "feed.txt").write_text("{}\n")
    (tmp_path / "feed.csv").write_text("PartNo\nP1\n")
    code, _, err = run(tmp_path, *args)
    assert code == 1
    assert message in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_bad_config_file_is_one_clear_line(tmp_path: Path) -> None:
    """An unknown setting in the config file names the file and the setting."""
    config = tmp_path / "deltahook.yaml"
    config.write_text("databse_url: sqlite:///x.db\n")
    result = CliRunner().invoke(main, ["--config", str(config), "ingest", "sku", "x.ndjson"])
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: {config}:1:1: unknown setting 'databse_url' (did you mean 'database_url'?)\n"
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("bogus://x", "cannot use the database URL bogus://x: Can't load plugin"),  # no dialect
        ("mysql://u:pw@h/x", "cannot use the database URL mysql://u:***@h/x: No module"),  # driver
        ("sqlite:///{tmp}/feed.ndjson", "/feed.ndjson: file is not a database"),  # a feed given
        ("sqlite:///{tmp}/feed.ndjson/x.db", "cannot open the database at"),  # folder is a file
        # a port that is not a number, and an IPv6 address not closed
        ("postgresql://u:pw@h:5432x/db", "invalid database URL postgresql://u:***@h:5432x/db: "),
        ("postgresql://u:pw@[::1/db", "invalid database URL postgresql://u:***@[::1/db: "),
        ("u:pw@h/db", "invalid database URL u:***@h/db: "),  # no scheme
    ],
)
def test_a_database_url_that_cannot_be_used_is_one_clear_line(
    tmp_path: Path, url: str, message: str
) -> None:
    """Exit 1 and one line naming the URL (never its password) and why; no traceback."""
    (tmp_path / "feed.ndjson").write_text('{"PartNo": "P1"}\n')
    url = url.format(tmp=tmp_path)
    result = CliRunner().invoke(main, ["--database-url", url, "status"])
    assert result.exit_code == 1
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "pw@" not in result.stderr


def test_a_full_feed_with_an_unkeyed_reject_sweeps_nothing_and_exits_4(tmp_path: Path) -> None:
    """The sweep is skipped: exit 4, the line named on stderr and in --json, the rest stored."""
    run(tmp_path, "ingest", "sku_onhand", str(stock_feed(tmp_path, count=20)))
    feed = stock_feed(tmp_path, {7: '{"PartNo": '}, count=14)
    code, _, err = run(tmp_path, "ingest", "sku_onhand", str(feed), "--mode", "full")
    assert code == 4
    assert "sweep skipped: the key of the record rejected on line 7 is unknown" in err
    code, out, _ = run(tmp_path, "ingest", "sku_onhand", str(feed), "--mode", "full", "--json")
    doc = json.loads(out)
    assert (code, doc["sweep"], doc["unkeyed_lines"]) == (4, "skipped", [7])
    assert doc["counts"]["deleted"] + doc["counts"]["updated"] == 0


def test_a_preview_of_a_full_feed_with_an_unkeyed_reject_says_what_an_ingest_would_do(
    tmp_path: Path,
) -> None:
    """A preview writes nothing, so its sweep line says what an ingest would do, never that the
    feed "was applied"; the store is as before."""
    run(tmp_path, "ingest", "sku_onhand", str(stock_feed(tmp_path, count=20)))
    feed = stock_feed(tmp_path, {7: '{"PartNo": '}, count=14)
    code, _, err = run(tmp_path, "preview", "sku_onhand", str(feed), "--mode", "full")
    assert code == 4  # the exit code the ingest would give
    assert "sweep skipped: the key of the record rejected on line 7 is unknown" in err
    assert "an ingest would deactivate or delete nothing and apply the rest of the feed" in err
    assert "was applied" not in err
    code, out, err = run(tmp_path, "preview", "sku_onhand", str(feed), "--mode", "full", "--json")
    assert (code, json.loads(out)["unkeyed_lines"]) == (4, [7])
    assert "sweep skipped: the key of the record rejected on line 7 is unknown" in err


@pytest.mark.parametrize("options", [(), ("--json",), ("--explain",)])
def test_a_preview_with_rejected_records_exits_3_as_the_ingest_would(
    tmp_path: Path, options: tuple[str, ...]
) -> None:
    """A preview ends with the exit code its ingest would: 3 when a record was rejected (the
    reject on stderr, or in the JSON document), 0 when none was; it still writes nothing."""
    feed = stock_feed(tmp_path, {7: '{"PartNo": '})
    code, out, err = run(tmp_path, "preview", "sku_onhand", str(feed), *options)
    assert code == 3
    if options == ("--json",):
        assert [r["line"] for r in json.loads(out)["rejects"]] == [7]
    else:
        assert "line 7" in err
    assert run(tmp_path, "preview", "sku_onhand", str(stock_feed(tmp_path)), *options)[0] == 0
    assert "error: no sku_onhand entity" in run(tmp_path, "show", "sku_onhand", "P1|W1|A")[2]


def test_a_short_full_feed_is_refused_in_one_line_unless_the_run_allows_it(
    tmp_path: Path,
) -> None:
    """Exit 1 and one line naming the share and the limit; --max-remove lets it through."""
    run(tmp_path, "ingest", "sku_onhand", str(stock_feed(tmp_path, count=20)))
    feed = stock_feed(tmp_path, count=14)
    code, _, err = run(tmp_path, "ingest", "sku_onhand", str(feed), "--mode", "full")
    assert code == 1
    assert "it would deactivate 6 of the 20 sku_onhand entities in its scope (30%)" in err
    assert len(err.strip().splitlines()) == 1
    args = ("ingest", "sku_onhand", str(feed), "--mode", "full", "--max-remove", "6")
    code, out, _ = run(tmp_path, *args)
    assert (code, "updated 6" in out) == (0, True)


def test_ingest_help_says_what_a_full_feed_does_to_missing_entities(tmp_path: Path) -> None:
    """The help names deactivation or deletion, as the kind declares, and the limit."""
    _, out, _ = run(tmp_path, "ingest", "--help")
    text = " ".join(out.split())
    assert "deactivated or deleted, as the kind declares" in text
    assert "removed" not in text
    assert "--max-remove" in text


def test_an_entity_whose_key_part_holds_a_bar_is_found_and_the_miss_says_how(
    tmp_path: Path,
) -> None:
    """A part number holding ``|`` is shown by its key written ``A\\|B|W1|A``; asked for as
    ``A|B|W1|A`` (four parts of a three-part key), the one line says how keys are written,
    where it said only "no entity", not how to write the key that finds it."""
    row = '{"PartNo": "A|B", "WarehouseCode": "W1", "WarehouseId": 1, "LocationCode": "A", '
    feed = stock_feed(tmp_path, {1: row + '"LocationId": 1, "OnhandValue": 1}'}, count=1)
    run(tmp_path, "ingest", "sku_onhand", str(feed))
    assert run(tmp_path, "show", "sku_onhand", "A\\|B|W1|A")[0] == 0
    code, _out, err = run(tmp_path, "show", "sku_onhand", "A|B|W1|A")
    assert (code, err.strip()) == (
        1,
        "error: no sku_onhand entity with key 'A|B|W1|A': a sku_onhand key is "
        "PartNo|WarehouseCode|LocationCode, and a '|' or '\\' within a part is written "
        "'\\|' or '\\\\'",
    )


def test_a_baseline_ingest_says_so_and_notifies_nothing(tmp_path: Path) -> None:
    """`ingest --baseline` stores every row, reports no notification and a baseline job."""
    code, out, _err = run(tmp_path, "ingest", "sku_onhand", str(stock_feed(tmp_path)), "--baseline")
    assert code == 0
    assert "(upsert, baseline)" in out
    assert "inserted 14" in out
    assert "notifications 0" in out


def test_show_prints_a_stored_entity_and_one_line_for_an_unknown_one(tmp_path: Path) -> None:
    """`show KIND KEY` prints the snapshot and its version; unknown key or kind: one line, 1."""
    run(tmp_path, "ingest", "sku_onhand", str(stock_feed(tmp_path, count=2)))
    code, out, _err = run(tmp_path, "show", "sku_onhand", "P2|W1|A", "--json")
    assert code == 0
    shown = json.loads(out)
    assert (shown["version"], shown["snapshot"]["OnhandValue"]) == (1, 2)
    code, out, _err = run(tmp_path, "show", "sku_onhand", "P2|W1|A")
    assert code == 0
    assert "version 1" in out
    assert '"OnhandValue": 2' in out
    code, _out, err = run(tmp_path, "show", "sku_onhand", "P9|W1|A")
    assert (code, err.strip()) == (1, "error: no sku_onhand entity with key 'P9|W1|A'")
    code, _out, err = run(tmp_path, "show", "skuu", "P1")
    assert code == 1
    assert err.count("\n") == 1
    assert "unknown entity kind" in err


def test_an_ingest_on_a_terminal_draws_its_progress_bar_and_ends_as_usual(tmp_path: Path) -> None:
    """On a terminal (here: rich told so by FORCE_COLOR) the ingest draws a progress bar on
    standard error, and its summary and exit code are those of a piped run."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    command = [sys.executable, "-m", "deltahook", "--database-url", url, "ingest", "sku_onhand"]
    done = subprocess.run(
        [*command, str(stock_feed(tmp_path))],
        cwd=REPO,
        env=os.environ | {"FORCE_COLOR": "1"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "inserted 14" in done.stdout


@pytest.mark.parametrize(
    ("pragma", "reason"),
    [
        ("query_only = ON", "attempt to write a readonly database"),  # a read-only file or mount
        ("max_page_count = 1", "database or disk is full"),  # no room left for one more page
    ],
)
def test_a_store_that_cannot_be_written_is_one_line_and_exit_1(
    tmp_path: Path, pragma: str, reason: str
) -> None:
    """An ingest into a SQLite file it cannot write (read-only, or the disk full) says so in
    one line and exits 1, not with SQLAlchemy's traceback; the feed can be run again."""
    feed = stock_feed(tmp_path)
    assert run(tmp_path, "subscriptions", "sync")[0] == 0  # the store exists, its schema made

    def refuse_writes(connection: Any, _: Any) -> None:
        connection.execute(f"PRAGMA {pragma}")

    event.listen(Engine, "connect", refuse_writes)
    try:
        code, _, err = run(tmp_path, "ingest", "sku_onhand", str(feed))
    finally:
        event.remove(Engine, "connect", refuse_writes)
    assert code == 1
    assert err.startswith(f"error: the database cannot be written ({reason}): ")
    assert err.count("\n") == 1, err
    assert run(tmp_path, "ingest", "sku_onhand", str(feed))[0] == 0
