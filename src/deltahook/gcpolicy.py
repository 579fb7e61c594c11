"""The cyclic garbage collector: not while a command starts, and while a feed is ingested
rarely, and between batches only."""

from __future__ import annotations

import atexit
import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache

_FULL_EVERY = 50  # batches between full collections of the heap while feeding (see below)
_YOUNG = 50_000  # containers alive since the last collection that call for one between batches
_paused = False  # by pause(): resume() switches the collector back on


def pause() -> None:
    """No cyclic collection until ``resume()``: a command's start-up (its imports, catalogs,
    rules and engine) builds what lives until the process ends, so collecting among it frees
    almost nothing (under 2,000 of 90,000 objects) and cost about 5% of an ingest's CPU before
    its first feed byte. A collector already switched off is left as it is."""
    global _paused  # noqa: PLW0603  # one collector for the one process
    if gc.isenabled():
        gc.disable()
        _paused = True


def resume() -> None:
    """End ``pause()``: freeze what was built so far (full collections never traverse it
    again) and collect as usual. Nothing when nothing was paused. The interpreter's teardown
    unfreezes it first (an exit handler), so what start-up built is finalised as before."""
    global _paused  # noqa: PLW0603
    if _paused:
        _paused = False
        gc.freeze()
        gc.enable()
        _unfreeze_at_exit()


@cache
def _unfreeze_at_exit() -> None:
    atexit.register(gc.unfreeze)


@contextmanager
def starting() -> Iterator[None]:
    """``pause()`` for the block, then ``resume()``."""
    pause()
    try:
        yield
    finally:
        resume()


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Run the young-generation collector less often while parsing a feed.

    Parsing allocates many short-lived containers; at the default threshold the collector runs
    every 700 of them and costs about a fifth of an ingest's time. Batches are dropped whole,
    so their garbage is freed by reference counting anyway.
    """
    threshold = gc.get_threshold()
    gc.set_threshold(max(threshold[0], 50_000), *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)


@contextmanager
def collected_between_batches() -> Iterator[Callable[[], None]]:
    """Collect cyclic garbage between batches only, not while a batch is being built.

    A batch keeps its tens of thousands of containers (parsed records, row and field changes,
    notifications) alive until it is written, so an automatic collection in the middle of
    it traverses all of them and frees almost nothing: at a first load that was an eighth of
    the CPU. Between batches they are already freed by reference counting: the young
    generations are collected there once ``_YOUNG`` more containers are alive than at the last
    collection (as the automatic collector would), and every ``_FULL_EVERY`` batches the whole
    heap is, so what a batch leaves in cycles is reclaimed as the feed goes on. The heap as it
    was before the feed is frozen meanwhile: a full collection traverses only what the feed
    made (at 100k SKUs, the one full collection of a nightly feed cost a tenth of its CPU).
    """
    if not gc.isenabled():  # the caller switched the collector off: leave it so
        yield lambda: None
        return
    batches = 0

    def collect() -> None:
        nonlocal batches
        batches += 1
        if batches % _FULL_EVERY == 0:
            gc.collect()
        elif gc.get_count()[0] >= _YOUNG:
            gc.collect(1)

    gc.disable()
    gc.freeze()  # what was alive before the feed (modules, the engine) is never traversed
    try:
        yield collect
    finally:
        gc.unfreeze()
        gc.enable()
