"""A raw TCP server for the HTTP layer's tests: accepts on 127.0.0.1 in a thread of its own and
hands each connection, with its number (from 1), to ``handle`` in another thread, so a test
can script exactly what a receiver sends, or fails to."""

from __future__ import annotations

import socket
import threading


class RawServer:
    """Subclasses answer connections in ``handle``; ``path`` ends the ``url``."""

    path = "/"

    def __init__(self) -> None:
        self.connections = 0
        self._sock = socket.create_server(("127.0.0.1", 0))
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}{self.path}"

    def close(self) -> None:
        self._sock.close()

    def handle(self, conn: socket.socket, number: int) -> None:
        raise NotImplementedError

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            args = (conn, self.connections)
            threading.Thread(target=self.handle, args=args, daemon=True).start()


def read_request(conn: socket.socket, buffer: bytes) -> tuple[bytes, bytes] | None:
    """The next request on ``conn`` (head, blank line and a body of its ``Content-Length``),
    read on from ``buffer`` (what came after the last one), and what came after it; None
    when the client closes the connection first."""
    while b"\r\n\r\n" not in buffer:
        data = conn.recv(65536)
        if not data:
            return None
        buffer += data
    head, rest = buffer.split(b"\r\n\r\n", 1)
    length = next(
        (
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ),
        0,
    )
    while len(rest) < length:
        rest += conn.recv(65536)
    return head + b"\r\n\r\n" + rest[:length], rest[length:]
