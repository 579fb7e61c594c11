"""`deltahook rules diff OLD NEW`: what a rule change would add, remove or alter, for CI."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import orjson

from tests.conftest import REPO
from tests.e2e.test_cli_rules import run, stock, write_json

EAN_ONLY = {"40544-GRY", "41632-GRY", "41700-NVY", "41717-BLK"}  # v1 -> v2: only EanCode


def variant(tmp_path: Path) -> Path:
    """The shipped rules with EanCode no longer watched by the sku setting."""
    folder = tmp_path / "variant"
    shutil.copytree(REPO / "rules", folder, ignore=shutil.ignore_patterns("tests", "*.md"))
    sku = folder / "sku.yaml"
    text = sku.read_text()
    assert "          - EanCode\n" in text
    sku.write_text(text.replace("          - EanCode\n", "", 1))
    return folder


def loaded(tmp_path: Path) -> None:
    code, _, err = run(tmp_path, "ingest", "sku", str(REPO / "fixtures/v1/sku.ndjson"))
    assert code == 0, err


def test_a_narrower_watch_removes_exactly_what_it_no_longer_sees(tmp_path: Path) -> None:
    """Dropping EanCode from a watch removes the notifications of the SKUs whose only change
    was EanCode, names the setting, and exits 1; previewing wrote nothing, so again is equal."""
    loaded(tmp_path)
    args = ("rules", "diff", str(REPO / "rules"), str(variant(tmp_path)), "--json")
    feed = ("--feed", str(REPO / "fixtures/v2/sku.ndjson"))
    code, out, err = run(tmp_path, *args, *feed)
    assert code == 1, err
    data = orjson.loads(out)
    assert {c["entity"]["key"] for c in data["changes"]} == EAN_ONLY
    assert {c["change"] for c in data["changes"]} == {"removed"}
    assert {s for c in data["changes"] for s in c["settings"]} == {"SkuChangedNotification/sku"}
    assert data["counts"]["removed"] == 4
    assert data["counts"]["unchanged"] > 0
    assert run(tmp_path, *args, *feed)[1] == out


def test_the_other_way_round_adds_them(tmp_path: Path) -> None:
    """From the variant back to the shipped rules, the same notifications are additions."""
    loaded(tmp_path)
    code, out, _ = run(
        tmp_path, "rules", "diff", str(variant(tmp_path)), str(REPO / "rules"), "--json",
        "--feed", str(REPO / "fixtures/v2"),
    )  # fmt: skip
    assert code == 1
    changes = orjson.loads(out)["changes"]
    assert {(c["change"], c["entity"]["key"]) for c in changes} == {
        ("added", key) for key in EAN_ONLY
    }
    assert changes[0]["payload"]["new"]["EntityChanged"] == "tClientProductSku"


def test_equal_rule_sets_exit_0_with_a_table(tmp_path: Path) -> None:
    """The same rules on both sides: no differences, exit 0, and the table says so."""
    loaded(tmp_path)
    rules = str(REPO / "rules")
    code, out, _ = run(
        tmp_path, "rules", "diff", rules, rules, "--feed", str(REPO / "fixtures/v2/sku.ndjson")
    )
    assert code == 0
    assert "no differences" in out


def test_a_before_after_pair_shows_the_payload_difference(tmp_path: Path) -> None:
    """A pair whatever the store holds: a setting given another payload value is altered, and
    the table shows the field old and new and the setting."""
    new = tmp_path / "new"
    shutil.copytree(REPO / "rules", new, ignore=shutil.ignore_patterns("tests", "*.md"))
    onhand = new / "sku_onhand.yaml"
    onhand.write_text(
        onhand.read_text().replace(
            "MinimumValue: new.MinimumValue", "MinimumValue: old.MinimumValue"
        )
    )
    before = write_json(tmp_path / "before.json", stock(5, minimum=3))
    after = write_json(tmp_path / "after.json", stock(2, minimum=4))
    code, out, _ = run(
        tmp_path, "rules", "diff", str(REPO / "rules"), str(new), "--kind", "sku_onhand",
        "--before", str(before), "--after", str(after),
    )  # fmt: skip
    assert code == 1
    assert "altered" in out
    assert "MinimumValue" in out
    assert "4 → 3" in out
    assert "SkuOnHandBreakPointNotification/reorder-point" in out


def test_bad_input_exits_2_with_one_line(tmp_path: Path) -> None:
    """A broken NEW rule set, a missing feed or no input at all: exit 2, no traceback."""
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "x.yaml").write_text("format_version: 1\nrules:\n  - notification: Nope\n")
    rules = str(REPO / "rules")
    feed = str(REPO / "fixtures/v2/sku.ndjson")
    code, _, err = run(tmp_path, "rules", "diff", rules, str(broken), "--feed", feed)
    assert code == 2
    assert "x.yaml:3" in err
    code, _, err = run(tmp_path, "rules", "diff", rules, rules, "--feed", str(tmp_path / "no"))
    assert code == 2
    assert "error:" in err
    assert "Traceback" not in err
    code, _, err = run(tmp_path, "rules", "diff", rules, rules)
    assert code == 2
    assert "--feed" in err


def test_the_recent_past_replayed_from_the_store(tmp_path: Path) -> None:
    """--jobs 1 replays the last ingest's logged row changes: the same removals as its feed;
    --since a window holding both ingests shows them too, beside the first load's inserts."""
    loaded(tmp_path)
    code, _, _ = run(tmp_path, "ingest", "sku", str(REPO / "fixtures/v2/sku.ndjson"))
    assert code == 0
    args = ("rules", "diff", str(REPO / "rules"), str(variant(tmp_path)), "--json")
    code, out, err = run(tmp_path, *args, "--jobs", "1")
    assert code == 1, err
    changes = orjson.loads(out)["changes"]
    assert {(c["change"], c["entity"]["key"]) for c in changes} == {
        ("removed", key) for key in EAN_ONLY
    }
    code, out, _ = run(tmp_path, *args, "--since", "1d")
    assert code == 1
    counts = orjson.loads(out)["counts"]
    assert (counts["removed"], counts["added"]) == (4, 0)
    assert counts["unchanged"] > 300  # the first load's notifications, the same in both


