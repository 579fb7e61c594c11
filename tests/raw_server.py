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
