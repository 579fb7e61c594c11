"""Fan-out benchmark: one manufacturer renamed, its 50,000 SKUs notified.

    python -m bench.fanout [--n 50000] [--work DIR]

Set-up (not timed): a SQLite store with one manufacturer and ``n`` SKUs naming it, loaded as
a baseline (references stored, nothing notified). Then, each in a fresh subprocess (so peak
RSS is its own): the rename (a watched field: ``n`` notifications) and, as the control, a
change to a field no setting watches (no fan-out). Prints one markdown row with the load
average beside it.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import orjson

from bench.measure import probe


def _write(path: Path, records: Sequence[Mapping[str, object]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return path


def set_up(work: Path, n: int, batch_size: int) -> Path:
    """The store: a manufacturer and ``n`` SKUs naming it, loaded as a baseline."""
    from deltahook.config import Settings
    from deltahook.engine import Engine

    db = work / "fanout.sqlite"
    maker = {"ManufacturerCode": "NORD", "Name": "Nordlys", "Url": "https://a.example"}
    skus = [
        {
            "PartNo": f"P{i:07d}",
            "ManufacturerCode": "NORD",
            "StatusId": 1,
            "Cultures": [{"CultureCode": "sv-SE", "Name": f"Produkt {i}"}],
        }
        for i in range(n)
    ]
    settings = Settings(database_url=f"sqlite:///{db}", batch_size=batch_size)
    with Engine.from_settings(settings) as engine:
        engine.ingest("manufacturer", _write(work / "m0.ndjson", [maker]), baseline=True)
        engine.ingest("sku", _write(work / "skus.ndjson", skus), baseline=True)
    _write(work / "rename.ndjson", [maker | {"Name": "Nordlys AB"}])
    _write(work / "control.ndjson", [maker | {"Url": "https://b.example"}])
    return db


def run(work: Path, n: int, batch_size: int) -> str:
    db = set_up(work, n, batch_size)
    base = {"probe": "ingest", "batch_size": batch_size, "rules": True, "kind": "manufacturer"}
    base |= {"mode": "upsert"}
    outcomes = {}
    for name in ("control", "rename"):
        copy = work / f"{name}.sqlite"
        copy.write_bytes(db.read_bytes())
        outcomes[name] = probe(base | {"db": str(copy), "feed": str(work / f"{name}.ndjson")})
    fan, ctl = outcomes["rename"], outcomes["control"]
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    return (
        f"| manufacturer renamed, fanned out to {n:,} SKUs (SQLite, batch {batch_size}) "
        f"| {fan['seconds']:.2f} s, {fan['counts']['notifications']:,} notifications, "
        f"{n / fan['seconds'] / 1000:.1f} k/s; peak {fan['rss_peak_mb']:.0f} MB "
        f"(from {fan['rss_start_mb']:.0f} MB) "
        f"| unwatched field, no fan-out: {ctl['seconds']:.2f} s, peak {ctl['rss_peak_mb']:.0f} MB "
        f"| +{fan['rss_peak_mb'] - ctl['rss_peak_mb']:.0f} MB for {n:,} SKUs "
        f"| load average {load} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--batch-size", type=int, default=2_000)
    parser.add_argument("--work", type=Path)
    args = parser.parse_args()
    if args.work is not None:
        args.work.mkdir(parents=True, exist_ok=True)
        print(run(args.work, args.n, args.batch_size))
        return
    with tempfile.TemporaryDirectory() as work:
        print(run(Path(work), args.n, args.batch_size))


if __name__ == "__main__":
    main()
