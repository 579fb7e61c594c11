"""Connecting only to public addresses, checked when the connection is made.

``settings.check_url_target`` refuses a subscription whose URL spells a private host; a name
can still resolve to one (a record pointing at 10.0.0.5, or DNS rebinding between the check and
the delivery), and a public receiver can redirect to one (``169.254.169.254``, the cloud
metadata service). So, unless ``allow_private_urls`` is set, the sender's connections go
through ``PublicOnly``: it resolves the host itself, refuses when any address it resolves to is
not global, and connects to the address it checked, so that no second lookup can answer
differently. Redirects open their connections through it too.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable, Iterable
from typing import Any

import httpcore

from deltahook.delivery.stream import AsyncioBackend

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def is_public(address: Address) -> bool:
    """Globally routable: not private, loopback, link-local, shared, reserved or mapped, and
    neither is the IPv4 address it carries, if any (``carried``)."""
    inside = carried(address)
    return address.is_global and (inside is None or inside.is_global)


# IPv6 prefixes whose addresses end in an IPv4 address that a gateway or the stack reaches:
# NAT64's well-known and local-use prefixes (RFC 6052, 8215) and IPv4-compatible addresses.
_CARRIERS = tuple(map(ipaddress.IPv6Network, ("64:ff9b::/96", "64:ff9b:1::/48", "::/96")))


def carried(address: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address leads to through 6to4, NAT64 or as IPv4-compatible
    (``64:ff9b::7f00:1`` reaches 127.0.0.1 through a NAT64 gateway), else None."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.sixtofour is not None:
        return address.sixtofour
    if any(address in network for network in _CARRIERS):
        return ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
    return None


class PublicOnly(httpcore.AsyncNetworkBackend):
    """A network backend that connects only to addresses ``allowed`` says yes to."""

    def __init__(
        self,
        backend: httpcore.AsyncNetworkBackend | None = None,
        *,
        allowed: Callable[[Address], bool] = is_public,
    ) -> None:
        self._backend = backend or AsyncioBackend()
        self._allowed = allowed

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await _resolve(host, port, timeout)
        refused = [a for a in addresses if not self._allowed(a)]
        if refused:
            raise httpcore.ConnectError(
                f"{host} resolves to {refused[0]}, a private, loopback or link-local address; "
                "webhooks may go there only with allow_private_urls: true in the config"
            )
        failure: Exception | None = None
        for address in addresses:  # in the resolver's order of preference
            try:
                return await self._backend.connect_tcp(
                    str(address),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("webhooks are sent over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


async def _resolve(host: str, port: int, timeout: float | None) -> list[Address]:
    """The addresses ``host`` resolves to, each once, in the resolver's order."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout):
            found = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except TimeoutError:
        raise httpcore.ConnectTimeout(f"looking up {host} timed out") from None
    except (OSError, UnicodeError, OverflowError) as exc:  # UnicodeError: an empty label
        raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from None
    addresses: dict[Address, None] = {}
    for *_, sockaddr in found:
        # An IPv6 link-local address may carry its zone ("fe80::1%eth0").
        addresses[ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])] = None
    return list(addresses)
