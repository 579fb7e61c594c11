"""A request body as a blocking binary stream for the synchronous pipeline in a worker thread.

The event loop pumps the body's chunks into a bounded channel (16 chunks: memory stays flat
however large the feed); the worker reads them through ``BodyReader``, a file-like object the
feed readers take as they take an open file. Backpressure runs both ways: a slow database slows
the reading of the socket, and a worker that stops early (it failed, or the JSON array ended)
closes the channel so the pump stops too. A body that ends badly (the client went away, or it
went over the size limit) raises in the reader, so the ingest fails rather than taking a cut
feed for a whole one (which, for a full feed, would delete what it never saw).
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable
from typing import IO, TypeVar

import anyio
import anyio.from_thread
import anyio.to_thread
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from starlette.requests import Request

T = TypeVar("T")
Chunk = bytes | BaseException
BUFFERED_CHUNKS = 16
READ_BUFFER = 1 << 16


class IdleFailed(Exception):
    """What ``BodyReader.idle`` raised (writing the records so far failed), carried through the
    feed reader: a reader takes a ``ValueError`` met while reading for a malformed record (a
    JSON array's ``the rest of the array could not be read``), and so went on after a store
    error. ``with_body`` raises the error itself again."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


class BodyReader(io.RawIOBase):
    """Reads the chunks the pump sends, from a worker thread started by anyio."""

    def __init__(self, channel: MemoryObjectReceiveStream[Chunk]) -> None:
        super().__init__()
        self._channel = channel
        self._pending = memoryview(b"")
        self._ended = False
        # Called (in the worker thread) before it waits for a chunk that has not come yet.
        self.idle: Callable[[], None] | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._pending:
            if self._ended:
                return 0
            try:
                item = anyio.from_thread.run(self._next)
                if item is None:
                    assert self.idle is not None
                    try:
                        self.idle()
                    except Exception as exc:  # see IdleFailed
                        raise IdleFailed(exc) from exc
                    item = anyio.from_thread.run(self._channel.receive)
            except anyio.EndOfStream:
                self._ended = True
                return 0
            if isinstance(item, BaseException):
                self._ended = True
                raise item
            self._pending = memoryview(item)
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count

    async def _next(self) -> Chunk | None:
        """The next chunk; None, with an ``idle`` to call, when it has not come yet."""
        if self.idle is None:
            return await self._channel.receive()
        try:
            return self._channel.receive_nowait()
        except anyio.WouldBlock:
            return None


class BodyStream(io.BufferedReader):
    """The body as ``work`` reads it: a buffered ``BodyReader``."""

    def when_idle(self, idle: Callable[[], None]) -> None:
        """Call ``idle`` before waiting for more of the body (see ``pipeline.Run.idle``)."""
        assert isinstance(self.raw, BodyReader)
        self.raw.idle = idle


async def with_body(request: Request, work: Callable[[IO[bytes]], T]) -> T:
    """Run ``work(stream)`` in a worker thread, ``stream`` being the request body as it arrives.

    The thread (and the database connection ``work`` takes) waits for the body's first bytes:
    a client that sends headers and then nothing holds neither.
    """
    chunks = request.stream()
    first = await _first_chunk(chunks)
    send, receive = anyio.create_memory_object_stream[Chunk](BUFFERED_CHUNKS)
    failure: Exception | None = None
    async with anyio.create_task_group() as group:
        group.start_soon(_pump, first, chunks, send)
        try:
            result = await anyio.to_thread.run_sync(_read, work, receive)
        except Exception as exc:  # raised after the group, which would wrap it in a group
            failure = exc
        finally:
            group.cancel_scope.cancel()  # the pump may still wait for a body nobody reads
    if failure is not None:
        raise failure
    return result


async def _first_chunk(chunks: AsyncIterator[bytes]) -> bytes:
    """The body's first bytes (b"" for an empty body); a body that fails before them raises."""
    async for chunk in chunks:
        if chunk:
            return chunk
    return b""


def _read(work: Callable[[IO[bytes]], T], channel: MemoryObjectReceiveStream[Chunk]) -> T:
    try:
        with BodyStream(BodyReader(channel), READ_BUFFER) as stream:
            return work(stream)
    except IdleFailed as failed:
        raise failed.error from None
    finally:
        anyio.from_thread.run_sync(channel.close)


async def _pump(
    first: bytes, chunks: AsyncIterator[bytes], channel: MemoryObjectSendStream[Chunk]
) -> None:
    async with channel:
        try:
            if first:
                await channel.send(first)
            try:
                async for chunk in chunks:
                    if chunk:
                        await channel.send(chunk)
            except Exception as exc:  # the body ended badly: the reader raises it in its thread
                await channel.send(exc)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass  # the reader stopped early: nobody needs the rest
