"""CLI start-up imports only what the command uses: no server, migrations or drivers for rules."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from deltahook import cli
from deltahook.cli import main
from deltahook.cli.lazy import COMMANDS, SUBCOMMANDS, load_all
from tests.conftest import REPO

# The HTTP server, migrations, the PostgreSQL driver, the HTTP client, templates and metrics.
HEAVY = (
    "fastapi",
    "uvicorn",
    "starlette",
    "alembic",
    "psycopg",
    "httpx",
    "jinja2",
    "prometheus_client",
)

# What a preview's scratch database still needs: the metrics its ingest counts (its schema is a
# copy of an empty store the disk cache keeps, once a first preview had the migrations make it).
SCRATCH = {"prometheus_client"}

SCRIPT = """
import json, sys
from deltahook import cli
from deltahook.cli import main
try:
    main(sys.argv[2:], standalone_mode=False)
finally:
    with open(sys.argv[1], "w") as out:
        json.dump(sorted(sys.modules), out)
"""


def imported(tmp_path: Path, *args: str) -> set[str]:
    """The top-level packages a fresh interpreter holds after running ``deltahook ARGS``."""
    report = tmp_path / "modules.json"
    subprocess.run(
        [sys.executable, "-c", SCRIPT, str(report), *args],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    return {name.partition(".")[0] for name in json.loads(report.read_text())}


def test_help_imports_neither_the_engine_nor_the_database(tmp_path: Path) -> None:
    """`deltahook --help` lists the commands without the heavy stack, SQLAlchemy or pydantic."""
    loaded = imported(tmp_path, "--help")
    unwanted = {*HEAVY, "sqlalchemy", "pydantic", "yaml"}
    assert loaded.isdisjoint(unwanted), loaded & unwanted


def test_rules_check_imports_no_server_driver_or_client(tmp_path: Path) -> None:
    """`rules check` on the shipped rules loads rules and catalogs, not the serving stack."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    loaded = imported(tmp_path, "--database-url", url, "rules", "check")
    assert loaded.isdisjoint(HEAVY), loaded & set(HEAVY)


@pytest.mark.parametrize("command", ["preview", "ingest"])
def test_help_of_a_command_imports_no_server_driver_or_client(tmp_path: Path, command: str) -> None:
    """A subcommand's --help needs its options, not the stack behind them."""
    loaded = imported(tmp_path, command, "--help")
    assert loaded.isdisjoint(HEAVY), loaded & set(HEAVY)


def test_preview_of_one_change_imports_no_server_driver_or_client(tmp_path: Path) -> None:
    """`preview KIND --before --after` runs on a scratch SQLite database: no server or client."""
    stock = {
        "PartNo": "P1",
        "WarehouseCode": "STO",
        "WarehouseId": 3,
        "LocationCode": "A-12",
        "LocationId": 7,
        "OnhandValue": 5,
        "MinimumValue": 3,
    }
    before = tmp_path / "before.json"
    after = tmp_path / "after.json"
    before.write_bytes(orjson.dumps(stock))
    after.write_bytes(orjson.dumps(stock | {"OnhandValue": 0}))
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    args = ("--database-url", url, "preview", "sku_onhand", "--before", str(before))
    imported(tmp_path, *args, "--after", str(after), "--json")  # the cache may be cold
    loaded = imported(tmp_path, *args, "--after", str(after), "--json")
    unwanted = set(HEAVY) - SCRATCH
    assert loaded.isdisjoint(unwanted), loaded & unwanted


@pytest.mark.parametrize(
    "command", [["status"], ["log"], ["status", "--json"], ["subscriptions", "list"]]
)
def test_reading_the_delivery_log_imports_no_dispatcher_client_or_driver(
    tmp_path: Path, command: list[str]
) -> None:
    """`status`, `log` and the subscriptions list on SQLite read tables: not the dispatcher,
    its HTTP client, the PostgreSQL driver or the migrations (the store is made first, as an
    operator's is)."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    imported(tmp_path, "--database-url", url, "db", "upgrade")
    loaded = imported(tmp_path, "--database-url", url, *command)
    assert loaded.isdisjoint(HEAVY), loaded & set(HEAVY)


def test_delivering_from_sqlite_imports_no_postgresql_driver(tmp_path: Path) -> None:
    """`deliver --once` on SQLite sends with httpx; only a dispatcher on PostgreSQL listens
    for new deliveries, so psycopg stays out."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    loaded = imported(tmp_path, "--database-url", url, "deliver", "--once")
    assert "httpx" in loaded
    assert "psycopg" not in loaded


def test_the_lazy_command_table_is_what_the_modules_register() -> None:
    """Every command the CLI modules register is in the table, under its module and help."""
    load_all()
    registered = {
        name: (command.callback.__module__.rpartition(".")[2], command.get_short_help_str(10**6))
        for name, command in main.commands.items()
        if command.callback is not None
    }
    groups = {name for name, command in main.commands.items() if command.callback is None}
    assert registered == {name: COMMANDS.get(name) for name in registered}
    assert set(main.commands) == set(COMMANDS), groups


