"""A setting's cooldown: the pure decision on an injected clock, and how the loader reads it."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from deltahook.catalog.entities import Catalog
from deltahook.catalog.events import EventCatalog
from deltahook.rules.cooldown import cooling_until
from tests.unit.test_rules_loader import SKU_RULE, load, problems_of

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
TEN = timedelta(minutes=10)
ON = "        on: [insert]"


def test_an_entity_never_fired_for_is_not_cooling() -> None:
    """With no recorded firing the setting fires."""
    assert cooling_until(None, now=T0, period=TEN) is None


def test_a_firing_inside_the_period_is_suppressed_until_its_end() -> None:
    """Nine minutes after the last firing, the cooldown runs until ten minutes after it."""
    assert cooling_until(T0, now=T0 + timedelta(minutes=9), period=TEN) == T0 + TEN


def test_a_firing_once_the_period_is_over_goes_through() -> None:
    """Exactly ten minutes after the last firing (and later), the setting fires again."""
    assert cooling_until(T0, now=T0 + TEN, period=TEN) is None
    assert cooling_until(T0, now=T0 + 2 * TEN, period=TEN) is None


def test_the_loader_reads_a_cooldown_and_settings_without_one_have_none(
    tmp_path: Path, catalog: Catalog, events: EventCatalog
) -> None:
    """``cooldown: 10m`` is ten minutes; a setting without the key has no cooldown."""
    (tmp_path / "a.yaml").write_text(SKU_RULE.format(body=ON + "\n        cooldown: 10m"))
    (setting,) = load(tmp_path, catalog, events)
    assert setting.cooldown == TEN
    (tmp_path / "a.yaml").write_text(SKU_RULE.format(body=ON))
    (setting,) = load(tmp_path, catalog, events)
    assert setting.cooldown is None


@pytest.mark.parametrize("value", ["soon", "0m", "10", "1m, 2m", "99999999999d"])
def test_a_bad_cooldown_is_located(
    tmp_path: Path, catalog: Catalog, events: EventCatalog, value: str
) -> None:
    """A cooldown that is not one positive duration names file:line:col."""
    body = ON + "\n" + textwrap.indent(f"cooldown: {value!r}", " " * 8)
    (problem,) = problems_of(tmp_path, SKU_RULE.format(body=body), catalog, events)
    assert problem.startswith("rules.yaml:9:19: cooldown: ")


def test_a_fan_out_setting_with_a_cooldown_is_refused(
    tmp_path: Path, catalog: Catalog, events: EventCatalog
) -> None:
    """A cooldown is kept per changed entity, so a fan-out setting cannot take one yet."""
    text = """\
        format_version: 1
        rules:
          - notification: SkuChangedNotification
            payload: {PartNo: row.PartNo, EntityChanged: setting.table}
            settings:
              - id: m
                table: tClientManufacturer
                fan_out: sku
                on: [update]
                watch: [Name]
                cooldown: 10m
        """
    assert problems_of(tmp_path, text, catalog, events) == [
        "rules.yaml:11:9: a fan-out setting cannot have a cooldown (yet)"
    ]
