"""A request body read by the pipeline: what fails while the reader waits for more of it (the
idle flush of the records so far) fails the upload; no reader takes it for bad input."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from typing import IO

import anyio
import anyio.from_thread
import pytest

from deltahook.api.streaming import with_body
from deltahook.feeds.readers import Item, read_json_array


class _Request:
    """What ``with_body`` reads of a request: a body that stops after its first chunk until
    the reader has gone idle."""

    def __init__(self, gone_idle: anyio.Event) -> None:
        self._gone_idle = gone_idle

    async def stream(self) -> AsyncIterator[bytes]:
        # The second element starts just before the JSON reader's first read ends (1 MiB) and
        # stops halfway: the reader stalls inside it.
        head = b'[{"PartNo": "A"},'
        yield head + b" " * ((1 << 20) - len(head) - 4) + b'{"PartNo": '
        await self._gone_idle.wait()
        yield b'"B"}]'


def test_a_failure_while_the_body_stalls_is_raised_not_read_as_a_bad_element() -> None:
    """The idle callback (which writes the waiting batch) fails with a ValueError in the middle
    of a JSON array: the upload fails with that error, where the array reader had reported it
    as a malformed element and gone on."""
    seen: list[Item] = []

    async def main() -> None:
        gone_idle = anyio.Event()

        def idle() -> None:
            anyio.from_thread.run_sync(gone_idle.set)
            raise ValueError("the store refused the batch")

        def work(stream: IO[bytes]) -> None:
            stream.when_idle(idle)  # type: ignore[attr-defined]
            for item in read_json_array(io.TextIOWrapper(stream, encoding="utf-8")):
                seen.append(item)

        await with_body(_Request(gone_idle), work)  # type: ignore[arg-type]

    with pytest.raises(ValueError, match="the store refused the batch"):
        anyio.run(main)
    assert [type(item).__name__ for item in seen] == ["Record"]
