"""Throughput of ``POST /v1/feeds/{kind}`` against ``deltahook ingest`` of the same file.

    .venv/bin/python -m bench.api                 # 100k SKUs: first load, then 1% changed
    .venv/bin/python -m bench.api --n 10000 --work /tmp/bench-api

Each side gets a fresh SQLite database and loads the ``v1`` SKU feed of ``bench/data.py``,
then its 1%-changed second version. The command line runs as ``python -m deltahook ingest``
(its wall time includes starting Python and loading the catalogs and rules, so its own
``elapsed_s`` is shown too); the API runs as ``deltahook serve`` in its own process, started
before the clock, and the feed is streamed to it from the file by httpx over loopback.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench.data import write_feeds

KEY = "bench-api-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
STEPS = (("first load", 0.0), ("1% changed", 0.01))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=100_000, help="SKUs in the feed")
    parser.add_argument("--work", type=Path, help="keep feeds and databases here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-api-") as scratch:
        work = args.work or Path(scratch)
        feeds = write_feeds(work / "feeds", n=args.n, kinds=("sku",), fractions=(0.01,))
        rows = measure(work, [(step, feeds.path("sku", changed)) for step, changed in STEPS])
        # (the feeds are gone with the scratch folder unless --work keeps them)
    print(f"SKU feed, {args.n:,} entities, SQLite, mode upsert\n")
    print("| step | path | wall s | entities/s | in-process s |")
    print("|---|---|---:|---:|---:|")
    for step, path, wall, inner in rows:
        print(f"| {step} | {path} | {wall:.2f} | {args.n / wall:,.0f} | {inner:.2f} |")


def measure(work: Path, steps: list[tuple[str, Path]]) -> list[tuple[str, str, float, float]]:
    rows = []
    cli_db = _fresh(work / "cli.db")
    for step, feed in steps:
        wall, inner = _cli(work, cli_db, feed)
        rows.append((step, "deltahook ingest", wall, inner))
    api_db = _fresh(work / "api.db")
    with (
        _server(work, api_db) as base,
        httpx.Client(base_url=base, timeout=3600, headers=AUTH) as http,
    ):
        for step, feed in steps:
            wall, inner = _post(http, feed)
            rows.append((step, "POST /v1/feeds/sku", wall, inner))
    return rows


def _fresh(path: Path) -> str:
    for leftover in path.parent.glob(path.name + "*"):
        leftover.unlink()
    return f"sqlite:///{path}"


def _cli(work: Path, url: str, feed: Path) -> tuple[float, float]:
    command = [sys.executable, "-m", "deltahook", "--database-url", url]
    command += ["ingest", "sku", str(feed)]  # the summary line, not --json: no change list
    started = time.perf_counter()
    done = subprocess.run(command, cwd=work, capture_output=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.decode()[-2000:]}")
    found = re.search(r"· ([0-9.]+) s ·", done.stdout.decode())
    if found is None:
        raise RuntimeError(f"no time in the ingest summary: {done.stdout.decode()[-500:]}")
    return wall, float(found.group(1))


def _post(http: httpx.Client, feed: Path) -> tuple[float, float]:
    started = time.perf_counter()
    with feed.open("rb") as body:
        answer = http.post(
            "/v1/feeds/sku", content=_chunks(body), headers={"Content-Type": "application/x-ndjson"}
        )
    wall = time.perf_counter() - started
    answer.raise_for_status()
    return wall, float(answer.json()["elapsed_s"])


def _chunks(body: Any) -> Iterator[bytes]:
    while chunk := body.read(1 << 16):
        yield chunk


@contextmanager
def _server(work: Path, url: str) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = os.environ | {"DELTAHOOK_API_KEYS": KEY}
    command = [sys.executable, "-m", "deltahook", "--database-url", url]
    command += ["serve", "--port", str(port), "--log-level", "warning", "--no-deliver"]
    process = subprocess.Popen(command, cwd=work, env=env, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, process)
        yield base
    finally:
        process.terminate()
        process.wait(30)


def _wait_healthy(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("deltahook serve exited before it answered")
        try:
            if httpx.get(f"{base}/healthz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError("deltahook serve did not answer /healthz within 60 s")


if __name__ == "__main__":
    main()
