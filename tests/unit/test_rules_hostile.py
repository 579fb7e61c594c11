"""Hostile rule files: each is a located problem, never a traceback, a hang or a blown memory."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from deltahook.catalog.entities import Catalog
from deltahook.catalog.events import EventCatalog
from deltahook.errors import RuleError
from deltahook.rules.loader import load_rules
from deltahook.rules.model import RuleSet
from tests.conftest import REPO

CONSTANTS = {"ClientId": 1042, "ApplicationId": 1}


def load_text(tmp_path: Path, text: str, catalog: Catalog, events: EventCatalog) -> RuleSet:
    (tmp_path / "r.yaml").write_text(text)
    return load_rules(tmp_path, catalog=catalog, events=events, constants=CONSTANTS)


def problems(tmp_path: Path, text: str, catalog: Catalog, events: EventCatalog) -> list[str]:
    with pytest.raises(RuleError) as caught:
        load_text(tmp_path, text, catalog, events)
    return [str(p).replace(str(tmp_path) + "/", "") for p in caught.value.problems]


def sku_filter(condition: str, *, prefix: str = "") -> str:
    """A valid rule file whose one setting has ``condition`` as its filter (on line 9)."""
    return (
        f"{prefix}format_version: 1\n"
        "rules:\n"
        "  - notification: SkuChangedNotification\n"
        "    payload: {PartNo: row.PartNo, EntityChanged: setting.table}\n"
        "    settings:\n"
        "      - id: s\n"
        "        table: tClientProductSkuCulture\n"
        "        on: [insert]\n"
        f"        filter: {condition}\n"
    )


def matches(pattern: str) -> str:
    return sku_filter(f"{{new.Name: {{matches: '{pattern}'}}}}")


LAUGHS = "".join(f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 9)}]\n" for n in range(1, 10)).replace(
    "*l0", "lol"
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a repeat count larger than the regular expression engine takes
        (matches("a{4294967296}"), r"r\.yaml:9:38: .*repeat count"),
        # 5,000 nested groups
        (
            sku_filter("{new.Name: {matches: '" + "(" * 5000 + ")" * 5000 + "'}}"),
            r"r\.yaml:9:38: .*characters long",
        ),
        # groups nested 40 deep
        (
            sku_filter("{new.Name: {matches: '" + "(" * 40 + ")" * 40 + "'}}"),
            r"r\.yaml:9:38: .*nested",
        ),
        # an anchor that contains its own alias
        (
            "format_version: 1\nrules: &r [*r]\n",
            r"r\.yaml:2:12: alias \*r is inside the node it names",
        ),
        # 10,000 nested lists
        (
            "format_version: 1\nrules: " + "[" * 10_000 + "]" * 10_000 + "\n",
            r"r\.yaml:2:\d+: .*deep",
        ),
        # a tag that asks for a Python object
        ("format_version: !!python/object/apply:os.system [ls]\n", r"r\.yaml:1:17: .*tag"),
        # a core tag on the wrong kind of node
        ("format_version: 1\nrules: !!str [a]\n", r"r\.yaml:2:8: the tag !!str does not fit"),
        # an integer of 5,000 digits
        ("format_version: " + "9" * 5000 + "\n", r"r\.yaml:1:17: .*digits"),
        # a billion laughs used as a filter operand
        (
            LAUGHS + sku_filter("{new.Name: {in: *l9}}").replace("format", "x: 0\nformat", 1),
            r"r\.yaml:\d+:\d+: .*expand",
        ),
        # a control character: its real place, on one line
        ("format_version: 1\nrules:\n  - x\x01\n", r"r\.yaml:3:6: .*#x0001"),
    ],
    ids=[
        "repeat",
        "groups",
        "nesting",
        "recursive",
        "deep",
        "python-tag",
        "misfit-tag",
        "digits",
        "laughs",
        "control",
    ],
)
def test_a_hostile_rule_file_is_one_located_problem(
    tmp_path: Path, catalog: Catalog, events: EventCatalog, text: str, expected: str
) -> None:
    """Each hostile input is reported at its file:line:col on one line, without a traceback."""
    found = problems(tmp_path, text, catalog, events)
    assert any(re.match(expected, p) for p in found), found
    assert all("\n" not in p for p in found)


def test_a_file_that_is_not_rules_is_quoted_by_its_beginning_only(
    tmp_path: Path, catalog: Catalog, events: EventCatalog
) -> None:
    """A file of plain text lines (such as /etc/passwd) reads as one long value: the problem
    names file:line:col and quotes its first 40 characters and its length, not the whole file
    on one line as before."""
    passwd = "".join(f"user{n}:x:{n}:{n}::/home/user{n}:/bin/sh\n" for n in range(100))
    (found,) = problems(tmp_path, passwd, catalog, events)
    assert found == (
        f"r.yaml:1:1: a rule file must be a mapping, not a text of {len(passwd) - 1:,} "
        "characters beginning 'user0:x:0:0::/home/user0:/bin/sh user1:x'"
    )


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf", "1e400"])
def test_a_breakpoint_threshold_that_is_not_finite_is_refused(
    tmp_path: Path, catalog: Catalog, events: EventCatalog, value: str
) -> None:
    """A breakpoint threshold of NaN or infinity can never fire, so it is an error."""
    shipped = (REPO / "rules" / "sku_onhand.yaml").read_text()
    text = shipped.replace("threshold: MinimumValue", f"threshold: {value}")
    line = text.splitlines().index(f"          threshold: {value}") + 1
    found = problems(tmp_path, text, catalog, events)
    assert any(p.startswith(f"r.yaml:{line}:22:") and "finite" in p for p in found), found


@pytest.mark.parametrize("code", ["NO", "SE", "on", "yes", "off", "y", "No"])
def test_country_codes_and_yaml_1_1_booleans_load_as_strings(
    tmp_path: Path, catalog: Catalog, events: EventCatalog, code: str
) -> None:
    """Only true and false are booleans: NO, SE, on, yes and the like stay strings."""
    rules = load_text(
        tmp_path, sku_filter(f"{{new.CultureCode: {{in: [SE, {code}]}}}}"), catalog, events
    )
    assert len(rules) == 1


def test_a_duplicate_key_in_a_rule_file_is_refused_at_its_place(
    tmp_path: Path, catalog: Catalog, events: EventCatalog
) -> None:
    """A key given twice in any mapping (here a filter) is an error at the second one."""
    text = sku_filter("{new.Name: {eq: a}, new.Name: {eq: b}}")
    found = problems(tmp_path, text, catalog, events)
    assert any(p.startswith("r.yaml:9:37: duplicate key 'new.Name'") for p in found), found


def yaml_snippets() -> list[str]:
    markdown = (REPO / "rules" / "README.md").read_text()
    return re.findall(r"```yaml\n(.*?)```", markdown, flags=re.DOTALL)


def spliced(shipped: str, key: str, snippet: str) -> str:
    """A shipped rule file with its setting's ``key:`` block replaced by ``snippet``."""
    text = (REPO / "rules" / shipped).read_text()
    block = re.compile(rf"^ {{8}}{key}:\n(?: {{10}}.*\n)+", flags=re.MULTILINE)
    assert block.search(text), key
    return block.sub(textwrap.indent(snippet, " " * 8), text, count=1)