def test_every_cli_module_is_in_the_lazy_tables() -> None:
    """A module that registers commands is imported by the table, or its commands would vanish."""
    package = Path(cli.__file__).parent
    # app and lazy make the group; stops records stop signals before any command module loads.
    modules = {path.stem for path in package.glob("*.py")} - {"__init__", "app", "lazy", "stops"}
    listed = {module for module, _ in COMMANDS.values()}
    assert modules == listed | {m for extra in SUBCOMMANDS.values() for m in extra}


def test_ingest_into_a_current_database_imports_no_migrations(tmp_path: Path) -> None:
    """Opening a store whose schema is current reads its revision without loading Alembic."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    imported(tmp_path, "--database-url", url, "db", "upgrade")
    feed = tmp_path / "sku_onhand.ndjson"
    feed.write_bytes(b"")
    loaded = imported(tmp_path, "--database-url", url, "ingest", "sku_onhand", str(feed))
    unwanted = set(HEAVY) - {"prometheus_client"}  # an ingest counts its job
    assert loaded.isdisjoint(unwanted), loaded & unwanted


def test_a_warm_ingest_imports_neither_jsonschema_nor_a_progress_bar(tmp_path: Path) -> None:
    """With the validators kept on disk by an earlier run, an ingest of good records needs
    no jsonschema (it explains rejects only), a piped run draws no progress bar, and a CLI
    ingest, whose counters no one could scrape, loads no prometheus_client."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    imported(tmp_path, "--database-url", url, "db", "upgrade")
    feed = tmp_path / "sku_onhand.ndjson"
    stock = {"PartNo": "P1", "WarehouseCode": "STO", "WarehouseId": 3, "LocationCode": "A-12"}
    feed.write_bytes(orjson.dumps(stock | {"LocationId": 7, "OnhandValue": 5, "MinimumValue": 3}))
    args = ("--database-url", url, "ingest", "sku_onhand", str(feed))
    imported(tmp_path, *args)  # cold or warm, it fills the cache
    report = tmp_path / "modules.json"
    imported(tmp_path, *args)
    modules = set(json.loads(report.read_text()))
    assert {"jsonschema", "rich.progress", "prometheus_client"}.isdisjoint(modules), modules


def test_an_ingest_printing_json_imports_no_rich(tmp_path: Path) -> None:
    """rich draws the CLI's tables and summaries: an ingest that prints JSON never loads it
    (nor does any ingest before it reads its feed: the consoles are made when first used)."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    imported(tmp_path, "--database-url", url, "db", "upgrade")
    feed = tmp_path / "sku_onhand.ndjson"
    stock = {"PartNo": "P1", "WarehouseCode": "STO", "WarehouseId": 3, "LocationCode": "A-12"}
    feed.write_bytes(orjson.dumps(stock | {"LocationId": 7, "OnhandValue": 5, "MinimumValue": 3}))
    loaded = imported(tmp_path, "--database-url", url, "ingest", "sku_onhand", str(feed), "--json")
    assert "rich" not in loaded


# The modules loaded when the ingest starts reading its feed (``ingesting.read_items``).
AT_THE_FEED = """
import json, sys
from deltahook import ingesting
from deltahook.cli import main

seen = []
real = ingesting.read_items


def reading(*args, **kwargs):
    seen.append(sorted(sys.modules))
    return real(*args, **kwargs)


ingesting.read_items = reading
try:
    main(sys.argv[2:], standalone_mode=False)
finally:
    with open(sys.argv[1], "w") as out:
        json.dump(seen, out)
"""


def test_a_piped_ingest_of_a_file_reads_its_feed_before_loading_rich_or_unused_helpers(
    tmp_path: Path,
) -> None:
    """With standard error no terminal (and nothing telling rich otherwise) an ingest of a file
    decides on its progress bar without rich, and needs neither ``difflib`` (it words
    mistakes) nor the engine's entity read-back and posted events before it reads its feed;
    its summary is printed as before."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    imported(tmp_path, "--database-url", url, "db", "upgrade")
    feed = tmp_path / "sku_onhand.ndjson"
    stock = {"PartNo": "P1", "WarehouseCode": "STO", "WarehouseId": 3, "LocationCode": "A-12"}
    feed.write_bytes(orjson.dumps(stock | {"LocationId": 7, "OnhandValue": 5, "MinimumValue": 3}))
    report = tmp_path / "at-the-feed.json"
    env = {k: v for k, v in os.environ.items() if k not in {"FORCE_COLOR", "TTY_COMPATIBLE"}}
    args = ["--database-url", url, "ingest", "sku_onhand", str(feed)]
    done = subprocess.run(
        [sys.executable, "-c", AT_THE_FEED, str(report), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "inserted 1" in done.stdout
    [modules] = json.loads(report.read_text())
    unwanted = {"rich", "difflib", "deltahook.emission", "deltahook.store.readback"}
    assert unwanted.isdisjoint(modules), unwanted & set(modules)
