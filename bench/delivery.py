"""Delivery throughput and latency: one dispatcher process against a bare httpx loop.

``python bench/delivery.py`` (or ``python -m bench.delivery``) prints the figures; the suite
(``python -m bench``) calls ``measure()`` for its rows. Every part runs in its own process:

- a fast receiver (asyncio, minimal HTTP/1.1 with keep-alive, answers 200 "ok" and notes the
  arrival time of every message id);
- the dispatcher: ``Dispatcher.run(once=True)``, the code behind ``deltahook deliver
  --once``, over N queued deliveries in a SQLite file, every attempt logged; timed from start
  to the last attempt recorded;
- the baseline: one ``httpx.AsyncClient`` posting the same N payloads and nothing else (no
  database, no signing, no log), at the same concurrency and at 8 (where httpx's own pool
  does best here); the ratio is against the better of the two, and each figure has its CPU a
  delivery beside it (process time of the timed part), steadier than rates on a busy machine;
- latency: ``deltahook deliver`` left running idle while this process commits notifications
  one at a time (as ingest does); commit-to-arrival times, p50 and p99;
- on PostgreSQL (the test server, ``DELTAHOOK_TEST_PG_URL``), beside **procrastinate's
  worker** (the bench extra): ``PG_N`` payloads (it fetches one job per query, one query
  at a time: about 50-70 jobs a second here) queued as procrastinate jobs of one async
  task that POSTs each with a shared ``httpx.AsyncClient`` and raises on a non-2xx answer
  (procrastinate keeps each job's status and events), run by ``run_worker_async(concurrency=
  32, wait=False)``; against one dispatcher on a deltahook store in a schema of its own, same
  receiver, runs interleaved. Queueing is not timed for either. Without the server or the
  package the row says "not measured".
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

if __package__ in (None, ""):  # run as ``python bench/delivery.py``
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

REPO = Path(__file__).resolve().parents[1]
N = 5_000
CONCURRENCY = 32
BARE_BEST = 8
LATENCY_SAMPLES = 150
PG_URL = os.environ.get("DELTAHOOK_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
PROCRASTINATE_AIM = 4.0
BARE_AIM = 1.5
"""Issue 18 aim 5: one dispatcher, every attempt logged, at 1.5x the bare httpx loop."""
PG_N = 2_000
"""Deliveries of the PostgreSQL row: procrastinate's worker manages about 50-70 a second here."""
PAYLOAD = {"ClientId": 1042, "ApplicationId": 7, "PartNo": "TSHIRT-BLK-M"}
EVENT = "SkuChangedNotification"

# --- the receiver ------------------------------------------------------------------------------

_OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


class _Receiver(asyncio.Protocol):
    arrivals: dict[str, float] = {}  # noqa: RUF012  (one receiver per process)
    count = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buffer = bytearray()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head = bytes(self.buffer[:end]).lower()
            length = _header(head, b"content-length")
            total = end + 4 + int(length or 0)
            if len(self.buffer) < total:
                return
            del self.buffer[:total]
            if head.startswith(b"get /stats"):
                body = orjson.dumps({"count": _Receiver.count, "arrivals": _Receiver.arrivals})
                self.transport.write(
                    b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
                )
                continue
            _Receiver.count += 1
            message_id = _header(head, b"norce-event-message-id") or _header(head, b"webhook-id")
            if message_id:
                _Receiver.arrivals[message_id.decode()] = time.time()
            self.transport.write(_OK)


def _header(head: bytes, name: bytes) -> bytes | None:
    start = head.find(b"\r\n" + name + b":")
    if start < 0:
        return None
    start += len(name) + 3
    stop = head.find(b"\r\n", start)
    return head[start : stop if stop >= 0 else len(head)].strip()


def serve(port: int) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_Receiver, "127.0.0.1", port, backlog=1024)
        print(server.sockets[0].getsockname()[1], flush=True)
        await server.serve_forever()

    asyncio.run(main())


