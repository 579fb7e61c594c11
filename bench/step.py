"""The detection step alone: each process's CPU after its own start-up, printed by the process.

``python -m bench.step deltahook DB FEED`` builds the engine (start-up: imports, catalog, rules)
and then times ``Engine.ingest`` of FEED as a full feed into the SQLite file DB, as the CLI
does; ``python -m bench.step dict STATE FEED OUT`` imports what ``bench.antijoin``'s dict
process needs and then times its work (read the stored hashes, hash and look up every line,
write the keys of the others). Each prints the CPU seconds (user + sys, the whole process) of
the timed part. ``bench.process`` runs them beside the whole processes (issue 18 aim 1: the
floor is for the detection step).
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def deltahook(db: Path, feed: Path) -> float:
    from deltahook.config import Settings
    from deltahook.engine import Engine

    with Engine.from_settings(Settings(database_url=f"sqlite:///{db}")) as engine:
        start = cpu()
        engine.ingest("sku", feed, mode="full")
        return cpu() - start


def floor(state: Path, feed: Path, out: Path) -> float:
    import orjson  # noqa: F401  (start-up: what the dict process imports)
    import xxhash  # noqa: F401

    from bench.antijoin import dict_changed

    start = cpu()
    dict_changed(state, feed, out)
    return cpu() - start


def main(argv: list[str]) -> None:
    who = argv[0]
    if who == "deltahook":
        seconds = deltahook(Path(argv[1]), Path(argv[2]))
    elif who == "dict":
        seconds = floor(Path(argv[1]), Path(argv[2]), Path(argv[3]))
    else:
        raise SystemExit(f"unknown step {who!r}")
    print(f"{seconds:.6f}")


if __name__ == "__main__":
    main(sys.argv[1:])
