"""The sender's connection pool against a real server: reuse, replacement, clean shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from deltahook.delivery.receiver import Receiver
from deltahook.delivery.sender import Sender


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as server:
        yield server


async def post(sender: Sender, url: str, count: int = 1) -> list[int | None]:
    outcomes = await asyncio.gather(
        *(sender.send(url=url, body=b"{}", headers={}, timeout=5) for _ in range(count))
    )
    return [o.result.status_code for o in outcomes]


def test_sequential_requests_share_one_kept_alive_connection(receiver: Receiver) -> None:
    async def go() -> None:
        async with Sender(allow_private=True) as sender:
            for _ in range(10):
                assert await post(sender, receiver.url) == [200]

    asyncio.run(go())
    assert len({r.client_port for r in receiver.requests}) == 1


def test_concurrent_requests_open_connections_that_are_then_reused(receiver: Receiver) -> None:
    """Five at once need five connections; the next five reuse them."""
    receiver.hang(0.2, times=5)

    async def go() -> None:
        async with Sender(allow_private=True) as sender:
            assert await post(sender, receiver.url, 5) == [200] * 5
            assert await post(sender, receiver.url, 5) == [200] * 5

    asyncio.run(go())
    first = {r.client_port for r in receiver.requests[:5]}
    assert len(first) == 5
    assert {r.client_port for r in receiver.requests[5:]} <= first


def test_a_connection_the_server_closed_is_replaced(receiver: Receiver) -> None:
    """After 'Connection: close' the next request goes over a new connection and succeeds."""
    receiver.fail(1, status=200, headers={"Connection": "close"})

    async def go() -> None:
        async with Sender(allow_private=True) as sender:
            assert await post(sender, receiver.url) == [200]
            await asyncio.sleep(0.05)
            assert await post(sender, receiver.url) == [200]

    asyncio.run(go())
    first, second = receiver.requests
    assert first.client_port != second.client_port
