"""Comparing what two rule sets notify for the same input (``deltahook rules diff``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from deltahook.notifications import Notification
from deltahook.rulediff import compare

NOW = datetime(2026, 11, 30, tzinfo=UTC)


def note(
    type_: str, key: str, payload: dict[str, Any], *settings: str, id_: str = "x"
) -> Notification:
    return Notification(
        id=id_,
        type=type_,
        family="notification",
        payload=payload,
        created_at=NOW,
        entity_kind="sku",
        entity_key=key,
        explanation={"settings": list(settings)},
    )


def test_equal_notifications_are_no_difference() -> None:
    """The same type, entity and payload on both sides differ in nothing, whatever their ids."""
    old = [note("SkuChanged", "P1", {"PartNo": "P1"}, "SkuChanged/sku", id_="a")]
    new = [note("SkuChanged", "P1", {"PartNo": "P1"}, "SkuChanged/sku", id_="b")]
    assert compare(old, new).entries == ()


def test_only_new_is_added_and_only_old_is_removed() -> None:
    """A notification only the new rules fire is added; one only the old rules fire, removed."""
    old = [note("SkuChanged", "P1", {"PartNo": "P1"}, "SkuChanged/sku")]
    new = [note("SkuChanged", "P2", {"PartNo": "P2"}, "SkuChanged/sku-culture")]
    entries = compare(old, new).entries
    assert [(e.change, e.entity_key, e.settings) for e in entries] == [
        ("removed", "P1", ("SkuChanged/sku",)),
        ("added", "P2", ("SkuChanged/sku-culture",)),
    ]


def test_a_payload_change_is_altered_with_the_fields_that_differ() -> None:
    """Same type and entity, another payload: altered, naming each field old and new."""
    old = [note("Price", "P1", {"PartNo": "P1", "Price": 10, "Gone": 1}, "Price/a")]
    new = [note("Price", "P1", {"PartNo": "P1", "Price": 12, "Added": 2}, "Price/b")]
    (entry,) = compare(old, new).entries
    assert entry.change == "altered"
    assert entry.settings == ("Price/a", "Price/b")
    assert entry.payload_diff == {
        "Price": {"old": 10, "new": 12},
        "Gone": {"old": 1},
        "Added": {"new": 2},
    }


def test_several_per_entity_pair_equal_payloads_first() -> None:
    """Two notifications of one type and entity: the equal one matches, the other is added."""
    old = [note("SkuChanged", "P1", {"EntityChanged": "tA"}, "SkuChanged/a")]
    new = [
        note("SkuChanged", "P1", {"EntityChanged": "tB"}, "SkuChanged/b"),
        note("SkuChanged", "P1", {"EntityChanged": "tA"}, "SkuChanged/a"),
    ]
    (entry,) = compare(old, new).entries
    assert (entry.change, entry.payload_new) == ("added", {"EntityChanged": "tB"})


def test_counts_and_json() -> None:
    """The result counts each change and prints as JSON with the entity and settings."""
    diff = compare([], [note("SkuChanged", "P1", {"PartNo": "P1"}, "SkuChanged/sku")])
    assert diff.counts() == {"added": 1, "removed": 0, "altered": 0, "unchanged": 0}
    assert diff.to_json()["changes"][0] == {
        "change": "added",
        "type": "SkuChanged",
        "entity": {"kind": "sku", "key": "P1"},
        "settings": ["SkuChanged/sku"],
        "payload": {"old": None, "new": {"PartNo": "P1"}},
        "payload_diff": {"PartNo": {"new": "P1"}},
    }
