"""The byte test that spares clean NDJSON lines the slow check for a name held twice."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from deltahook.feeds import values

# Texts rich in what the test counts and what could hide it: colons, quotes, backslashes.
TEXT = st.text(alphabet=st.sampled_from('ab:"\\ é'), max_size=6)
SPACE = st.sampled_from(["", " ", "\t", "\n  "])


@st.composite
def json_text(draw: st.DrawFn, depth: int = 0) -> str:
    """A JSON value written as a person or another library might: any spacing, any character
    of a text possibly as a ``\\uXXXX`` escape, and objects that may hold a name twice."""
    kind = draw(st.sampled_from(["text", "number", "object", "array"] if depth < 3 else ["text"]))
    if kind == "text":
        return _written(draw, draw(TEXT))
    if kind == "number":
        return str(draw(st.integers(-(10**6), 10**6)))
    if kind == "array":
        items = draw(st.lists(json_text(depth + 1), max_size=3))
        return "[" + ",".join(draw(SPACE) + item for item in items) + "]"
    names = draw(st.lists(TEXT, max_size=4))
    if names and draw(st.booleans()):
        names.append(draw(st.sampled_from(names)))  # a name written twice
    members = [_member(draw, name, draw(json_text(depth + 1))) for name in names]
    return "{" + ",".join(members) + draw(SPACE) + "}"


def _member(draw: st.DrawFn, name: str, value: str) -> str:
    return f"{draw(SPACE)}{_written(draw, name)}{draw(SPACE)}:{draw(SPACE)}{value}"


def _written(draw: st.DrawFn, text: str) -> str:
    out = []
    for char in text:
        if char in '"\\' or draw(st.integers(0, 3)) == 0:
            out.append(f"\\u{ord(char):04{draw(st.sampled_from('xX'))}}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


@settings(max_examples=600, deadline=None)
@given(json_text())
def test_a_line_that_holds_a_name_twice_is_never_passed_as_clean(text: str) -> None:
    """Whatever the spacing and escapes, a line with a name held twice is picked out for the
    full check (which then names it); a line without one passes it or is checked in full."""
    raw = text.encode()
    data = orjson.loads(raw)
    if values.repeated_name(raw) is not None:
        assert values.may_repeat_names(raw, data)


def test_clean_lines_pass_the_byte_test_even_with_colons_in_their_texts() -> None:
    """A line as integrations write it, colons in its texts and spaces after its colons,
    costs no full check; a colon written as an escape sends it to one."""
    clean = b'{"PartNo": "P1", "Url": "https://x.example/a:b", "Rows": [{"At": "10:00"}]}\n'
    assert not values.may_repeat_names(clean, orjson.loads(clean))
    escaped = b'{"PartNo": "P1", "Note": "a\\u003ab"}\n'
    assert values.may_repeat_names(escaped, orjson.loads(escaped))
