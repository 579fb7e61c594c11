"""Without allow_private_urls, webhooks reach only public addresses, judged at connect time.

The receivers here listen on loopback, which is not public: the tests either expect a refusal
or declare some loopback addresses allowed, to see what is let through.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Iterator

import pytest

from deltahook.delivery.guard import Address, is_public
from deltahook.delivery.pool import pooled_transport
from deltahook.delivery.receiver import Receiver
from deltahook.delivery.sender import Outcome, Sender
from tests.delivery_support import World


def send(url: str, sender: Sender | None = None) -> Outcome:
    async def go() -> Outcome:
        async with sender or Sender() as client:
            return await client.send(url=url, body=b"{}", headers={}, timeout=5)

    return asyncio.run(go())


@pytest.fixture
def second() -> Iterator[Receiver]:
    """A receiver on the same loopback address, another port."""
    with Receiver() as server:
        yield server


def test_a_name_that_resolves_to_loopback_is_refused_before_connecting(
    receiver: Receiver,
) -> None:
    """``localhost`` passes no URL check by spelling alone here: the lookup decides."""
    outcome = send(receiver.url.replace("127.0.0.1", "localhost"))
    assert outcome.result.error is not None
    assert "localhost resolves to" in outcome.result.error
    assert "allow_private_urls" in outcome.result.error
    assert receiver.requests == []


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2001:4860::8888", True),
        ("64:ff9b::808:808", True),  # 8.8.8.8 through NAT64
        ("127.0.0.1", False),
        ("::ffff:127.0.0.1", False),
        ("64:ff9b::7f00:1", False),  # 127.0.0.1 through NAT64
        ("64:ff9b:1::a9fe:a9fe", False),  # cloud metadata through a local-use NAT64 prefix
        ("2002:a00:7::1", False),  # 10.0.0.7 through 6to4
        ("::7f00:1", False),  # IPv4-compatible loopback
    ],
)
def test_an_address_is_public_only_with_the_ipv4_address_it_leads_to(
    address: str, public: bool
) -> None:
    """A name resolving to a NAT64 or 6to4 address of a private IPv4 one is refused as that
    one: the gateway would connect there."""
    assert is_public(ipaddress.ip_address(address)) is public


def test_the_checked_address_is_the_one_connected_to(receiver: Receiver) -> None:
    """With loopback allowed, a name goes through, to an address the check saw."""

    def loopback(address: Address) -> bool:
        return address.is_loopback

    sender = Sender(transport=pooled_transport(allowed=loopback))
    outcome = send(receiver.url.replace("127.0.0.1", "localhost"), sender)
    assert outcome.result.status_code == 200
    assert len(receiver.requests) == 1


def test_a_redirect_connects_through_the_guard(receiver: Receiver, second: Receiver) -> None:
    """The host answers 307 to another port after its address turned private (as with DNS
    rebinding): the redirect's connection is checked again and refused."""
    checked: list[Address] = []

    def first_lookup_only(address: Address) -> bool:
        checked.append(address)
        return len(checked) == 1

    receiver.fail(1, status=307, headers={"Location": f"{second.url}metadata"})
    sender = Sender(transport=pooled_transport(allowed=first_lookup_only))
    outcome = send(receiver.url, sender)
    assert outcome.result.error is not None
    assert "127.0.0.1, a private, loopback or link-local address" in outcome.result.error
    assert len(receiver.requests) == 1
    assert second.requests == []


def test_allow_private_urls_lets_the_same_redirect_through(
    receiver: Receiver, second: Receiver
) -> None:
    """The same redirect with private addresses allowed: the POST and its body go there."""
    receiver.fail(1, status=307, headers={"Location": second.url})
    outcome = send(receiver.url, Sender(allow_private=True))
    assert outcome.result.status_code == 200
    [request] = second.requests
    assert (request.method, request.body) == ("POST", b"{}")


def test_a_dispatcher_without_allow_private_logs_the_refusal_and_retries_later(
    world: World, receiver: Receiver
) -> None:
    """The refusal is an attempt like a failed connection: logged with its reason, retried
    (the name may resolve elsewhere later), never sent."""
    world.subscribe("shop", receiver.url.replace("127.0.0.1", "localhost"))
    world.notify(1)
    stats = world.run(allow_private=False)
    assert (stats.attempts, stats.retrying) == (1, 1)
    [attempt] = world.attempts()
    assert attempt.error is not None
    assert "resolves to" in attempt.error
    assert receiver.requests == []
