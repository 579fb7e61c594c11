"""`deltahook deliver` while its database goes away and comes back: one line each way, the
deliveries of before, during and after each sent once, and an orderly stop."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url

from deltahook.cli import main
from deltahook.clock import utc_now
from deltahook.delivery.receiver import Receiver
from tests.conftest import REPO
from tests.delivery_support import World
from tests.tcp_proxy import Proxy

# `deltahook deliver`, whose every statement fails as an unreadable SQLite file does while the
# file named first exists.
FAULTY = """
import os, sqlite3, sys
from sqlalchemy import Engine, event

flag = sys.argv[1]


@event.listens_for(Engine, "before_cursor_execute")
def fault(*args):
    if os.path.exists(flag):
        raise sqlite3.OperationalError("disk I/O error")


from deltahook.cli import run

sys.argv = ["deltahook", *sys.argv[2:]]
run()
"""


def _config(tmp_path: Path, receiver: Receiver) -> Path:
    config = tmp_path / "deltahook.yaml"
    shop = {"name": "shop", "url": receiver.url, "event_types": ["*"]}
    config.write_text(yaml.safe_dump({"allow_private_urls": True, "subscriptions": [shop]}))
    return config


def _read_until(stream: IO[str], words: str, seen: list[str]) -> None:
    """Read lines into ``seen`` up to the first holding ``words`` (among the next 50)."""
    for _, line in zip(range(50), stream, strict=False):
        seen.append(line)
        if words in line:
            return
    raise AssertionError(f"no line said {words!r}: {''.join(seen)}")


def _outlive(
    command: list[str],
    world: World,
    receiver: Receiver,
    *,
    away: Callable[[], None],
    back: Callable[[], None],
) -> list[str]:
    """Run ``command`` (`deliver`): one delivery before the store goes ``away``, one queued
    while it is, both sent once it is ``back``; then SIGTERM. Its standard error's lines."""
    seen: list[str] = []
    with subprocess.Popen(command, cwd=REPO, stderr=subprocess.PIPE, text=True) as process:
        assert process.stderr is not None
        try:
            world.notify()
            receiver.wait_for(1, timeout=30)
            away()
            _read_until(process.stderr, "the database cannot be used", seen)
            world.notify()  # queued by a writer the outage does not reach
            back()
            _read_until(process.stderr, "the database answers again", seen)
            receiver.wait_for(2, timeout=30)
        finally:
            process.send_signal(signal.SIGTERM)
            _, rest = process.communicate(timeout=60)
        seen += rest.splitlines(keepends=True)
    assert process.returncode == 0, "".join(seen)
    return seen


def _check(seen: list[str], world: World, receiver: Receiver, *reasons: str) -> None:
    """One line when the store went away, naming one of ``reasons``, one when it came back;
    each delivery sent once and recorded delivered after one attempt."""
    text = "".join(seen)
    assert "Traceback" not in text
    down = [line for line in seen if "the database cannot be used" in line]
    assert len(down) == 1, text
    assert any(reason in down[0] for reason in reasons), down[0]
    assert len([line for line in seen if "the database answers again" in line]) == 1, text
    assert " info 2 attempts: 2 delivered, 0 to retry, 0 dead " in text, text
    ids = [r.message_id for r in receiver.requests]
    assert len(ids) == len(set(ids)) == 2
    assert [(d.status, d.attempts) for d in world.deliveries()] == [("delivered", 1)] * 2


@pytest.fixture
def sqlite_world(tmp_path: Path) -> Iterator[World]:
    w = World(f"sqlite:///{tmp_path / 'db.sqlite'}", now=utc_now())
    yield w
    w.close()


def test_deliver_outlives_an_unreadable_sqlite_file(
    tmp_path: Path, sqlite_world: World, receiver: Receiver
) -> None:
    """SQLite fails every statement for a while (disk I/O error): one line when it begins, one
    when it ends, each delivery sent once, exit 0 on SIGTERM (before, a traceback at every
    poll, 20 a second)."""
    sqlite_world.subscribe("shop", receiver.url)
    flag = tmp_path / "unreadable"
    command = [
        sys.executable,
        "-c",
        FAULTY,
        str(flag),
        "--config",
        str(_config(tmp_path, receiver)),
    ]
    command += ["--database-url", str(sqlite_world.db.url), "deliver"]
    seen = _outlive(command, sqlite_world, receiver, away=flag.touch, back=flag.unlink)
    _check(seen, sqlite_world, receiver, "disk I/O error")


@pytest.mark.postgres
def test_deliver_outlives_postgresql_going_away(
    tmp_path: Path, pg_url: str, receiver: Receiver
) -> None:
    """PostgreSQL out of reach for a while (every connection dropped, new ones refused): one
    line when it begins and one when it ends, one warning from the listener, each delivery
    sent once, exit 0 on SIGTERM."""
    world = World(pg_url, now=utc_now())
    try:
        world.subscribe("shop", receiver.url)
        url = make_url(pg_url)
        with Proxy((url.host or "127.0.0.1", url.port or 5432)) as proxy:
            proxied = url.set(port=proxy.port).render_as_string(hide_password=False)
            command = [sys.executable, "-m", "deltahook"]
            command += ["--config", str(_config(tmp_path, receiver))]
            command += ["--database-url", proxied, "deliver"]
            seen = _outlive(command, world, receiver, away=proxy.cut, back=proxy.restore)
        _check(seen, world, receiver, "server closed the connection", "Connection refused")
        listening = [line for line in seen if "listening for new deliveries" in line]
        assert len(listening) == 2, "".join(seen)  # failed, then again
    finally:
        world.close()


def test_deliver_once_does_not_wait_out_an_outage_and_exits_1(
    tmp_path: Path, sqlite_world: World, receiver: Receiver
) -> None:
    """`deliver --once` whose store stops answering once opened (here every statement on the
    deliveries stays locked) ends with the outage's line and its summary, and exits 1, so a
    cron job sees that what was due was not sent."""
    sqlite_world.subscribe("shop", receiver.url)
    sqlite_world.notify()

    def locked(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "deliveries" in statement:
            raise sqlite3.OperationalError("database is locked")

    config = _config(tmp_path, receiver)
    args = ["--config", str(config), "--database-url", str(sqlite_world.db.url)]
    event.listen(Engine, "before_cursor_execute", locked)
    try:
        done = CliRunner().invoke(main, [*args, "deliver", "--once"], catch_exceptions=False)
    finally:
        event.remove(Engine, "before_cursor_execute", locked)
    assert done.exit_code == 1
    down, summary, *_ = done.stderr.splitlines()  # then maybe that it answers (leaving)
    assert " warning the database cannot be used (database is locked); " in down
    assert " info 0 attempts: 0 delivered, 0 to retry, 0 dead " in summary
    assert receiver.requests == []