def receiver_stats(port: int) -> dict[str, Any]:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET /stats HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data or len(data) < _expected(data):
            chunk = sock.recv(1 << 20)
            if not chunk:
                break
            data += chunk
    stats: dict[str, Any] = orjson.loads(data.split(b"\r\n\r\n", 1)[1])
    return stats


def _expected(data: bytes) -> int:
    head, _, _ = data.partition(b"\r\n\r\n")
    return len(head) + 4 + int(_header(head.lower(), b"content-length") or 0)


# --- the store ---------------------------------------------------------------------------------


def prepare(db_url: str, url: str, n: int, concurrency: int) -> None:
    """A database with one subscription and ``n`` notifications queued for it."""
    from deltahook.delivery import subscriptions as subs
    from deltahook.delivery.settings import SubscriptionSettings
    from deltahook.notifications import Notification
    from deltahook.store import outbox
    from deltahook.store.db import open_engine

    now = datetime.now(UTC)
    engine = open_engine(db_url)
    sub = SubscriptionSettings(
        name="bench", url=url, event_types=["*"], max_concurrency=concurrency
    )
    with engine.begin() as conn:
        subs.sync(conn, [sub], now=now)
    for start in range(0, n, 5_000):
        items = [
            Notification(
                id=f"00000000-0000-4000-8000-{i:012d}",
                type=EVENT,
                family="notification",
                payload=PAYLOAD | {"PartNo": f"P{i}"},
                created_at=now,
            )
            for i in range(start, min(n, start + 5_000))
        ]
        with engine.begin() as conn:
            outbox.record(conn, items, now=now)
    engine.dispose()


# --- the two senders ---------------------------------------------------------------------------


def dispatch(db_url: str) -> dict[str, Any]:
    from deltahook.delivery.dispatcher import Dispatcher, DispatcherOptions
    from deltahook.store.db import open_engine

    engine = open_engine(db_url)
    dispatcher = Dispatcher(
        engine, options=DispatcherOptions(worker_id="bench", allow_private=True)
    )
    started, cpu = time.perf_counter(), time.process_time()
    stats = asyncio.run(dispatcher.run(once=True))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {
        "seconds": seconds,
        "cpu": cpu,
        "attempts": stats.attempts,
        "delivered": stats.delivered,
    }


def bare(url: str, n: int, concurrency: int) -> dict[str, Any]:
    import httpx

    bodies = [orjson.dumps(PAYLOAD | {"PartNo": f"P{i}"}) for i in range(n)]

    async def main() -> int:
        ok = 0
        queue = iter(enumerate(bodies))
        async with httpx.AsyncClient(
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=1000)
        ) as client:

            async def worker() -> None:
                nonlocal ok
                for i, body in queue:
                    response = await client.post(
                        url,
                        content=body,
                        headers={
                            "Content-Type": "application/json; charset=utf-8",
                            "Norce-Event-Message-Id": f"bare-{i}",
                            "Norce-Event-Type": EVENT,
                        },
                    )
                    ok += response.is_success

            await asyncio.gather(*(worker() for _ in range(concurrency)))
        return ok

    started, cpu = time.perf_counter(), time.process_time()
    delivered = asyncio.run(main())
    return {
        "seconds": time.perf_counter() - started,
        "cpu": time.process_time() - cpu,
        "delivered": delivered,
    }


