"""One measurement, run in a fresh interpreter so that its peak RSS is its own.

``python -m bench.probe '<json spec>'`` runs the probe the spec names and prints one JSON
object: the timed seconds, the entities handled, RSS before the timed part and its peak, and the
seconds the garbage collector took inside the timed part. ``bench.measure`` starts these.
"""

from __future__ import annotations

import functools
import gc
import resource
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

Spec = dict[str, Any]
Outcome = dict[str, Any]


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _GcClock:
    """Seconds spent in garbage collection while running."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._start = 0.0

    def __call__(self, phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._start


@contextmanager
def timed(outcome: Outcome) -> Iterator[None]:
    """Time the body; note RSS before it and at its peak, and the GC time inside it."""
    clock = _GcClock()
    outcome["rss_start_mb"] = peak_rss_mb()
    gc.callbacks.append(clock)
    start = time.perf_counter()
    try:
        yield
    finally:
        outcome["seconds"] = time.perf_counter() - start
        gc.callbacks.remove(clock)
        outcome["gc_seconds"] = clock.seconds
        outcome["rss_peak_mb"] = peak_rss_mb()


def ingest(spec: Spec) -> Outcome:
    """Ingest (or preview) one feed into the database the spec names."""
    from deltahook.config import Settings
    from deltahook.engine import Engine

    if spec.get("fresh"):  # a first load into an empty store
        for stale in Path(spec["db"]).parent.glob(Path(spec["db"]).name + "*"):
            stale.unlink()
    settings = Settings(
        database_url=f"sqlite:///{spec['db']}",
        batch_size=spec["batch_size"],
        subscriptions=_receivers(spec.get("subscriptions", 0)),
    )
    engine = Engine.from_settings(settings)
    rules = getattr(engine, "rules", None)  # the shipped rules, loaded by from_settings
    outcome: Outcome = {"rules_loaded": bool(rules) or engine.decider is not None}
    if not spec["rules"]:
        engine.rules = None
        engine.decider = None
    run = engine.preview if spec.get("preview") else engine.ingest
    if spec.get("baseline"):
        run = functools.partial(engine.ingest, baseline=True)
    if spec.get("gc_off"):  # a what-if for the core: the ingest without the cyclic collector
        gc.disable()
    with timed(outcome):
        result = run(spec["kind"], Path(spec["feed"]), mode=spec["mode"])
    gc.enable()
    engine.close()
    outcome["counts"] = result.counts.as_dict()
    outcome["entities"] = result.counts.received
    return outcome


def _receivers(count: int) -> list[Any]:
    """``count`` subscriptions to every event type (nothing is sent: deliveries are queued)."""
    from deltahook.delivery.settings import SubscriptionSettings

    return [
        SubscriptionSettings(
            name=f"receiver-{i}", url=f"https://receiver-{i}.example/hooks", event_types=["*"]
        )
        for i in range(count)
    ]


def floor(spec: Spec) -> Outcome:
    """Read, parse and canonically hash every record: the least any ingest must do."""
    from deltahook.catalog.entities import load_catalog
    from deltahook.changes.canonical import canonical_bytes, digest, normalise
    from deltahook.config import Settings

    kind = load_catalog(Settings().entity_schemas_dir)[spec["kind"]]
    outcome: Outcome = {}
    count = 0
    with timed(outcome), Path(spec["feed"]).open("rb") as feed:
        for line in feed:
            digest(canonical_bytes(normalise(kind, orjson.loads(line))))
            count += 1
    outcome["entities"] = count
    return outcome


def naive(spec: Spec) -> Outcome:
    """What a user would write: parse old and new, DeepDiff every pair (on a sample)."""
    from deepdiff import DeepDiff

    pairs = _sample_pairs(Path(spec["old"]), Path(spec["feed"]), spec["sample"])
    outcome: Outcome = {}
    changed = 0
    with timed(outcome):
        for old_line, new_line in pairs:
            old, new = orjson.loads(old_line), orjson.loads(new_line)
            diff = DeepDiff(
                old,
                new,
                view="tree",
                threshold_to_diff_deeper=0,
                ignore_numeric_type_changes=True,
            )
            changed += bool(diff)
    outcome["entities"] = len(pairs)
    outcome["changed"] = changed
    return outcome


def _sample_pairs(old: Path, new: Path, sample: int) -> list[tuple[bytes, bytes]]:
    """Every k-th line pair of two feeds with the same entities in the same order."""
    with old.open("rb") as a, new.open("rb") as b:
        pairs = list(zip(a, b, strict=True))
    step = max(1, len(pairs) // sample)
    return pairs[::step][:sample]


def delivery(_spec: Spec) -> Outcome:
    """The rows ``bench/delivery.py`` measures (see bench/README.md for its contract)."""
    import dataclasses

    from bench import delivery as module

    measure = getattr(module, "measure", None)
    if measure is None:
        return {"error": "bench/delivery.py has no measure() (see bench/README.md)"}
    rows = [
        dataclasses.asdict(row) if dataclasses.is_dataclass(row) else dict(row) for row in measure()
    ]
    return {"rows": rows}


PROBES: dict[str, Callable[[Spec], Outcome]] = {
    "ingest": ingest,
    "floor": floor,
    "naive": naive,
    "delivery": delivery,
}


def main() -> None:
    spec = orjson.loads(sys.argv[1])
    outcome = PROBES[spec["probe"]](spec)
    sys.stdout.write(orjson.dumps(outcome).decode() + "\n")


if __name__ == "__main__":
    main()
