"""Reading feeds: formats, line numbers and reasons for rejected records."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import orjson
import pytest

from deltahook.catalog.entities import load_catalog, load_kind
from deltahook.errors import FeedError
from deltahook.feeds import csv_rows, json_stream, values
from deltahook.feeds.readers import Record, Reject, detect_format, read_items
from deltahook.feeds.validate import Problem, RecordValidator
from tests.conftest import REPO

CATALOG = load_catalog(REPO / "schemas" / "entities")
ONHAND = CATALOG["sku_onhand"]


def items(text: str, fmt: str, kind: str = "sku_onhand") -> list[Record | Reject]:
    return list(read_items(io.BytesIO(text.encode()), fmt, CATALOG[kind]))  # type: ignore[arg-type]


def test_ndjson_keeps_line_numbers_and_skips_blank_lines() -> None:
    """Each record knows its line; a malformed line is rejected with its column."""
    got = items('{"a": 1}\n\n{"b": 2}\n{oops\n[1]\n', "ndjson")
    assert [type(i).__name__ for i in got] == ["Record", "Record", "Reject", "Reject"]
    assert [i.line for i in got] == [1, 3, 4, 5]
    assert isinstance(got[2], Reject)
    assert "malformed JSON at column 2" in got[2].reason
    assert isinstance(got[3], Reject)
    assert "must be a JSON object" in got[3].reason


def test_json_array_records_start_on_their_own_line() -> None:
    """A pretty-printed array gives each element the line it starts on."""
    text = '[\n  {"a": 1},\n  {\n    "b": "x\\ny"\n  },\n  {"c": 3}\n]\n'
    got = items(text, "json")
    assert [(i.line, i.data) for i in got if isinstance(i, Record)] == [
        (2, {"a": 1}),
        (3, {"b": "x\ny"}),
        (6, {"c": 3}),
    ]


def test_json_array_malformed_element_ends_the_read_with_its_line() -> None:
    """After a malformed element nothing more can be read; the reject says where."""
    got = items('[\n {"a": 1},\n {"b": }\n]', "json")
    assert isinstance(got[0], Record)
    assert isinstance(got[1], Reject)
    assert got[1].line == 3
    assert "malformed JSON at line 3" in got[1].reason


def test_a_json_array_element_over_the_limit_is_rejected_as_too_large(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An element larger than a record may be is named as such, not as malformed JSON."""
    monkeypatch.setattr(values, "MAX_RECORD", 64)
    monkeypatch.setattr(json_stream, "_CHUNK", 16)
    got = items('[{"a": 1},\n {"b": "' + "x" * 100 + '"}, {"c": 3}]', "json")
    assert isinstance(got[0], Record)
    assert got[1] == Reject(
        2, None, f"an element {values.TOO_LONG}; the rest of the array could not be read"
    )


def test_json_feed_must_be_an_array() -> None:
    """A JSON document that is not an array is rejected as a whole."""
    (reject,) = items('{"a": 1}', "json")
    assert isinstance(reject, Reject)
    assert "array" in reject.reason


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ('[\n{"a": 1}\n]\n[\n{"b": 2}\n]\n', 4),  # two arrays, one after the other
        ('[{"a": 1}]\n\n{"b": 2}\n', 3),  # a record after the array
        ("[]\nnull", 2),  # an empty array and something else
        ('[{"a": 1}] x', 1),  # garbage on the closing line
    ],
)
def test_text_after_the_array_is_rejected_where_it_starts(text: str, line: int) -> None:
    """What follows the closing ']' (a second array appended, say) would be lost without a
    word; it is a rejection without a key, so a full feed does not sweep what it may hold."""
    got = items(text, "json")
    assert got[-1] == Reject(
        line, None, "text after the end of the array: a JSON feed is one array"
    )
    assert all(isinstance(i, Record) for i in got[:-1])