def procrastinate_worker(dsn: str, url: str, n: int, concurrency: int) -> dict[str, Any]:
    """Queue ``n`` jobs in the (empty) schema of ``dsn`` (not timed), then time procrastinate's
    worker running them all: one async task per job POSTing its payload."""
    import httpx
    import procrastinate

    # A pool as large as the concurrency, plus the listener's and the fetcher's connections:
    # psycopg_pool's default of 4 would hold the worker back.
    pool = {"min_size": concurrency + 2, "max_size": concurrency + 2}
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=dsn, **pool))
    clients: list[httpx.AsyncClient] = []

    @app.task(name="deliver", retry=5)
    async def deliver(message_id: str, payload: dict[str, Any]) -> None:
        response = await clients[0].post(
            url,
            content=orjson.dumps(payload),
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "Norce-Event-Message-Id": message_id,
                "Norce-Event-Type": EVENT,
            },
        )
        response.raise_for_status()  # procrastinate retries the job

    async def main() -> dict[str, Any]:
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=1000)
        async with httpx.AsyncClient(limits=limits) as client, app.open_async():
            clients.append(client)
            await app.schema_manager.apply_schema_async()
            for start in range(0, n, 1_000):
                await deliver.batch_defer_async(
                    *(
                        {"message_id": f"proc-{i}", "payload": PAYLOAD | {"PartNo": f"P{i}"}}
                        for i in range(start, min(n, start + 1_000))
                    )
                )
            started = time.perf_counter()
            await app.run_worker_async(
                concurrency=concurrency, wait=False, install_signal_handlers=False
            )
            seconds = time.perf_counter() - started
            rows = await app.connector.execute_query_all_async(
                "SELECT count(*) AS done FROM procrastinate_jobs WHERE status = 'succeeded'"
            )
        return {"seconds": seconds, "delivered": rows[0]["done"]}

    return asyncio.run(main())


def against_procrastinate(
    n: int, concurrency: int, repeat: int, url: str = PG_URL
) -> dict[str, float] | str:
    """Median deliveries per second of one dispatcher and of procrastinate's worker on
    PostgreSQL, interleaved, same receiver; or why they were not measured."""
    from bench.postgres import schema
    from bench.sidebyside import server_problem

    problem = server_problem(url)
    if problem is not None:
        return f"no PostgreSQL server answers ({problem})"
    try:
        import procrastinate  # noqa: F401
    except ImportError:
        return "procrastinate is not installed (`pip install -e '.[bench]'`)"
    receiver = _python("serve", stdout=subprocess.PIPE)
    assert receiver.stdout is not None
    target = f"http://127.0.0.1:{int(receiver.stdout.readline())}/hooks"
    runs: dict[str, list[float]] = {"dispatcher": [], "procrastinate": []}
    try:
        for _ in range(repeat):
            with schema(url, "dispatch") as db:
                prepare(db, target, n, concurrency)
                done = _child("dispatch", db)
            assert done["delivered"] == n, done
            runs["dispatcher"].append(n / done["seconds"])
            with schema(url, "procrastinate") as db:
                dsn = db.replace("+psycopg", "")
                base = _child("procrastinate", dsn, target, str(n), str(concurrency))
            assert base["delivered"] == n, base
            runs["procrastinate"].append(n / base["seconds"])
    finally:
        receiver.terminate()
        receiver.communicate()
    return {name: statistics.median(rates) for name, rates in runs.items()}


# --- orchestration -----------------------------------------------------------------------------