def test_a_window_needs_a_sensible_size(tmp_path: Path) -> None:
    """--jobs 0 or a --since that is no duration is bad input: exit 2."""
    rules = str(REPO / "rules")
    assert run(tmp_path, "rules", "diff", rules, rules, "--jobs", "0")[0] == 2
    # past 64 bits: it was an OverflowError traceback from the store's driver (exit 1)
    code, _, err = run(tmp_path, "rules", "diff", rules, rules, "--jobs", "9" * 20)
    assert (code, err) == (2, "error: --jobs must be from 1 to 1,000,000\n")
    assert run(tmp_path, "rules", "diff", rules, rules, "--since", "soon")[0] == 2


def test_found_when_the_rules_group_was_imported_first() -> None:
    """`rules diff` and `rules stats` exist even when a test or tool imported the rules group's
    module before the command line asked for it."""
    code = (
        "import deltahook.cli.rules\n"
        "from deltahook.cli import main\n"
        "main(['rules', 'diff', '--help'], standalone_mode=False)\n"
        "main(['rules', 'stats', '--help'], standalone_mode=False)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "OLD_DIR NEW_DIR" in done.stdout


def test_a_feed_whose_records_were_rejected_says_so(tmp_path: Path) -> None:
    """Records a feed had rejected are left out of the diff, and the command says how many and
    why on standard error, beside 'no differences' for what it could read."""
    loaded(tmp_path)
    feed = tmp_path / "sku.ndjson"
    feed.write_bytes(b'{"PartNo": 5}\nnot json\n')
    rules = str(REPO / "rules")
    code, out, err = run(tmp_path, "rules", "diff", rules, rules, "--feed", str(feed))
    assert code == 0
    assert "no differences" in out
    assert "2 record(s) rejected, left out of the diff" in err
    assert "line 2" in err
