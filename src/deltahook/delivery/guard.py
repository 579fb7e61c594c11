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
    """Globally routable: not private, loopback, link-local, shared, reserved or mapped."""
    return address.is_global


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