def test_every_yaml_snippet_of_the_rules_readme_loads(
    tmp_path: Path, catalog: Catalog, events: EventCatalog
) -> None:
    """Each yaml block of rules/README.md loads in its place (its `{in: [SE, NO]}` and its
    fan-out included)."""
    from deltahook.config import Settings
    from deltahook.rule_tests import run_file

    snippets = yaml_snippets()
    assert [s.split(":", 1)[0] for s in snippets] == [
        "format_version",
        "filter",
        "breakpoint",
        "format_version",
        "rules",
    ]
    rule_file, condition, breakpoint, fan_out, rule_test = snippets
    for number, text in enumerate(
        [
            rule_file,
            fan_out,
            spliced("sku_price.yaml", "filter", condition),
            spliced("sku_onhand.yaml", "breakpoint", breakpoint),
        ]
    ):
        folder = tmp_path / str(number)
        folder.mkdir()
        load_text(folder, text, catalog, events)
    (tmp_path / "tests").mkdir()
    for shipped in (REPO / "rules").glob("*.yaml"):
        (tmp_path / shipped.name).write_text(shipped.read_text())
    (tmp_path / "tests" / "readme.yaml").write_text(rule_test)
    results = run_file(Settings(), tmp_path / "tests" / "readme.yaml")
    assert [r.failures for r in results] == [[]]


