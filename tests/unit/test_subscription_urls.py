"""How listings show a subscription's URL: a password in it is masked, nothing else changes."""

from __future__ import annotations

import pytest

from deltahook.delivery.subscriptions import shown_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://shop.example/hook", "https://shop.example/hook"),
        ("https://shop:s3cret@shop.example/hook", "https://shop:****@shop.example/hook"),
        ("https://shop:p@ss@shop.example:8443/h", "https://shop:****@shop.example:8443/h"),
        ("https://token@shop.example/hook", "https://token@shop.example/hook"),  # no password
        ("https://shop:@shop.example/hook", "https://shop:@shop.example/hook"),  # an empty one
        ("http://u:pw@[fe80::1]:8080/x", "http://u:****@[fe80::1]:8080/x"),
        ("https://shop.example/hook?to=a:b@c", "https://shop.example/hook?to=a:b@c"),
        ("https://shop.example/a:b@c/d", "https://shop.example/a:b@c/d"),  # in the path
        ("https://shop.example#a:b@c", "https://shop.example#a:b@c"),
    ],
)
def test_only_the_password_of_the_authority_is_masked(url: str, shown: str) -> None:
    """The user name, host, port, path and query stay; only ``:password@`` becomes ``:****@``."""
    assert shown_url(url) == shown
