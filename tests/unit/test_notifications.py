"""Stable ids: the same parts always give the same UUID, the one ``uuid.uuid5`` gives."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from deltahook.notifications import _NAMESPACE, stable_id, stable_ids

texts = st.text(st.characters(exclude_categories=("Cs",)))  # surrogates cannot be encoded
parts = st.lists(st.one_of(texts, st.integers(), st.none()), max_size=5)


@given(parts)
def test_stable_id_is_uuid5_of_the_joined_parts(values: list[object]) -> None:
    """Ids stored by earlier versions stay valid: they are uuid5 of the parts joined by US."""
    expected = uuid.uuid5(_NAMESPACE, "\x1f".join(str(v) for v in values))
    assert stable_id(*values) == str(expected)


def test_stable_id_is_a_version_5_uuid() -> None:
    """The text parses back as an RFC 4122 version-5 UUID."""
    parsed = uuid.UUID(stable_id("rule", "job", "SkuChangedNotification", "{}"))
    assert (parsed.version, parsed.variant) == (5, uuid.RFC_4122)


@given(st.lists(st.one_of(texts, st.integers(), st.none()), min_size=1, max_size=4), texts)
def test_stable_ids_with_a_hashed_prefix_equal_stable_id(prefix: list[object], last: str) -> None:
    """The prefix hashed once gives, for every last part, the id ``stable_id`` gives."""
    assert stable_ids(*prefix)(last) == stable_id(*prefix, last)