def test_bytes_that_are_not_utf8_are_reported_where_they_are(
    tmp_path: Path, catalog: Catalog, events: EventCatalog
) -> None:
    """A byte that is not UTF-8 is named at its own line and column, not at 1:1."""
    (tmp_path / "r.yaml").write_bytes(b"format_version: 1\nrules:\n  - x\xff\n")
    with pytest.raises(RuleError) as caught:
        load_rules(tmp_path, catalog=catalog, events=events, constants=CONSTANTS)
    assert [str(p).replace(str(tmp_path) + "/", "") for p in caught.value.problems] == [
        "r.yaml:3:6: not UTF-8 text (invalid start byte 0xff)"
    ]


@pytest.mark.parametrize(
    "condition",
    [
        "new.PriceSale: {gt: .nan}",  # never true
        "new.PriceSale: {lt: .inf}",  # always true for a stored number
        "new.PriceSale: {in: [1, -.inf]}",
        "new.PriceSale: 1e400",  # too large for a float: infinity
    ],
)
def test_a_filter_operand_that_is_not_finite_is_refused(
    tmp_path: Path, catalog: Catalog, events: EventCatalog, condition: str
) -> None:
    """Feeds never hold NaN or infinity, so an operand that is one is a located error."""
    text = (REPO / "rules" / "sku_price.yaml").read_text()
    text = text.replace("new.PriceSale: {exists: true, ne: null}", condition)
    line = text.splitlines().index("        filter:") + 2
    found = problems(tmp_path, text, catalog, events)
    assert [p.split(": ", 1)[0].rsplit(":", 1)[0] for p in found] == [f"r.yaml:{line}"], found
    assert "finite" in found[0]


@pytest.mark.parametrize("literal", ["{value: .nan}", "{value: -.inf}", ".inf"])
def test_a_payload_literal_that_is_not_finite_is_refused(
    tmp_path: Path, catalog: Catalog, events: EventCatalog, literal: str
) -> None:
    """A payload cannot carry NaN or infinity (JSON has neither), so the literal is refused."""
    text = (REPO / "rules" / "sku_price.yaml").read_text()
    text = text.replace("PriceSaleValue: new.PriceSale", f"PriceSaleValue: {literal}")
    line = next(n for n, t in enumerate(text.splitlines(), 1) if "PriceSaleValue" in t)
    found = problems(tmp_path, text, catalog, events)
    assert any(p.startswith(f"r.yaml:{line}:") and "finite" in p for p in found), found


@pytest.mark.parametrize(
    ("pattern", "refused"),
    [
        ("(a+)+$", True),  # the classic: exponential on 'aaaa…!'
        ("^(\\w*\\s?)*$", True),  # a repeat of a repeat, one level down
        ("(x|y+)*z", True),  # inside an alternative too
        ("(?>(a+)+b)", True),  # an atomic group does not help what is inside it
        ("(a++)+$", False),  # possessive: no backtracking into it
        ("(?>a+)+$", False),  # an atomic group likewise
        ("(\\d{3}-)+\\d+", False),  # a bounded inner repeat
    ],
)
def test_a_pattern_with_a_repeat_inside_a_repeat_is_refused(
    tmp_path: Path, catalog: Catalog, events: EventCatalog, pattern: str, refused: bool
) -> None:
    """Nested unbounded repeats backtrack exponentially on some values, so they are errors."""
    text = matches(pattern.replace("'", "''"))
    if refused:
        found = problems(tmp_path, text, catalog, events)
        assert any(p.startswith("r.yaml:9:38:") and "exponential" in p for p in found), found
    else:
        assert len(load_text(tmp_path, text, catalog, events)) == 1


@pytest.mark.parametrize(
    ("version", "shown"),
    [
        ("true", "True"),  # equal to 1 in Python, but no version number
        ("'1'", "'1'"),  # a string
        ("2", "2"),  # a version not known
    ],
)
def test_a_format_version_other_than_the_number_1_is_refused(
    tmp_path: Path, catalog: Catalog, events: EventCatalog, version: str, shown: str
) -> None:
    """Only the number 1 is a supported version; anything else is refused at its place."""
    text = sku_filter("{new.Name: x}").replace("format_version: 1", f"format_version: {version}")
    found = problems(tmp_path, text, catalog, events)
    assert found == [f"r.yaml:1:17: format_version {shown} is not supported (use 1)"]
