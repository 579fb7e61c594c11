"""A notification's explanation: made only when read, stored packed, read back as made.

A first load of 100k SKUs decides 500,000 notifications whose explanations nobody reads
before they are stored (an ingest that neither collects nor streams its notifications), and
each stored explanation was about eight times its payload. So a rule-derived notification
carries an ``Explanation``: a mapping that builds its dict on first access, and that is
stored without it, packed: each match as a list in the order of its keys rather than a
mapping, and the fields of an inserted row as ``{name: new}``. ``unpack`` turns stored bytes,
packed or as stored before (every match a mapping, as made), into the dict the notification held.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import orjson

from deltahook.changes.canonical import kept
from deltahook.changes.model import FieldChange, unpack_field


class Explanation(Mapping[str, Any]):
    """An explanation stored as ``pack(*args)`` and, when first read, spelled out from it as
    ``unpack`` spells out stored bytes: one form to write, so the two cannot disagree."""

    __slots__ = ("_args", "_made", "_pack")

    def __init__(self, pack: Callable[..., dict[str, Any]], *args: Any) -> None:
        self._pack, self._args = pack, args
        self._made: dict[str, Any] | None = None

    def _dict(self) -> dict[str, Any]:
        if self._made is None:
            self._made = _spelled_out(self.packed())
        return self._made

    def __getitem__(self, key: str) -> Any:
        return self._dict()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict())

    def __len__(self) -> int:
        return len(self._dict())

    def __repr__(self) -> str:
        return repr(self._dict())

    def packed(self) -> dict[str, Any]:
        """What is stored: the explanation with every match packed (see ``unpack``)."""
        return self._pack(*self._args)


def stored(explanation: Mapping[str, Any]) -> bytes:
    """The bytes stored for ``explanation``: packed when it can be (see ``unpack``)."""
    value = explanation.packed() if isinstance(explanation, Explanation) else explanation
    return kept(orjson.dumps(value))  # a batch's worth kept alive: see ``kept``


def unpack(data: bytes) -> dict[str, Any]:
    """A stored explanation as it was made: packed matches spelled out, others as stored."""
    return _spelled_out(orjson.loads(data))


def _spelled_out(explanation: dict[str, Any]) -> dict[str, Any]:
    matches = explanation.get("matches")
    if matches and isinstance(matches[0], list):
        explanation["matches"] = [_match(m) for m in matches]
    return explanation


# A packed match: the values of these keys in this order, then its fields (``{name: new}`` when
# every field was inserted, else ``[pack_field(...), ...]``), its filter's text or None, and
# the mapping of what else it holds (threshold, breakpoint, referrer): see ``rules.explain.
# packed_match``, which writes them.
_KEYS = ("setting", "source", "kind", "entity", "table", "row", "op")


def _match(packed: list[Any]) -> dict[str, Any]:
    out = dict(zip(_KEYS, packed, strict=False))
    fields, filter_text, extra = packed[7:]
    if isinstance(fields, dict):
        out["fields"] = [{"field": name, "new": new} for name, new in fields.items()]
    else:
        out["fields"] = [FieldChange(*unpack_field(item)).to_json() for item in fields]
    if filter_text is not None:
        out["filter"] = filter_text
    out.update(extra)
    return out
