"""The sender's connection pool against a real server: reuse, replacement, clean shutdown."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest

from deltahook.delivery.receiver import Receiver
from deltahook.delivery.sender import Sender
from tests.delivery_support import World
from tests.raw_server import RawServer


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
    """Ten requests one after another to one receiver go over one kept-alive connection."""

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


class Hasty(RawServer):
    """A raw HTTP/1.1 server that answers each request as soon as its head arrives and never
    reads the body, keeping the connection open: the body's bytes stay on the connection and
    start the next "request" it reads, which it answers 501 (as ``http.server`` does)."""

    def __init__(self, *, status: int = 200) -> None:
        self.status = status
        self.heads: list[tuple[int, bytes]] = []  # (connection number, request line)
        super().__init__()

    def handle(self, conn: socket.socket, number: int) -> None:
        buffer = b""
        with conn:
            while True:
                while b"\r\n\r\n" not in buffer:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buffer += data
                head, buffer = buffer.split(b"\r\n\r\n", 1)  # the body stays in the buffer
                line = head.split(b"\r\n", 1)[0]
                self.heads.append((number, line))
                status = self.status if line.startswith(b"POST / ") else 501
                conn.sendall(b"HTTP/1.1 %d X\r\nContent-Length: 2\r\n\r\nno" % status)


@pytest.fixture
def hasty() -> Iterator[Hasty]:
    server = Hasty()
    yield server
    server.close()


def test_a_receiver_that_leaves_the_body_unread_never_garbles_the_next_request(
    hasty: Hasty,
) -> None:
    """The request after one whose body was left unread is not answered 501 for its
    predecessor's bytes: it is made again on a new connection, and that receiver's
    connections are no longer reused."""

    async def go() -> list[int | None]:
        async with Sender(allow_private=True) as sender:
            return [(await post(sender, hasty.url))[0] for _ in range(4)]

    assert asyncio.run(go()) == [200] * 4
    good = [(number, line) for number, line in hasty.heads if line == b"POST / HTTP/1.1"]
    assert len(good) == 4
    assert len({number for number, _ in good}) == 4  # each on a connection of its own
    assert len(hasty.heads) == 5  # one garbled request, the one that revealed it


def test_a_real_400_on_a_reused_connection_is_reported(receiver: Receiver) -> None:
    """A receiver that reads every body and answers 400: asked again once on a new
    connection, the 400 stands, and its connections are still reused afterwards."""
    receiver.fail(3, status=400)

    async def go() -> list[int | None]:
        async with Sender(allow_private=True) as sender:
            return [(await post(sender, receiver.url))[0] for _ in range(3)]

    assert asyncio.run(go()) == [400, 400, 200]
    ports = [r.client_port for r in receiver.requests]
    assert len(ports) == 4  # the second request was made twice
    assert ports[2] == ports[3]  # the new connection was kept


def test_two_subscriptions_on_a_hasty_receiver_are_all_delivered(
    world: World, hasty: Hasty
) -> None:
    """Two subscriptions on one host and port, its receiver leaving bodies unread: every
    delivery of both is delivered at its first attempt, none answered 501."""
    world.subscribe("shop", hasty.url, max_concurrency=1)
    world.subscribe("erp", hasty.url, max_concurrency=1)
    world.notify(3)
    stats = world.run()
    assert (stats.attempts, stats.delivered) == (6, 6)
    assert {a.status_code for a in world.attempts()} == {200}
