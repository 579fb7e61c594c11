"""Watched-field globs match the fields fnmatch matches, literal names without a regex."""

from __future__ import annotations

import fnmatch

from hypothesis import given
from hypothesis import strategies as st

from deltahook.rules.setting import _matching

NAMES = st.lists(st.sampled_from(["EanCode", "Ean", "Name", "NameSv", "Status.Id", "a*b", "x"]))
GLOBS = st.sampled_from(["Ean", "EanCode", "Name*", "*", "N?me", "[EN]*", "Status.Id", "nope", ""])


@given(NAMES, GLOBS)
def test_a_glob_matches_what_fnmatch_filter_matches(names: list[str], glob: str) -> None:
    """A watched-field glob, wildcards or not, matches what fnmatch.filter matches, in order."""
    assert _matching(names, glob) == fnmatch.filter(names, glob)
