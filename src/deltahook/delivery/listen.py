"""PostgreSQL LISTEN: wake an idle dispatcher the moment deliveries are queued.

``queue.enqueue`` (and resend, recover) send ``NOTIFY deltahook_deliveries`` in the transaction
that queues deliveries; PostgreSQL delivers it on commit to every listening connection. Each
dispatcher on PostgreSQL listens on a connection of its own, in a thread, and calls its
``wake()``. The dispatcher still polls, only slowly: for retries that come due with time, and
as a safety net should a notification be lost while the connection is re-made.

A listening connection that fails (the server stopped, the network gone) is made again after
``retry_first`` seconds, doubling up to ``retry_max``, as the dispatcher tries its store; the
failure is told once, when it begins, and the return once, not at every try.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy import Engine

from deltahook.delivery.queue import CHANNEL

logger = logging.getLogger("deltahook.delivery")


class Listener:
    """A thread that calls ``wake`` for every notification on the deliveries channel."""

    def __init__(
        self,
        db: Engine,
        wake: Callable[[], None],
        *,
        check_every: float = 0.5,
        retry_first: float = 1.0,
        retry_max: float = 60.0,
    ) -> None:
        url = db.url.set(drivername="postgresql")
        self._dsn = url.render_as_string(hide_password=False)
        self._wake = wake
        self._check_every = check_every
        self._retry_first = retry_first
        self._retry_max = retry_max
        self._failing = False  # told of a failure, not yet of listening again
        self._sound = False  # this connection listened and woke the dispatcher
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
        import psycopg  # only a dispatcher on PostgreSQL listens: not imported on SQLite

        wait = self._retry_first
        while not self._stopped.is_set():
            self._sound = False
            try:
                self._listen()
            except psycopg.Error as exc:
                self._failed(str(exc))
            except Exception as exc:  # a bug must not end the thread with a line on stderr only
                self._failed(repr(exc), bug=True)
            self.listening.clear()
            if self._sound:  # it listened: a new outage begins
                wait = self._retry_first
            if self._stopped.wait(wait):
                return
            wait = min(wait * 2, self._retry_max)

    def _failed(self, reason: str, *, bug: bool = False) -> None:
        """Tell of the failure that begins an outage (a bug's with its traceback), not of
        each try that fails again."""
        if self._failing:
            return
        self._failing = True
        logger.log(
            logging.ERROR if bug else logging.WARNING,
            "listening for new deliveries failed (%s); polling meanwhile, trying again after "
            "%g s, then doubling up to %g s",
            " ".join(reason.split()),
            self._retry_first,
            self._retry_max,
            exc_info=bug,
        )

    def _listen(self) -> None:
        import psycopg

        with psycopg.connect(self._dsn, autocommit=True) as conn:
            conn.execute(f"LISTEN {CHANNEL}")
            self.listening.set()
            self._wake()  # whatever was queued while nobody listened
            self._sound = True
            if self._failing:
                self._failing = False
                logger.info("listening for new deliveries again")
            while not self._stopped.is_set():
                for _ in conn.notifies(timeout=self._check_every):
                    self._wake()
