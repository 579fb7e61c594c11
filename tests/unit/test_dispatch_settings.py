"""Subscription settings from the config file, ${VAR} resolution, redaction and leases."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from deltahook.configload import load_settings
from deltahook.delivery.claims import lease_for
from deltahook.delivery.credentials import resolve
from deltahook.delivery.retry import DEFAULT_SCHEDULE
from deltahook.delivery.settings import SubscriptionSettings
from deltahook.errors import ConfigError, DeliveryError
from tests.delivery_support import subscription as stored

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def settings(**overrides: Any) -> SubscriptionSettings:
    values: dict[str, Any] = {"name": "shop", "url": "https://shop.example/hooks"}
    values["event_types"] = ["SkuChangedNotification"]
    return SubscriptionSettings(**(values | overrides))


def test_defaults_follow_norce_commerce_event() -> None:
    """5 s timeout, Norce's 16-step schedule, Norce header names, on, 10 at a time."""
    sub = settings()
    assert sub.timeout == 5.0
    assert sub.retry_schedule == DEFAULT_SCHEDULE
    assert sub.header_style == "norce"
    assert sub.enabled is True
    assert sub.max_concurrency == 10
    assert (sub.headers, sub.secrets) == ({}, [])


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ("5s, 1m, 1h", (5, 60, 3600)),  # one string, as in YAML
        (["5s", "1m30s"], (5, 90)),  # a list of durations
        ([1, 2.5], (1, 2.5)),  # a list of seconds
    ],
)
def test_retry_schedules_in_three_spellings(schedule: Any, expected: tuple[float, ...]) -> None:
    """A retry schedule may be written as durations, as seconds or as one comma-separated string."""
    assert settings(retry_schedule=schedule).retry_schedule == tuple(
        timedelta(seconds=s) for s in expected
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"headers": {"X-Token": "a\r\nX-Evil: 1"}}, "line break"),  # header injection
        ({"headers": {"X Token": "a"}}, "invalid header name"),
        ({"secrets": ["not-a-secret"]}, "must start with 'whsec_'"),
        ({"secrets": ["whsec_c2hvcnQ="]}, "24 to 64 bytes"),
        ({"url": "ftp://shop.example/"}, "http:// or https://"),
        ({"url": "not a url"}, "http:// or https://"),
        # hosts and ports no connection could be made to (a test send answered 500 for these)
        ({"url": "https://shop..example/"}, "'shop..example' is not a host name"),
        ({"url": f"https://{'a' * 64}.example/"}, "is not a host name"),
        ({"url": f"https://{'a.' * 127}example/"}, "is not a host name"),
        ({"url": "https://shop example/"}, "is not a host name"),
        ({"url": "https://shop.example:99999/"}, "port must be 1 to 65535, not 99999"),
        ({"url": "https://shop.example:0/"}, "port must be 1 to 65535, not 0"),
        ({"event_types": []}, "at least 1 item"),
        ({"event_types": ["Sku Changed"]}, "not an event type name"),
        ({"retry_schedule": "10s, 5s"}, "must not shrink"),
        ({"timeout": 0}, "greater than 0"),
        ({"name": "a b"}, "should match pattern"),
        ({"header_style": "svix"}, "'norce', 'standard' or 'directscale'"),
        ({"colour": "red"}, "Extra inputs are not permitted"),
    ],
)
def test_bad_settings_are_refused_with_the_reason(overrides: dict[str, Any], message: str) -> None:
    """Each invalid subscription setting is refused with a message naming what is wrong."""
    with pytest.raises(ValidationError, match=message):
        settings(**overrides)


def test_environment_references_are_kept_as_written() -> None:
    """${VAR} in a header or as a secret is resolved when sending, not when loading."""
    sub = settings(headers={"Authorization": "Bearer ${TOKEN}"}, secrets=["${SECRET}"])
    assert sub.headers == {"Authorization": "Bearer ${TOKEN}"}
    assert sub.secrets == ["${SECRET}"]


def test_one_secret_may_be_given_as_a_string() -> None:
    """A single secret may be written as a string instead of a list."""
    assert settings(secrets=SECRET).secrets == [SECRET]


def test_the_config_file_reads_subscriptions(tmp_path: Any) -> None:
    """deltahook.yaml's subscriptions become typed settings; a bad one names its place."""
    config = tmp_path / "deltahook.yaml"
    config.write_text(
        "subscriptions:\n"
        "  - name: shop\n"
        "    url: https://shop.example/hooks\n"
        "    event_types: ['*']\n"
        "    retry_schedule: 5s, 1m\n"
    )
    [sub] = load_settings(config, env={}).subscriptions
    assert (sub.name, sub.event_types, len(sub.retry_schedule)) == ("shop", ["*"], 2)
    config.write_text("subscriptions:\n  - name: shop\n    url: https://x/\n")
    with pytest.raises(
        ConfigError, match=r"subscriptions\[0\]: missing required key 'event_types'"
    ):
        load_settings(config, env={})


def test_resolve_reads_the_environment() -> None:
    """${VAR} in headers and secrets is filled in from the environment."""
    sub = stored(headers={"Authorization": "Bearer ${TOKEN}"}, secrets=("${SECRET}",))
    creds = resolve(sub, {"TOKEN": "t0k3n", "SECRET": SECRET})
    assert creds.headers == {"Authorization": "Bearer t0k3n"}
    assert creds.secrets == (SECRET,)


def test_a_missing_variable_is_named() -> None:
    """A ${VAR} the environment lacks is refused, naming the header and the variable."""
    sub = stored(headers={"Authorization": "Bearer ${TOKEN}"})
    with pytest.raises(
        DeliveryError, match="header Authorization needs the environment variable TOKEN"
    ):
        resolve(sub, {})


def test_a_variable_cannot_smuggle_in_a_header() -> None:
    """CR/LF arriving through the environment is refused like CR/LF in the file."""
    sub = stored(headers={"X-Token": "${TOKEN}"})
    with pytest.raises(DeliveryError, match="line break"):
        resolve(sub, {"TOKEN": "a\r\nX-Evil: 1"})


def test_a_bad_secret_from_the_environment_is_refused() -> None:
    """A secret read from the environment that is not a whsec_ key is refused."""
    with pytest.raises(DeliveryError, match="whsec_"):
        resolve(stored(secrets=("${SECRET}",)), {"SECRET": "hunter2"})


def test_redact_blanks_out_secrets_and_header_values() -> None:
    """Redaction blanks out every secret and header value in a receiver's answer, and passes None
    through."""
    creds = resolve(stored(headers={"X-Key": "k-123456"}, secrets=(SECRET,)), {})
    text = f"echo: k-123456 and {SECRET}"
    assert creds.redact(text) == "echo: [redacted] and [redacted]"
    assert creds.redact(None) is None


@pytest.mark.parametrize("timeout", [0.5, 5.0, 30.0])
def test_a_lease_always_outlasts_the_attempt_it_covers(timeout: float) -> None:
    """Three timeouts plus the margin: the wait for a slot, the attempt, and recording it."""
    lease = lease_for(timeout, margin=timedelta(seconds=30))
    assert lease > timedelta(seconds=2 * timeout) + timedelta(seconds=30)