@pytest.mark.parametrize("fmt", ["ndjson", "json"])
def test_a_name_an_object_holds_twice_rejects_its_record_naming_it(fmt: str) -> None:
    """JSON parsers keep the last of two values under one name, so the first would be lost
    without a word: the record is rejected naming the name (at any depth), and the records
    around it are read as ever, however their names are spaced or escaped."""
    records = [
        '{"PartNo": "P1", "OnHand": 1, "OnHand": 5}',
        '{"PartNo": "P2", "Rows": [{"k": 1, "k": 2}]}',
        '{"PartNo" : "P3", "Note": "said \\":\\" and \\u0022:"}',
        '{"PartNo": "P4", "OnHand": 2}',
    ]
    text = "\n".join(records) + "\n" if fmt == "ndjson" else "[\n" + ",\n".join(records) + "\n]\n"
    got = items(text, fmt)
    assert [(i.line, type(i).__name__) for i in got] == [
        (1 + (fmt == "json"), "Reject"),
        (2 + (fmt == "json"), "Reject"),
        (3 + (fmt == "json"), "Record"),
        (4 + (fmt == "json"), "Record"),
    ]
    assert [(r.field, r.reason) for r in got[:2] if isinstance(r, Reject)] == [
        ("OnHand", values.REPEATED),
        ("k", values.REPEATED),
    ]
    assert isinstance(got[2], Record)
    assert got[2].data["Note"] == 'said ":" and ":'


def test_a_name_held_twice_is_found_in_the_lines_read_again_by_the_standard_library() -> None:
    """An NDJSON line orjson refuses (NaN) or may round (19 digits) is read again with the
    standard library, which must not keep the last of two values under one name either."""
    lines = [
        '{"PartNo": "P1", "Id": 1000000000000000000, "Id": 2}',
        '{"PartNo": "P2", "Weight": NaN, "PartNo": "P3"}',
        '{"PartNo": "P4", "Id": 1000000000000000000}',
    ]
    got = items("\n".join(lines) + "\n", "ndjson")
    assert [(type(i).__name__, getattr(i, "field", None)) for i in got] == [
        ("Reject", "Id"),
        ("Reject", "PartNo"),
        ("Record", None),
    ]
    assert [i.reason for i in got[:2] if isinstance(i, Reject)] == [values.REPEATED] * 2


def test_csv_cells_are_typed_by_the_schema() -> None:
    """Numbers, booleans and empty cells (absent) follow the kind's property types."""
    text = "PartNo,WarehouseCode,WarehouseId,LocationCode,LocationId,OnhandValue,IsActive\n"
    text += "P1,W1,3,A,4,5.5,true\nP2,W1,3,A,4,,no\nP3,W1,x,A,4,1,true\n"
    got = items(text, "csv")
    assert isinstance(got[0], Record)
    assert got[0].data["WarehouseId"] == 3
    assert got[0].data["OnhandValue"] == 5.5
    assert got[0].data["IsActive"] is True
    assert isinstance(got[1], Record)
    assert "OnhandValue" not in got[1].data
    assert isinstance(got[2], Reject)
    assert (got[2].line, got[2].field) == (4, "WarehouseId")


@pytest.mark.parametrize(
    ("cell", "read"),
    [
        ("12", 12),
        (" 12 ", 12),  # spaces around a number are not part of it
        ("-1.5e2", -150.0),
        ("1,000", None),  # a thousands separator: not a number
        ("1_000", None),  # Python's digit separator: not a number either
        ("1_0.5", None),
        ("\u0661\u0662", None),  # digits of another script (Arabic-Indic 12)
        ("\uff11\uff12", None),  # full-width digits
    ],
)
def test_a_csv_number_cell_is_a_number_only_in_plain_digits(cell: str, read: float | None) -> None:
    """A numeric cell is a number only in ASCII digits (spaces around it are dropped); else the
    row is rejected naming the column, as for '1,000'."""
    header = "PartNo,WarehouseCode,WarehouseId,LocationCode,LocationId,OnhandValue\n"
    (got,) = items(f'{header}P1,W1,3,A,4,"{cell}"\n', "csv")
    if read is None:
        assert isinstance(got, Reject)
        assert (got.field, got.reason) == ("OnhandValue", f"{cell!r} is not a number")
    else:
        assert isinstance(got, Record)
        assert got.data["OnhandValue"] == read


def test_a_csv_cell_of_a_number_or_string_column_that_is_no_number_stays_text() -> None:
    """Where the schema allows text too, '1_000' is read as the text it is, not as 1000."""
    types = {"Code": {"string", "integer"}}
    got = csv_rows._typed_row(["Code"], ["1_000"], types)
    assert got == {"Code": "1_000"}
    assert csv_rows._typed_row(["Code"], ["1000"], types) == {"Code": 1000}


def test_a_csv_header_that_names_a_column_twice_refuses_the_feed() -> None:
    """Two cells for one field leave its value unknown: the header is rejected, no row is read
    (a full feed's sweep then does not run, as for an unknown column)."""
    header = "PartNo,WarehouseCode,WarehouseId,LocationCode,LocationId,OnhandValue,OnhandValue\n"
    (got,) = items(f"{header}P1,W1,3,A,4,5,6\n", "csv")
    assert isinstance(got, Reject)
    assert (got.line, got.field, got.key) == (1, "OnhandValue", None)
    assert "named more than once" in got.reason


