"""The console's Log tab on a long log: one event type with 100 deliveries, then 100k.

``python -m bench.console`` (or ``python bench/console.py``) fills a fresh SQLite store with
deliveries of ``SkuOnHandBreakPointNotification`` through the production outbox
(``outbox.record``), as many again of another type, then times ``GET
/admin/types/<type>/log`` (the first page, payloads and attempts included) and the same page
filtered to failed deliveries, signed in, over Starlette's TestClient: the median of
``--repeat`` requests after one warm-up, and the fastest (the least disturbed by other work
on the machine). The page reads one range of the (event_type,
created_at) index, so its time should not follow the size of the log.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

if __package__ in (None, ""):  # run as ``python bench/console.py``
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fastapi.testclient import TestClient

from deltahook.api import create_app
from deltahook.config import Settings
from deltahook.delivery import log, pages
from deltahook.engine import Engine
from deltahook.notifications import Notification
from deltahook.store import outbox

TYPE = "SkuOnHandBreakPointNotification"
OTHER = "SkuChangedNotification"
KEY = "bench-console-key-0123456789"
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def fill(engine: Engine, count: int, *, batch: int = 5000) -> None:
    """``count`` deliveries of ``TYPE`` and as many of ``OTHER``, one a second apart."""
    for start in range(0, count, batch):
        items = [
            Notification(
                id=f"{kind:08d}-0000-4000-8000-{number:012d}",
                type=(TYPE, OTHER)[kind],
                family="notification",
                payload={"ClientId": 1, "PartNo": f"P-{number}", "OnHandValue": 3},
                created_at=T0 + timedelta(seconds=number),
            )
            for number in range(start, min(start + batch, count))
            for kind in (0, 1)
        ]
        with engine.db.begin() as conn:
            outbox.record(conn, items, now=items[-1].created_at)


def time_page(client: TestClient, path: str, repeat: int) -> tuple[float, float]:
    client.get(path)  # warm-up: templates compiled, caches filled
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        answer = client.get(path)
        times.append(time.perf_counter() - started)
        assert answer.status_code == 200, answer.text[:200]
    return statistics.median(times), min(times)


def time_query(engine: Engine, repeat: int) -> tuple[float, float]:
    """The Log tab's store read alone: ``pages.page`` with payloads and attempts."""
    where = log.LogFilter(event_type=TYPE, limit=50)
    times = []
    with engine.db.connect() as conn:
        for _ in range(repeat + 1):
            started = time.perf_counter()
            pages.page(conn, where, now=engine.clock(), payload=True, with_attempts=True)
            times.append(time.perf_counter() - started)
    return statistics.median(times[1:]), min(times[1:])


def measure(count: int, repeat: int, work: Path) -> dict[str, tuple[float, float]]:
    settings = Settings(
        database_url=f"sqlite:///{work / f'console-{count}.db'}",
        api_keys=[KEY],
        allow_private_urls=True,
        subscriptions=[{"name": "erp", "url": "http://127.0.0.1:9/", "event_types": ["*"]}],
    )
    engine = Engine.from_settings(settings)
    try:
        fill(engine, count)
        with TestClient(create_app(settings, engine=engine)) as client:
            form = client.get("/admin/signin").text
            token = form.split('name="token" value="')[1].split('"')[0]
            client.post("/admin/signin", data={"token": token, "key": KEY, "next": "/admin/"})
            return {
                "query": time_query(engine, repeat),
                "log": time_page(client, f"/admin/types/{TYPE}/log", repeat),
                "failed": time_page(client, f"/admin/types/{TYPE}/log?status=pending", repeat),
                "landing": time_page(client, "/admin/", repeat),
            }
    finally:
        engine.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="deltahook-bench-console-") as folder:
        small = measure(args.small, args.repeat, Path(folder))
        large = measure(args.large, args.repeat, Path(folder))
    sizes = f"{args.small:,} deliveries of the type | {args.large:,}"
    print(f"| page (median / fastest) | {sizes} | ratio |")
    print("|---|---|---|---|")
    for name, label in (
        ("query", "the Log tab's store read alone (delivery.pages.page)"),
        ("log", "Log tab, first page (50 rows, payloads and attempts)"),
        ("failed", "Log tab filtered by status (pending)"),
        ("landing", "Integration events (24 h figures per type)"),
    ):
        (small_median, small_best), (large_median, large_best) = small[name], large[name]
        figures = (
            f"{small_median * 1000:.1f} / {small_best * 1000:.1f} ms | "
            f"{large_median * 1000:.1f} / {large_best * 1000:.1f} ms"
        )
        ratios = f"{large_median / small_median:.2f}x / {large_best / small_best:.2f}x"
        print(f"| {label} | {figures} | {ratios} |")


if __name__ == "__main__":
    main()
