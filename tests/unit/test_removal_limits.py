"""max_remove: what a count or a percentage lets one full feed remove of its scope."""

from __future__ import annotations

from pathlib import Path

import pytest

from deltahook.configload import load_settings
from deltahook.feeds.limits import DEFAULT_MAX_REMOVE, RemovalLimit


@pytest.mark.parametrize(
    ("limit", "removing", "of", "allowed"),
    [
        (DEFAULT_MAX_REMOVE, 1, 5, True),  # one entity of a small scope: a normal day
        (DEFAULT_MAX_REMOVE, 1, 1, True),  # even the only one
        (DEFAULT_MAX_REMOVE, 2, 5, False),  # 40%: a cut feed, most likely
        (DEFAULT_MAX_REMOVE, 2, 20, True),  # 10% exactly: the limit is inclusive
        (DEFAULT_MAX_REMOVE, 3, 20, False),
        ("25%", 1, 2, True),  # every percentage above 0 allows one entity
        ("0%", 1, 100, False),  # 0% removes nothing, not even one
        ("10% or 5", 5, 6, True),  # a percentage with a larger allowance of its own
        ("10% or 5", 6, 40, False),
        ("10% or 5", 50, 500, True),  # the percentage, where it is more
        ("10% or 0", 1, 5, False),  # no allowance: the share alone decides
        ("3", 3, 3, True),  # a count is exact, whatever the scope
        ("3", 4, 1000, False),
        ("0", 1, 1000, False),
    ],
)
def test_a_limit_allows_its_share_and_a_percentage_at_least_one_entity(
    limit: str, removing: int, of: int, allowed: bool
) -> None:
    """A percentage never refuses removing one entity (unless it is 0%); 'P% or N' allows N
    whatever the share; a count allows exactly that many."""
    assert RemovalLimit.parse(limit).allows(removing, of) is allowed


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("10%", "10%"),
        (" 12.5 % ", "12.5%"),
        ("10% or 5", "10% or 5"),
        ("10%  OR  5", "10% or 5"),
        ("10% or 1", "10%"),  # the allowance every percentage has goes without saying
        ("0%", "0%"),
        ("500", "500"),
    ],
)
def test_a_limit_reads_as_written_and_shows_what_it_allows(text: str, shown: str) -> None:
    """Spaces and case do not matter; an allowance is shown only when it is not the usual one."""
    assert str(RemovalLimit.parse(text)) == shown
    assert RemovalLimit.parse(shown) == RemovalLimit.parse(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("10% or", "is not a count (500) or a percentage (10%)"),
        ("5 or 10%", "is not a count (500) or a percentage (10%)"),
        ("10% or -1", "is not a count (500) or a percentage (10%)"),
        ("10% or 5%", "is not a count (500) or a percentage (10%)"),
        ("120% or 5", "a percentage is from 0% to 100%"),
    ],
)
def test_a_limit_that_says_nothing_clear_is_refused(text: str, message: str) -> None:
    """Only 'P%', 'P% or N' and 'N' are limits."""
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        RemovalLimit.parse(text)


def test_the_config_file_takes_a_percentage_with_an_allowance(tmp_path: Path) -> None:
    """`sku_onhand: 10% or 3` in deltahook.yaml is that limit for the kind."""
    config = tmp_path / "deltahook.yaml"
    config.write_text("max_remove: {default: 5%, sku_onhand: 10% or 3}\n")
    settings = load_settings(config, env={})
    assert str(settings.removal_limit("sku_onhand")) == "10% or 3"
    assert settings.removal_limit("sku").allows(1, 2)


@pytest.mark.parametrize(
    ("limit", "allowed"),
    [("10%", False), ("0%", False), ("100%", True), ("10% or 2", True), ("1", True), ("0", False)],
)
def test_a_feed_with_no_record_gets_no_usual_allowance(limit: str, allowed: bool) -> None:
    """Removing the one entity of a scope of one with an empty feed: a percentage's usual
    allowance of one is dropped; counts, 100% and an allowance given with 'or' stay."""
    assert RemovalLimit.parse(limit).for_empty_feed().allows(1, 1) is allowed
