"""How much of its scope one full feed may deactivate or delete: ``max_remove``.

A limit is a count (``500``: at most 500 entities) or a percentage (``10%``: at most a tenth of
the stored entities of the feed's scope, not counting those a feed removed already). A
percentage above 0% always allows one entity, so that one row going away from a small scope (1
of 5 is 20%) is not refused, but not to a feed that held no record at all (an empty export is
the classic broken file, and for a scope of one it would empty it); ``10% or 5`` allows 5
whatever the share (``10% or 0``: the share alone). A feed over its limit removes nothing. The
default is 10%, the kind of safeguard bulk-sync tools ship (directory syncs refuse an import
that would remove more than a set share): a nightly feed rarely drops more than a few percent of
a catalog, while an export cut short or filtered by mistake drops most of it. A real clean-up
raises the limit for that one run.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation

from deltahook.errors import ConfigError, FeedError

DEFAULT_MAX_REMOVE = "10%"


# A percentage with an allowance of its own: "10% or 5".
_OR_COUNT = re.compile(r"(?P<share>[^%]*%)\s+or\s+(?P<count>[0-9]+)", re.IGNORECASE)
MAX_REMOVE_PATTERN = (
    r"^(?:[0-9]{1,15}|(?:100(?:\.0{1,10})?|[0-9]{1,2}(?:\.[0-9]{1,10})?)%(?: or [0-9]{1,10})?)$"
)
"""Limits ``RemovalLimit.parse`` reads, as a JSON Schema pattern (a subset: no spaces around
them, no exponent)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RemovalLimit:
    """At most ``count`` entities, or at most ``percent`` % of them but always ``at_least``."""

    count: int | None = None
    percent: Decimal | None = None
    at_least: int = 0

    @classmethod
    def parse(cls, value: object) -> RemovalLimit:
        """A limit from a count (``500``, ``"500"``) or a percentage (``"10%"``, ``"10% or 5"``)."""
        if isinstance(value, int) and not isinstance(value, bool):
            return cls._count(value)
        text = value.strip() if isinstance(value, str) else ""
        if text.isascii() and text.isdigit():
            return cls._count(int(text))
        both = _OR_COUNT.fullmatch(text)
        percent = _percent(both["share"] if both else text, value)
        at_least = int(both["count"]) if both else _usual_allowance(percent)
        return cls(percent=percent, at_least=at_least)

    @classmethod
    def _count(cls, count: int) -> RemovalLimit:
        if count < 0:
            raise ValueError(f"{count}: a count is 0 or more")
        return cls(count=count)

    def allows(self, removing: int, of: int) -> bool:
        """True when removing ``removing`` of ``of`` entities is within the limit."""
        if self.count is not None:
            return removing <= self.count
        assert self.percent is not None
        return removing <= self.at_least or removing * 100 <= self.percent * of

    def for_empty_feed(self) -> RemovalLimit:
        """The limit for a feed that held no record: a percentage's usual allowance of one
        entity is for one row going away, not for an empty file emptying a scope of one (an
        allowance given with ``or`` stays)."""
        if self.percent is None or self.at_least != _usual_allowance(self.percent):
            return self
        return replace(self, at_least=0)

    def __str__(self) -> str:
        if self.percent is None:
            return str(self.count)
        usual = self.at_least == _usual_allowance(self.percent)
        return f"{self.percent}%" if usual else f"{self.percent}% or {self.at_least}"


def _percent(text: str, value: object) -> Decimal:
    try:
        percent = Decimal(text[:-1]) if text.endswith("%") else None
    except InvalidOperation:
        percent = None
    if percent is None or percent.is_nan():
        raise ValueError(f"{value!r} is not a count (500) or a percentage (10%)")
    if not 0 <= percent <= 100:
        raise ValueError(f"{value!r}: a percentage is from 0% to 100%")
    return percent


def _usual_allowance(percent: Decimal) -> int:
    """What a percentage allows whatever the share: one entity, none for 0%."""
    return 1 if percent > 0 else 0


def chosen(asked: str | int | None, configured: RemovalLimit) -> RemovalLimit:
    """The limit a run asked for (``FeedError`` when it is no limit), else the configured one."""
    if asked is None:
        return configured
    try:
        return RemovalLimit.parse(asked)
    except ValueError as exc:
        raise FeedError(f"max_remove: {exc}") from None


def check_kinds(limits: Collection[str], kinds: Collection[str]) -> None:
    """Refuse a limit for a kind the catalog does not have (a misspelt name)."""
    for name in limits:
        if name != "default" and name not in kinds:
            known = ", ".join(sorted(kinds))
            raise ConfigError(f"max_remove: unknown entity kind {name!r} (known kinds: {known})")
