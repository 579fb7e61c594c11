"""Stop requests (SIGINT, SIGTERM and, for ``deliver``, SIGHUP) from a long-running command's
first moment on.

``run`` installs the handlers before the command's modules are imported: ``deliver`` then
imports SQLAlchemy, httpx and the dispatcher and opens the store, some hundreds of milliseconds
in which a Ctrl-C used to end it with a ``KeyboardInterrupt`` traceback and a SIGTERM killed it
(exit 143) without its summary. A handler only records the request; the command honours it
once it can: ``deliver``'s dispatcher through ``watching``, ``serve``'s uvicorn as it starts
(see ``deltahook.api.server.Server``).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext, suppress
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio
    import socket

OnRequest = Callable[[], object]
"""Called in the main thread, from the signal handler, once per stop request."""

_unheard = 0  # requests recorded while no one was watching
_watcher: OnRequest | None = None
_installed: tuple[int, ...] = ()  # by install(): for the rest of the process


def stop_signals(*, hangup: bool) -> tuple[int, ...]:
    """SIGINT and SIGTERM; with ``hangup`` SIGHUP too (the terminal closed), unless it is
    ignored (the command runs under ``nohup``)."""
    found = [signal.SIGINT, signal.SIGTERM]
    if hangup and signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
        found.append(signal.SIGHUP)
    return tuple(found)


def install(signals: Sequence[int]) -> None:
    """Record every stop request by ``signals`` from now to the end of the process."""
    global _installed  # noqa: PLW0603  # one set of handlers for the one process
    for sig in signals:
        signal.signal(sig, _record)
    _installed = tuple(signals)


def pending() -> int:
    """The stop requests recorded so far that no watcher was told of."""
    return _unheard


@contextmanager
def watching(
    on_request: OnRequest, signals: Sequence[int], *, loop: asyncio.AbstractEventLoop | None = None
) -> Iterator[None]:
    """Call ``on_request`` for each stop request while the block runs, first for those recorded
    before it (which are then told). Where ``install`` did not run (the command was invoked
    in-process, by a test runner), ``signals`` are handled for the block only.

    With ``loop``, the event loop running in this thread, a request also wakes it: the kernel
    may hand a process's signal to any of its threads, and the handler runs in the main thread
    only once that thread runs Python again, not while its loop waits in ``select``."""
    global _watcher, _unheard  # noqa: PLW0603
    main_thread = threading.current_thread() is threading.main_thread()
    own = not _installed and main_thread
    previous = {sig: signal.signal(sig, _record) for sig in signals} if own else {}
    _watcher = on_request
    try:
        with _waking(loop) if loop is not None and main_thread else nullcontext():
            while _unheard:
                _unheard -= 1
                on_request()
            yield
    finally:
        _watcher = None
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def _waking(loop: asyncio.AbstractEventLoop) -> Iterator[None]:
    """A signal's arrival wakes ``loop`` (as asyncio's own signal handlers do, whose removal
    would leave SIGTERM to its default, killing, action until the process ends)."""
    import socket

    reader, writer = socket.socketpair()
    with reader, writer:
        reader.setblocking(False)
        writer.setblocking(False)
        loop.add_reader(reader.fileno(), _drain, reader)
        previous = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
        try:
            yield
        finally:
            signal.set_wakeup_fd(previous)
            loop.remove_reader(reader.fileno())


def _drain(reader: socket.socket) -> None:
    with suppress(OSError):  # nothing left to read
        while reader.recv(64):
            pass


def _record(signum: int, frame: FrameType | None) -> None:
    global _unheard  # noqa: PLW0603
    if _watcher is None:
        _unheard += 1
    else:
        _watcher()