def test_csv_is_refused_for_kinds_with_collections() -> None:
    """Only flat kinds can be read from CSV."""
    with pytest.raises(FeedError, match="cannot be read from CSV"):
        items("PartNo\nP1\n", "csv", kind="sku")


@pytest.mark.parametrize(
    ("name", "fmt", "expected"),
    [
        ("a.ndjson", None, "ndjson"),  # by suffix
        ("a.jsonl", None, "ndjson"),  # the other common NDJSON suffix
        ("a.json", None, "json"),  # a JSON array
        ("a.csv", None, "csv"),
        ("a.txt", "csv", "csv"),  # an explicit format wins
    ],
)
def test_format_detection(name: str, fmt: str | None, expected: str) -> None:
    """The format comes from --format, else from the file name."""
    assert detect_format(Path(name), fmt) == expected


def test_unknown_suffix_asks_for_a_format() -> None:
    """A file whose name says nothing needs --format."""
    with pytest.raises(FeedError, match="--format"):
        detect_format(Path("feed.txt"), None)


def test_validation_names_the_field_and_the_reason() -> None:
    """A wrong type and a missing key field are each explained with the field at fault."""
    validator = RecordValidator(ONHAND)
    good = {
        "PartNo": "P1",
        "WarehouseCode": "W",
        "WarehouseId": 1,
        "LocationCode": "A",
        "LocationId": 1,
    }
    assert validator.problem(good) is None
    wrong = validator.problem(good | {"OnhandValue": "7"})
    assert wrong is not None
    assert wrong.field == "OnhandValue"
    assert "'7' is not of type 'number'" in wrong.reason
    missing = validator.problem({k: v for k, v in good.items() if k != "PartNo"})
    assert missing is not None
    assert (missing.field, missing.reason) == ("PartNo", "required field 'PartNo' is missing")


def test_partial_validation_only_requires_the_key() -> None:
    """A merge record may leave out everything but its key, yet types are still checked."""
    validator = RecordValidator(ONHAND, partial=True)
    key = {"PartNo": "P1", "WarehouseCode": "W", "LocationCode": "A"}
    assert validator.problem(key | {"OnhandValue": 3}) is None
    assert validator.problem(key | {"OnhandValue": "x"}) is not None


def test_a_badly_formatted_date_names_its_field() -> None:
    """A value that breaks a property's format is explained with that field, not in general."""
    good = {"PartNo": "P1", "WarehouseCode": "W", "WarehouseId": 1}
    good |= {"LocationCode": "A", "LocationId": 1}
    wrong = RecordValidator(ONHAND).problem(good | {"NextDeliveryDate": "1_000"})
    assert wrong is not None
    assert (wrong.field, wrong.reason) == ("NextDeliveryDate", "'1_000' is not a 'date'")


@pytest.mark.parametrize(
    "date",
    [
        "2026-13-45",  # no 13th month, no 45th day
        "2026-02-30",  # no 30 February
        "2026-02-29",  # not a leap year
        "1900-02-29",  # a century that is not a leap year
        "0000-01-01",  # there is no year 0
        "\uff12\uff10\uff12\uff16-12-01",  # full-width digits
        "\u0662\u0660\u0662\u0666-12-01",  # Arabic-Indic digits
        "2026-12-01\n",  # a line break after it
    ],
)
def test_an_impossible_date_is_rejected_naming_its_field(date: str) -> None:
    """A date must exist in the calendar and be written in ASCII digits, whichever
    fastjsonschema is installed; the rejection names the field like any format failure."""
    good = {"PartNo": "P1", "WarehouseCode": "W", "WarehouseId": 1}
    good |= {"LocationCode": "A", "LocationId": 1}
    validator = RecordValidator(ONHAND)
    assert validator.problem(good | {"NextDeliveryDate": "2024-02-29"}) is None
    wrong = validator.problem(good | {"NextDeliveryDate": date})
    assert wrong == Problem("NextDeliveryDate", f"{date!r} is not a 'date'")


