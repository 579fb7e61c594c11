"""Webhook URLs that point inside the network are refused unless the config allows them."""

from __future__ import annotations

from pathlib import Path

import pytest

from deltahook.configload import load_settings
from deltahook.delivery.settings import check_url_target
from deltahook.errors import ConfigError


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",  # loopback
        "http://127.1/",  # loopback, short spelling
        "http://2130706433/",  # loopback as one integer
        "http://0x7f.0.0.1/",  # loopback in hex
        "http://[::1]/",  # IPv6 loopback
        "http://[::ffff:127.0.0.1]/",  # IPv4-mapped IPv6 loopback
        "http://localhost:9000/",  # the machine's own name
        "http://api.localhost/",  # a name under .localhost
        "http://10.0.0.7/",  # private
        "http://192.168.1.20/",  # private
        "http://172.16.4.4/",  # private
        "http://169.254.169.254/latest/meta-data",  # link-local: cloud metadata
        "http://[fe80::1]/",  # IPv6 link-local
        "http://0.0.0.0/",  # unspecified
        "http://100.64.0.1/",  # carrier-grade NAT
        "http://[64:ff9b::7f00:1]/",  # loopback through NAT64's well-known prefix
        "http://[64:ff9b::a00:7]/",  # a private address through NAT64
        "http://[64:ff9b:1::a9fe:a9fe]/",  # cloud metadata through a local-use NAT64 prefix
        "http://[2002:7f00:1::]/",  # loopback through 6to4
        "http://[2002:c0a8:114::1]/",  # 192.168.1.20 through 6to4
        "http://[::7f00:1]/",  # loopback as an IPv4-compatible address
    ],
)
def test_private_loopback_and_link_local_targets_are_refused(url: str) -> None:
    """Each spelling of an inside address is caught, and the message says how to allow it."""
    with pytest.raises(ValueError, match="allow_private_urls"):
        check_url_target(url, allow_private=False)


@pytest.mark.parametrize(
    "url",
    [
        "https://shop.example/hooks",
        "http://8.8.8.8/",
        "https://[2001:4860::8888]/x",
        "http://[64:ff9b::808:808]/",  # 8.8.8.8 through NAT64
        "http://[2002:808:808::1]/",  # 8.8.8.8 through 6to4
    ],
)
def test_public_names_and_addresses_pass(url: str) -> None:
    """A public address or a host name is accepted (names are not resolved when validating)."""
    check_url_target(url, allow_private=False)


def test_allowing_private_urls_lifts_the_check() -> None:
    """With the setting on (tests, local demos) loopback is fine."""
    check_url_target("http://127.0.0.1:8765/", allow_private=True)


def test_the_config_file_path_gets_the_check_too(tmp_path: Path) -> None:
    """A subscription declared in the config file is refused with the setting named."""
    config = tmp_path / "deltahook.yaml"
    config.write_text(
        "subscriptions:\n  - {name: shop, url: 'http://10.1.2.3/hook', event_types: ['*']}\n"
    )
    with pytest.raises(ConfigError, match=r"subscription 'shop': 10\.1\.2\.3 .*allow_private_urls"):
        load_settings(config, env={})
    config.write_text(
        "allow_private_urls: true\n"
        "subscriptions:\n  - {name: shop, url: 'http://10.1.2.3/hook', event_types: ['*']}\n"
    )
    assert load_settings(config, env={}).subscriptions[0].url == "http://10.1.2.3/hook"


def test_api_keys_come_from_the_config_or_the_environment(tmp_path: Path) -> None:
    """DELTAHOOK_API_KEYS (comma-separated) replaces the file's api_keys."""
    config = tmp_path / "deltahook.yaml"
    config.write_text("api_keys: ['${OPS_KEY}', literal-key-123]\n")
    assert load_settings(config, env={}).api_keys == ["${OPS_KEY}", "literal-key-123"]
    from_env = load_settings(config, env={"DELTAHOOK_API_KEYS": " one-key , two-key ,"})
    assert from_env.api_keys == ["one-key", "two-key"]
