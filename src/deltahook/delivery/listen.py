"""PostgreSQL LISTEN: wake an idle dispatcher the moment deliveries are queued.

``queue.enqueue`` (and resend, recover) send ``NOTIFY deltahook_deliveries`` in the transaction
that queues deliveries; PostgreSQL delivers it on commit to every listening connection. Each
dispatcher on PostgreSQL listens on a connection of its own, in a thread, and calls its
``wake()``. The dispatcher still polls, only slowly: for retries that come due with time, and
as a safety net should a notification be lost while the connection is re-made.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg
from sqlalchemy import Engine

from deltahook.delivery.queue import CHANNEL

logger = logging.getLogger("deltahook.delivery")


class Listener:
    """A thread that calls ``wake`` for every notification on the deliveries channel."""

    def __init__(self, db: Engine, wake: Callable[[], None], *, check_every: float = 0.5) -> None:
        url = db.url.set(drivername="postgresql")
        self._dsn = url.render_as_string(hide_password=False)
        self._wake = wake
        self._check_every = check_every
        self._stopped = threading.Event()
        self.listening = threading.Event()
        self._thread = threading.Thread(target=self._run, name="deltahook-listen", daemon=True)

    def start(self) -> Listener:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                self._listen()
            except psycopg.Error as exc:
                self.listening.clear()
                logger.warning("listening for new deliveries failed (%s); polling meanwhile", exc)
                self._stopped.wait(5.0)
            except Exception:  # a bug must not end the thread with a line on stderr only
                self.listening.clear()
                logger.exception("listening for new deliveries failed; polling meanwhile")
                self._stopped.wait(5.0)

    def _listen(self) -> None:
        with psycopg.connect(self._dsn, autocommit=True) as conn:
            conn.execute(f"LISTEN {CHANNEL}")
            self.listening.set()
            self._wake()  # whatever was queued while nobody listened
            while not self._stopped.is_set():
                for _ in conn.notifies(timeout=self._check_every):
                    self._wake()