def _python(*args: str, **kwargs: Any) -> subprocess.Popen[bytes]:
    env = os.environ | {"PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, __file__, *args], env=env, **kwargs)


def _child(*args: str) -> dict[str, Any]:
    process = _python(*args, stdout=subprocess.PIPE)
    out, _ = process.communicate()
    if process.returncode:
        raise RuntimeError(f"{args[0]} failed with exit code {process.returncode}")
    result: dict[str, Any] = orjson.loads(out.splitlines()[-1])
    return result


def throughput(n: int, concurrency: int, repeat: int) -> dict[str, float]:
    """Median deliveries per second of the dispatcher and of the bare loop, same receiver.

    The bare loop runs at the dispatcher's concurrency and at ``BARE_BEST`` connections, where
    httpx's own pool does best on this kind of machine, so the baseline is no straw man.
    """
    receiver = _python("serve", stdout=subprocess.PIPE)
    assert receiver.stdout is not None
    port = int(receiver.stdout.readline())
    url = f"http://127.0.0.1:{port}/hooks"
    runs: dict[str, list[float]] = {"dispatcher": [], "bare": [], "bare_best": []}
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for round_ in range(repeat):
                db_url = f"sqlite:///{tmp}/bench-{round_}.db"
                prepare(db_url, url, n, concurrency)
                done = _child("dispatch", db_url)
                assert done["delivered"] == n, done
                runs["dispatcher"].append(n / done["seconds"])
                cpu["dispatcher"].append(done["cpu"] / n)
                for name, width in (("bare", concurrency), ("bare_best", BARE_BEST)):
                    base = _child("bare", url, str(n), str(width))
                    assert base["delivered"] == n, base
                    runs[name].append(n / base["seconds"])
                    cpu[name].append(base["cpu"] / n)
        received = receiver_stats(port)["count"]
        assert received == 3 * n * repeat, received
    finally:
        receiver.terminate()
        receiver.communicate()
    medians = {name: statistics.median(rates) for name, rates in runs.items()}
    return medians | {f"{name}_cpu": statistics.median(c) for name, c in cpu.items()}


def latency(samples: int) -> dict[str, float]:
    """Commit-to-arrival with an idle ``deltahook deliver``, one notification at a time."""
    from deltahook.notifications import Notification
    from deltahook.store import outbox
    from deltahook.store.db import open_engine

    receiver = _python("serve", stdout=subprocess.PIPE)
    assert receiver.stdout is not None
    port = int(receiver.stdout.readline())
    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite:///{tmp}/latency.db"
        url = f"http://127.0.0.1:{port}/hooks"
        prepare(db_url, url, 0, CONCURRENCY)
        config = Path(tmp) / "deltahook.yaml"
        subscription = {"name": "bench", "url": url, "event_types": ["*"]}
        settings = {"allow_private_urls": True, "subscriptions": [subscription]}
        config.write_bytes(orjson.dumps(settings))  # JSON is YAML
        command = [sys.executable, "-m", "deltahook", "--config", str(config)]
        command += ["--database-url", db_url, "deliver"]
        dispatcher = subprocess.Popen(command, stderr=subprocess.DEVNULL, cwd=tmp)
        engine = open_engine(db_url)
        committed: dict[str, float] = {}
        rng = random.Random(7)
        try:
            time.sleep(2.0)  # let it start and go idle
            for i in range(samples):
                note = Notification(
                    id=f"10000000-0000-4000-8000-{i:012d}",
                    type=EVENT,
                    family="notification",
                    payload=PAYLOAD,
                    created_at=datetime.now(UTC),
                )
                with engine.begin() as conn:
                    outbox.record(conn, [note], now=note.created_at)
                committed[note.id] = time.time()
                time.sleep(rng.uniform(0.05, 0.25))  # idle between changes
            time.sleep(1.0)
            arrivals = receiver_stats(port)["arrivals"]
        finally:
            dispatcher.terminate()
            dispatcher.wait()
            receiver.terminate()
            receiver.communicate()
            engine.dispose()
    waits = sorted((arrivals[i] - t) * 1000 for i, t in committed.items() if i in arrivals)
    if len(waits) < samples:
        raise RuntimeError(f"only {len(waits)} of {samples} notifications arrived")
    return {"p50_ms": _percentile(waits, 0.50), "p99_ms": _percentile(waits, 0.99)}


def _percentile(values: list[float], share: float) -> float:
    return values[min(len(values) - 1, round(share * (len(values) - 1)))]


def measure(
    n: int = N, concurrency: int = CONCURRENCY, repeat: int = 3, samples: int = LATENCY_SAMPLES
) -> list[dict[str, str]]:
    """The suite's rows (see bench/README.md)."""
    from bench.table import rate, verdict

    rates = throughput(n, concurrency, repeat)
    lat = latency(samples)
    pg = against_procrastinate(min(n, PG_N), concurrency, repeat)
    best = "bare_best" if rates["bare_best"] >= rates["bare"] else "bare"
    ratio = rates["dispatcher"] / rates[best]
    cpu_ratio = rates[f"{best}_cpu"] / rates["dispatcher_cpu"]
    return [
        {
            "measure": f"delivery: one dispatcher, {n:,} deliveries, concurrency {concurrency}, "
            "every attempt logged (SQLite)",
            "figure": f"{rate(rates['dispatcher'])} "
            f"(CPU {rates['dispatcher_cpu'] * 1e3:.3f} ms a delivery)",
            "baseline": f"bare httpx loop, same payloads and receiver: {rate(rates['bare'])} "
            f"at concurrency {concurrency}, {rate(rates['bare_best'])} at {BARE_BEST} "
            f"(CPU {rates[f'{best}_cpu'] * 1e3:.3f} ms a request)",
            "ratio": f"{ratio:.2f}x the better bare loop (CPU: {cpu_ratio:.2f}x less)",
            "aim": f"≥ 1,000/s and ≥ {BARE_AIM:g}x the bare loop",
            "met": verdict(rates["dispatcher"] >= 1000 and ratio >= BARE_AIM),
        },
        {
            "measure": f"delivery latency: commit to receiver, idle dispatcher, {samples} changes",
            "figure": f"p50 {lat['p50_ms']:.1f} ms, p99 {lat['p99_ms']:.1f} ms",
            "aim": "p50 < 50 ms, p99 < 250 ms",
            "met": verdict(lat["p50_ms"] < 50 and lat["p99_ms"] < 250),
        },
        _procrastinate_row(pg, min(n, PG_N), concurrency),
    ]


def _procrastinate_row(pg: dict[str, float] | str, n: int, concurrency: int) -> dict[str, str]:
    from bench.table import rate, verdict

    row = {
        "measure": f"delivery on PostgreSQL: one dispatcher, {n:,} deliveries, concurrency "
        f"{concurrency}, every attempt logged",
        "aim": f"≥ {PROCRASTINATE_AIM:g}x procrastinate's worker",
    }
    if isinstance(pg, str):
        return row | {"figure": f"not measured: {pg}", "met": "-"}
    ratio = pg["dispatcher"] / pg["procrastinate"]
    return row | {
        "figure": rate(pg["dispatcher"]),
        "baseline": f"procrastinate's worker, one async task per job POSTing with httpx, same "
        f"payloads, receiver and concurrency: {rate(pg['procrastinate'])}",
        "ratio": f"{ratio:.2f}x procrastinate",
        "met": verdict(ratio >= PROCRASTINATE_AIM),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command")
    serve_cmd = sub.add_parser("serve")
    serve_cmd.add_argument("--port", type=int, default=0)
    sub.add_parser("dispatch").add_argument("db_url")
    bare_cmd = sub.add_parser("bare")
    for name in ("url", "n", "concurrency"):
        bare_cmd.add_argument(name)
    procrastinate_cmd = sub.add_parser("procrastinate")
    for name in ("dsn", "url", "n", "concurrency"):
        procrastinate_cmd.add_argument(name)
    parser.add_argument("--pg-only", action="store_true", help="only the PostgreSQL row")
    parser.add_argument("--n", type=int, default=N)
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--samples", type=int, default=LATENCY_SAMPLES)
    args = parser.parse_args(argv)
    if args.command == "serve":
        serve(args.port)
    elif args.command == "dispatch":
        print(orjson.dumps(dispatch(args.db_url)).decode())
    elif args.command == "bare":
        print(orjson.dumps(bare(args.url, int(args.n), int(args.concurrency))).decode())
    elif args.command == "procrastinate":
        result = procrastinate_worker(args.dsn, args.url, int(args.n), int(args.concurrency))
        print(orjson.dumps(result).decode())
    else:
        if args.pg_only:
            n = min(args.n, PG_N)
            pg = against_procrastinate(n, args.concurrency, args.repeat)
            rows = [_procrastinate_row(pg, n, args.concurrency)]
        else:
            rows = measure(args.n, args.concurrency, args.repeat, args.samples)
        for row in rows:
            print(
                f"{row['measure']}: {row['figure']}  ({row.get('baseline', '')} "
                f"{row.get('ratio', '')}; aim {row['aim']}: {row['met']})"
            )


if __name__ == "__main__":
    main()