STAMPED = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "additionalProperties": False,
    "required": ["Id"],
    "properties": {
        "Id": {"type": "string"},
        "At": {"type": "string", "format": "date-time"},
        "Mail": {"type": "string", "format": "email"},
    },
    "x-deltahook": {"kind": "stamped", "table": "tStamped", "key": ["Id"]},
}


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("At", "2026-13-45T10:00:00Z", "is not a 'date-time'"),  # impossible date
        ("At", "2026-02-30T10:00:00+01:00", "is not a 'date-time'"),
        ("At", "2026-02-28T24:00:00Z", "is not a 'date-time'"),  # no hour 24
        ("At", "2026-02-28T10:00:00", "is not a 'date-time'"),  # no time zone
        ("At", "\uff12\uff10\uff12\uff16-02-28T10:00:00Z", "is not a 'date-time'"),
        ("Mail", "a@b", "is not a 'email'"),  # one validator's email is stricter
    ],
)
def test_a_value_of_a_user_kind_breaking_its_format_is_rejected_naming_its_field(
    tmp_path: Path, field: str, value: str, reason: str
) -> None:
    """A kind of one's own with date-time and email fields: the reject names the field and
    the format, never 'record does not match its schema'."""
    path = tmp_path / "stamped.json"
    path.write_bytes(orjson.dumps(STAMPED))
    validator = RecordValidator(load_kind(path))
    assert validator.problem({"Id": "1", "At": "2024-02-29T23:59:60.5+14:00"}) is None
    assert validator.problem({"Id": "1", field: value}) == Problem(field, f"{value!r} {reason}")


CUSTOMER = CATALOG["customer"]
ANN = {"CustomerCode": "C1", "CustomerId": 501, "Addresses": [{"AddressCode": "home"}]}


@pytest.mark.parametrize("partial", [False, True], ids=["whole", "merge"])
@pytest.mark.parametrize(
    ("record", "field", "names"),
    [
        # a field the root does not define
        (ANN | {"Nickname": "Annie"}, "Nickname", ["Nickname"]),
        # one inside the second address: its path says which row
        (
            ANN | {"Addresses": [{"AddressCode": "home"}, {"AddressCode": "work", "Town": "Lund"}]},
            "Addresses.1.Town",
            ["Addresses.1.Town"],
        ),
        # every one, the root's first (in the record's order), then the nested ones
        (
            ANN | {"Addresses": [{"AddressCode": "home", "Town": "Lund"}], "Zeta": 1, "Alias": 2},
            "Zeta",
            ["Zeta", "Alias", "Addresses.0.Town"],
        ),
        # a misspelt name is named, not the field it leaves missing
        ({"CustomerCode": "C1", "CustomerID": 501}, "CustomerID", ["CustomerID"]),
    ],
)
def test_a_field_the_kind_does_not_define_is_named_with_its_path(
    record: dict[str, Any], field: str, names: list[str], *, partial: bool
) -> None:
    """Unknown fields at any depth reject the record naming each one by its path, in whole and
    in merge records alike."""
    problem = RecordValidator(CUSTOMER, partial=partial).problem(record)
    assert problem == Problem(field, f"unknown field(s) for kind 'customer': {names}")


def test_a_record_with_many_unknown_fields_names_twenty_and_counts_the_rest() -> None:
    """A reason stays short however many names a record has that its kind does not define."""
    record = ANN | {f"X{i:02}": i for i in range(25)}
    problem = RecordValidator(CUSTOMER).problem(record)
    assert problem is not None
    shown = [f"X{i:02}" for i in range(20)]
    assert problem.reason == f"unknown field(s) for kind 'customer': {shown} and 5 more"


def test_a_name_matching_a_user_kinds_pattern_is_known(tmp_path: Path) -> None:
    """A kind of one's own may allow names by pattern (patternProperties): only the names no
    pattern matches are unknown."""
    schema = STAMPED | {"patternProperties": {"^Extra": {"type": "string"}}}
    path = tmp_path / "stamped.json"
    path.write_bytes(orjson.dumps(schema))
    validator = RecordValidator(load_kind(path))
    assert validator.problem({"Id": "1", "ExtraNote": "x"}) is None
    problem = validator.problem({"Id": "1", "ExtraNote": "x", "Note": "y"})
    assert problem == Problem("Note", "unknown field(s) for kind 'stamped': ['Note']")


def test_a_csv_header_naming_an_unknown_column_refuses_the_feed_in_one_reject() -> None:
    """A column the kind does not define: one reject, of the header, naming it; no row is read."""
    header = "PartNo,WarehouseCode,WarehouseId,LocationCode,LocationId,Shelf\n"
    (got,) = items(f"{header}P1,W1,3,A,4,x\nP2,W1,3,A,4,y\n", "csv")
    assert got == Reject(1, "Shelf", "unknown column(s) for kind 'sku_onhand': ['Shelf']")
