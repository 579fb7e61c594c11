"""Text from users' files is printed as written: `[/x]` in a value is not console markup."""

from __future__ import annotations

import shutil
from pathlib import Path

from click.testing import CliRunner

from deltahook.cli import main
from tests.conftest import REPO

MARKUP = "[/x]"


def run(tmp_path: Path, *args: str) -> tuple[int, str]:
    """Exit code and all output of a command; an exception other than exit fails the test."""
    result = CliRunner().invoke(main, ["--database-url", f"sqlite:///{tmp_path / 'db'}", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout + result.stderr


def test_a_rules_folder_whose_name_looks_like_markup_is_named_as_is(tmp_path: Path) -> None:
    """`rules check` on a broken folder called [/x] ends with its problem count and name."""
    folder = tmp_path / "[" / "x]"
    folder.mkdir(parents=True)
    (folder / "r.yaml").write_text("format_version: 2\nrules: []\n")
    code, output = run(tmp_path, "rules", "check", str(folder))
    assert code == 1
    assert output.splitlines()[-1] == f"1 problem(s) in {folder}"


def test_a_rule_test_case_named_like_markup_is_shown_as_written(tmp_path: Path) -> None:
    """`rules test` prints a case called [/x] with its name intact."""
    for shipped in (REPO / "rules").glob("*.yaml"):
        shutil.copy(shipped, tmp_path)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "t.yaml").write_text(
        f"rules: ..\ncases:\n  - name: '{MARKUP}'\n    feed: {{sku: []}}\n    expect: []\n"
    )
    code, output = run(tmp_path, "rules", "test", str(tmp_path / "tests" / "t.yaml"))
    assert code == 0
    assert f"t.yaml:3 {MARKUP}" in output


def test_a_rejected_value_that_looks_like_markup_is_shown_as_written(tmp_path: Path) -> None:
    """A record rejected for the value [/x] is reported with that value, exit 3."""
    feed = tmp_path / "stock.ndjson"
    feed.write_text(
        '{"PartNo": "P1", "WarehouseCode": "S", "WarehouseId": 3, "LocationCode": "A",'
        f' "LocationId": 7, "OnhandValue": "{MARKUP}"}}\n'
    )
    code, output = run(tmp_path, "ingest", "sku_onhand", str(feed))
    assert code == 3
    assert f"'{MARKUP}' is not of type" in output


def test_a_problem_on_line_100_is_located_as_written_not_as_an_emoji(tmp_path: Path) -> None:
    """`file:100:3` stays `:100:`; rich would otherwise print the emoji code as 💯."""
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "r.yaml").write_text("#\n" * 99 + "a: \x00\n")
    code, output = run(tmp_path, "rules", "check", str(folder))
    assert code == 1
    assert f"{folder / 'r.yaml'}:100:" in output
    assert "\N{HUNDRED POINTS SYMBOL}" not in output


def test_a_preview_note_is_coloured_and_quotes_the_feed_as_written(tmp_path: Path) -> None:
    """`preview`'s notes read `note: ...` as ingest's do (the markup was printed literally,
    `[yellow]note:[/]`), and a key like [/x] in a note is printed as written."""
    record = (
        f'{{"PartNo": "{MARKUP}", "WarehouseCode": "S", "WarehouseId": 3, "LocationCode": "A",'
        ' "LocationId": 7, "OnhandValue": 5}\n'
    )
    feed = tmp_path / "stock.ndjson"
    feed.write_text(record * 2)
    code, output = run(tmp_path, "preview", "sku_onhand", str(feed))
    assert code == 0
    assert "[yellow]" not in output
    assert f"  note: line 2: duplicate key '{MARKUP}|S|A' in this feed" in output
