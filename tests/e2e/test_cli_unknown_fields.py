"""Fields a kind does not define, as `deltahook ingest` reports them: each record rejected by its
line with a reason naming the field (by path when nested), the rest of the feed applied."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest

from tests.e2e.test_cli_ingest import run

HOME = {"AddressCode": "home", "City": "Lund"}
FEED = [
    {"CustomerCode": "C1", "CustomerId": 501, "Addresses": [HOME]},
    {"CustomerCode": "C2", "CustomerId": 502, "Nickname": "Bo"},
    {
        "CustomerCode": "C3",
        "CustomerId": 503,
        "Addresses": [HOME, {"AddressCode": "w", "Town": "X"}],
    },
    {"CustomerCode": "C4", "CustomerId": 504},
]
REJECTS = [
    {
        "line": 2,
        "field": "Nickname",
        "reason": "unknown field(s) for kind 'customer': ['Nickname']",
    },
    {
        "line": 3,
        "field": "Addresses.1.Town",
        "reason": "unknown field(s) for kind 'customer': ['Addresses.1.Town']",
    },
]


def _feed(tmp_path: Path) -> Path:
    path = tmp_path / "customers.ndjson"
    path.write_bytes(b"".join(orjson.dumps(record) + b"\n" for record in FEED))
    return path


@pytest.mark.parametrize("mode", ["upsert", "merge", "full"])
def test_unknown_fields_reject_their_records_by_line_and_the_rest_is_applied(
    tmp_path: Path, mode: str
) -> None:
    """In every mode: exit 3, one line per rejected record naming the unknown field (nested by
    its path), the good records applied; a full feed still sweeps, as the rejects' keys are
    known (their customers are kept, not deactivated)."""
    feed = _feed(tmp_path)
    code, _, _ = run(tmp_path, "ingest", "customer", str(feed))  # every entity stored (merge)
    assert code == 3
    code, out, err = run(tmp_path, "ingest", "customer", str(feed), "--mode", mode, "--json")
    assert code == 3
    doc = json.loads(out)
    assert doc["rejects"] == REJECTS
    assert (doc["counts"]["rejected"], doc["counts"]["unchanged"]) == (2, 2)
    assert doc["sweep"] == ("swept" if mode == "full" else None)
    assert "Traceback" not in err


def test_the_summary_prints_each_rejected_record_in_one_line(tmp_path: Path) -> None:
    """Without --json, each reject is one line on stderr with its line, field and reason."""
    code, out, err = run(tmp_path, "ingest", "customer", str(_feed(tmp_path)))
    assert code == 3
    assert "inserted 2" in out
    assert err.splitlines() == [
        "  rejected line 2: Nickname: unknown field(s) for kind 'customer': ['Nickname']",
        "  rejected line 3: Addresses.1.Town: "
        "unknown field(s) for kind 'customer': ['Addresses.1.Town']",
    ]


def test_a_csv_header_with_an_unknown_column_is_one_clear_error(tmp_path: Path) -> None:
    """A CSV column the kind does not define: the header is rejected in one line naming it, and
    no row is applied."""
    feed = tmp_path / "stock.csv"
    feed.write_text(
        "PartNo,WarehouseCode,WarehouseId,LocationCode,LocationId,OnhandValue,Shelf\n"
        "P1,W1,1,A,1,5,x\nP2,W1,1,A,1,6,y\n"
    )
    code, out, err = run(tmp_path, "ingest", "sku_onhand", str(feed))
    assert code == 3
    assert "inserted 0" in out
    assert err.splitlines() == [
        "  rejected line 1: Shelf: unknown column(s) for kind 'sku_onhand': ['Shelf']"
    ]


@pytest.mark.parametrize("command", ["ingest", "preview"])
def test_a_full_csv_feed_refused_by_its_header_says_no_record_was_applied(
    tmp_path: Path, command: str
) -> None:
    """A full CSV feed whose header names an unknown column: exit 4, the sweep skipped, and the
    line says no record was (or would be) applied, not that the rest of the feed was."""
    feed = tmp_path / "stock.csv"
    feed.write_text("PartNo,WarehouseCode,Shelf\nP1,W1,x\n")
    code, _, err = run(tmp_path, command, "sku_onhand", str(feed), "--mode", "full")
    assert code == 4
    sweep = [line for line in err.splitlines() if line.startswith("sweep skipped")]
    assert len(sweep) == 1
    assert sweep[0].endswith(
        "no record of it was applied" if command == "ingest" else "apply no record of the feed"
    )
    assert "rest of the feed" not in err
