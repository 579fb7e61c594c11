"""Explanations made when read and stored packed: they read back as they were made."""

from __future__ import annotations

from typing import Any

import orjson

from deltahook.explanations import Explanation, stored, unpack

MATCH = {
    "setting": "SkuChangedNotification/sku",
    "source": "rules/sku.yaml:12",
    "kind": "sku",
    "entity": "P1",
    "table": "tClientProductSku",
    "row": {"PartNo": "P1"},
}
INSERTED = MATCH | {
    "op": "insert",
    "fields": [{"field": "A", "new": 1}, {"field": "B", "new": None}],
}
UPDATED = MATCH | {
    "op": "update",
    "fields": [
        {"field": "A", "old": 1, "new": 2},
        {"field": "B", "old": None},
        {"field": "C"},
        {"field": "D", "old": ["x"], "new": ["x", "y"], "added": ["y"], "removed": []},
    ],
    "filter": "new.A gt 1",
    "threshold": {"field": "A", "pct": 5.0},
}
PACKED_INSERTED = [*MATCH.values(), "insert", {"A": 1, "B": None}, None, {}]
PACKED_UPDATED = [
    *MATCH.values(),
    "update",
    [["A", 3, 1, 2], ["B", 1, None, None], ["C", 0, None, None], ["D", 3, ["x"], ["x", "y"]]],
    "new.A gt 1",
    {"threshold": {"field": "A", "pct": 5.0}},
]


def made(matches: list[Any]) -> dict[str, Any]:
    return {"rule": "SkuChangedNotification", "settings": ["SkuChangedNotification/sku"]} | {
        "matches": matches
    }


def lazy(packed: dict[str, Any], calls: list[str]) -> Explanation:
    def pack() -> dict[str, Any]:
        calls.append("packed")
        return orjson.loads(orjson.dumps(packed))  # a new one each time, as a rule's is

    return Explanation(pack)


def test_packed_matches_read_back_as_made() -> None:
    """An inserted row's fields (by name) and an update's (absent, null, old and new, a list's
    added and removed items), its filter and threshold: unpacked, as the explanation made."""
    explanation = lazy(made([PACKED_INSERTED, PACKED_UPDATED]), [])
    assert unpack(stored(explanation)) == made([INSERTED, UPDATED])
    assert explanation == made([INSERTED, UPDATED])


def test_explanations_stored_before_packing_read_as_stored() -> None:
    """A stored explanation whose matches are mappings (as stored before) reads unchanged;
    so do empty ones and those of events."""
    for explanation in (made([INSERTED, UPDATED]) | {"more_matches": 3}, {}, made([])):
        assert unpack(orjson.dumps(explanation)) == explanation
        assert unpack(stored(explanation)) == explanation


def test_an_explanation_is_made_once_when_first_read_and_not_to_be_stored() -> None:
    """Storing it packs it and does not spell it out; reading it does, once; it compares as
    its mapping."""
    calls: list[str] = []
    explanation = lazy(made([PACKED_INSERTED]), calls)
    assert orjson.loads(stored(explanation)) == made([PACKED_INSERTED])
    assert calls == ["packed"]
    assert explanation == made([INSERTED])
    assert dict(explanation) == made([INSERTED])
    assert explanation.get("settings") == ["SkuChangedNotification/sku"]
    assert repr(explanation) == repr(made([INSERTED]))
    assert calls == ["packed", "packed"]
