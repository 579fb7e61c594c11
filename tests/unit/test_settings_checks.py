"""Settings checks plainly valid values itself, exactly as its pydantic reference would."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from deltahook.config import _CHECKS, Settings, plainly_valid
from deltahook.config_model import SettingsModel

PLAIN = {
    "database_url": st.text(max_size=20),
    "schemas_dir": st.sampled_from([Path("/s"), "rel/schemas", "/abs"]),
    "rules_dir": st.sampled_from([Path("rules"), "/r"]),
    "constants": st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=3)),
    "batch_size": st.integers(1, 50_000),
    "job_events": st.booleans(),
    "change_log": st.booleans(),
    "job_lease_s": st.integers(1, 10**6) | st.floats(1e-9, 3e8),
    "allow_private_urls": st.booleans(),
    "subscriptions": st.just([]),
    "api_keys": st.lists(st.text(max_size=8), max_size=3),
    "api_max_body_bytes": st.integers(1024, 1 << 40),
    "api_max_feed_bytes": st.integers(1024, 1 << 40),
    "api_body_window_s": st.integers(1, 3600) | st.floats(1e-6, 3600),
    "api_body_window_bytes": st.integers(1, 1 << 30),
    "api_header_timeout_s": st.floats(1e-6, 3600),
    "api_max_header_bytes": st.integers(1024, 1 << 20),
    "api_max_uploads": st.integers(1, 32),
    "max_remove": st.dictionaries(
        st.sampled_from(["default", "sku", "sku_onhand"]),
        st.sampled_from([0, 5, "500", "10%", "2.5% or 3"]),
    ),
}


def by_pydantic(values: dict[str, Any]) -> dict[str, Any]:
    model = SettingsModel.model_validate(values)
    return {name: getattr(model, name) for name in Settings.model_fields}


@given(st.fixed_dictionaries({}, optional=PLAIN))
def test_plainly_valid_values_come_out_as_pydantic_makes_them(values: dict[str, Any]) -> None:
    """Every value, its type included (a whole number for a float becomes a float)."""
    checked = plainly_valid(values)
    assert checked is not None
    expected = by_pydantic(values)
    assert checked == expected
    assert {k: type(v) for k, v in checked.items()} == {k: type(v) for k, v in expected.items()}


@pytest.mark.parametrize(
    "values",
    [
        {"batch_size": "10"},  # pydantic coerces a numeric string
        {"batch_size": 10.0},  # and a whole float
        {"batch_size": True},  # a bool is not a count
        {"batch_size": 0},  # out of bounds: pydantic's message
        {"job_lease_s": float("nan")},
        {"job_lease_s": float("inf")},
        {"job_lease_s": 10**400},  # no float holds it: pydantic's message, not OverflowError
        {"job_lease_s": 1e12},  # a lease past year 9999: pydantic's message
        {"api_body_window_s": 3601},
        {"job_events": "yes"},
        {"constants": {1: "x"}},
        {"api_keys": "k1"},
        {"subscriptions": [{"name": "a", "url": "https://example.com", "event_types": ["*"]}]},
        {"max_remove": {"sku": "lots"}},
        {"unknown": 1},
    ],
)
def test_anything_else_is_left_to_pydantic(values: dict[str, Any]) -> None:
    """A value pydantic would coerce or refuse is not judged here: its result and message stay
    pydantic's."""
    assert plainly_valid(values) is None


def test_a_whole_number_too_large_for_a_float_is_pydantics_error() -> None:
    """A whole number too large for a float is pydantic's located error, not an OverflowError."""
    with pytest.raises(ValidationError, match="1 validation error for Settings\njob_lease_s"):
        Settings(job_lease_s=10**400)


def test_an_invalid_value_raises_pydantics_error_under_the_settings_name() -> None:
    """A value out of bounds raises pydantic's ValidationError, titled Settings."""
    with pytest.raises(ValidationError, match="1 validation error for Settings\nbatch_size"):
        Settings(batch_size=0)


def test_a_value_pydantic_coerces_is_coerced_as_before() -> None:
    """Values pydantic coerces (a number or a boolean as text) are coerced as before."""
    settings = Settings(batch_size="10", job_events="yes", schemas_dir="s")
    assert (settings.batch_size, settings.job_events, settings.schemas_dir) == (10, True, Path("s"))


def test_a_copy_takes_its_updates_as_they_are() -> None:
    """``model_copy`` as pydantic's: the rest kept, the update set unchecked."""
    settings = Settings(batch_size=10)
    copied = settings.model_copy(update={"database_url": "sqlite:///x.db"})
    assert (copied.database_url, copied.batch_size) == ("sqlite:///x.db", 10)
    assert settings.database_url != copied.database_url
    assert Settings.model_validate({"batch_size": 10}) == settings


@pytest.mark.parametrize(
    "values",
    [
        None,  # not a mapping
        ["batch_size", 10],
        {1: "x"},  # a key that is no name
    ],
)
def test_model_validate_refuses_what_is_no_mapping_of_names_with_pydantics_error(
    values: Any,
) -> None:
    """As the pydantic model did: its ``ValidationError``, not a ``TypeError`` from ``**``."""
    with pytest.raises(ValidationError, match="1 validation error for Settings"):
        Settings.model_validate(values)


def test_model_validate_takes_settings_as_they_are() -> None:
    """model_validate of a Settings returns it as it is, as pydantic's did."""
    settings = Settings(batch_size=10)
    assert Settings.model_validate(settings) is settings


def test_settings_its_checks_and_its_pydantic_reference_name_the_same_fields() -> None:
    """A setting added to one of ``Settings``, ``config._CHECKS`` and ``SettingsModel`` (and to
    this test's values) is added to all: the two ways of checking cannot drift apart unseen."""
    names = set(Settings.model_fields)
    assert names == set(_CHECKS) == set(SettingsModel.model_fields) == set(PLAIN)
