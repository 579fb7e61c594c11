"""The delivery commands as an operator meets them, against a real local receiver."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import update
from standardwebhooks.webhooks import Webhook

from deltahook.cli import main
from deltahook.clock import utc_now
from deltahook.delivery.receiver import Receiver
from deltahook.store.tables import deliveries, subscriptions
from tests.api_support import STOCK
from tests.conftest import REPO
from tests.delivery_support import SECRET, World


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as server:
        yield server


class Cli:
    """A project folder: a config file, a database, and a way to run commands in it."""

    def __init__(self, tmp_path: Path, receiver: Receiver) -> None:
        self.url = f"sqlite:///{tmp_path / 'db.sqlite'}"
        self.config = tmp_path / "deltahook.yaml"
        self.receiver = receiver
        self.declare(
            {
                "name": "shop",
                "url": receiver.url,
                "event_types": ["*"],
                "headers": {"X-Api-Key": "key-0123456789"},
                "secrets": [SECRET],
                "retry_schedule": "5s, 1m",
            }
        )
        self.world = World(self.url, now=utc_now())

    def declare(self, *subscriptions: dict[str, Any]) -> None:
        # The receiver listens on loopback, which webhooks may reach only when allowed.
        config = {"allow_private_urls": True, "subscriptions": list(subscriptions)}
        self.config.write_text(yaml.safe_dump(config))

    def __call__(self, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
        result = CliRunner(env=env).invoke(
            main,
            ["--config", str(self.config), "--database-url", self.url, *args],
            catch_exceptions=False,
        )
        return result.exit_code, result.stdout, result.stderr

    def json(self, *args: str) -> Any:
        code, out, err = self(*args, "--json")
        assert code == 0, err
        return orjson.loads(out)


@pytest.fixture
def cli(tmp_path: Path, receiver: Receiver) -> Iterator[Cli]:
    project = Cli(tmp_path, receiver)
    project("subscriptions", "sync")
    yield project
    project.world.close()


def test_subscriptions_list_masks_a_password_in_a_url_and_shows_an_ipv6_host(cli: Cli) -> None:
    """A URL's password is a secret like the others (``****``); an IPv6 host's brackets are
    the URL's, not terminal markup (``http://[fe80::1]/x`` was printed ``http:///x``)."""
    cli.declare(
        {"name": "erp", "url": "http://erp:pa55-w0rd@[fe80::1]:8080/hook", "event_types": ["*"]}
    )
    cli("subscriptions", "sync")
    code, out, _ = cli("subscriptions", "list")
    assert code == 0
    assert "pa55-w0rd" not in out
    assert "[fe80::1]" in out
    urls = {row["name"]: row["url"] for row in cli.json("subscriptions", "list")}
    assert urls["erp"] == "http://erp:****@[fe80::1]:8080/hook"


def test_subscriptions_list_shows_settings_but_never_secrets(cli: Cli) -> None:
    """`subscriptions list` shows each subscription's settings (text and --json) but never a header
    value or secret."""
    code, out, _ = cli("subscriptions", "list")
    assert code == 0
    assert "shop" in out
    assert "key-0123456789" not in out
    assert "whsec_" not in out
    [row] = cli.json("subscriptions", "list")
    assert row | {"url": None} == {
        "name": "shop",
        "enabled": True,
        "url": None,
        "event_types": ["*"],
        "header_style": "norce",
        "signed": True,
        "timeout_s": 5.0,
        "retries": 2,
        "max_concurrency": 10,
        "source": "config",
        "rate_limit": None,
        "failures": 0,
        "last_success_at": None,
        "last_status_code": None,
        "circuit_open_until": None,
        "disabled_reason": None,
    }


def test_disable_holds_until_enabled_again(cli: Cli) -> None:
    """Off from the CLI survives later commands (each syncs the config); on again works."""
    assert cli("subscriptions", "disable", "shop")[1].strip() == "shop is now off"
    assert cli("subscriptions", "disable", "shop")[1].strip() == "shop was already off"
    cli.world.notify()
    assert not cli.json("subscriptions", "list")[0]["enabled"]
    assert cli.world.deliveries() == []  # nothing is queued while off
    assert cli("subscriptions", "enable", "shop")[1].strip() == "shop is now on"


def test_a_410_gone_switches_the_subscription_off_until_an_operator_switches_it_on(
    cli: Cli,
) -> None:
    """The endpoint answers 410 Gone: the delivery is dead at once, the subscription off, and
    `subscriptions list` says why; `enable` switches it on and points at `recover`, which sends
    it again."""
    [note] = cli.world.notify()
    cli.receiver.fail(1, status=410)
    code, _, err = cli("deliver", "--once")
    assert (code, "1 attempts: 0 delivered, 0 to retry, 1 dead" in err) == (0, True)
    code, out, _ = cli("subscriptions", "list")
    assert "shop switched off: the endpoint answered 410 Gone at" in out
    [row] = cli.json("subscriptions", "list")
    assert (row["enabled"], row["last_status_code"]) == (False, 410)
    [entry] = cli.json("log", "--status", "dead")
    assert entry["message_id"] == note.id
    code, out, _ = cli("subscriptions", "enable", "shop")
    assert out.splitlines()[0] == "shop is now on"
    assert "`deltahook recover shop --since ...`" in out
    assert cli("recover", "shop", "--since", "1h")[1].strip() == "1 deliveries of shop queued again"
    cli("deliver", "--once")
    assert [r.message_id for r in cli.receiver.requests] == [note.id, note.id]
    assert cli.json("subscriptions", "list")[0]["disabled_reason"] is None


def test_subscriptions_test_sends_a_signed_test_event(cli: Cli) -> None:
    """`subscriptions test` sends one signed TestEvent, prints its answer and stores nothing."""
    code, out, _ = cli("subscriptions", "test", "shop")
    assert code == 0
    assert out.startswith("shop: 200 in ")
    [request] = cli.receiver.requests
    assert request.headers["norce-event-type"] == "TestEvent"
    payload = Webhook(SECRET).verify(request.body, request.headers)
    assert payload["Message"] == "Test from deltahook: subscription 'shop'"
    assert cli.world.deliveries() == []  # a test stores nothing


def test_a_failing_test_send_exits_non_zero(cli: Cli) -> None:
    """A test send the receiver refuses exits 1, and --json reports its status code."""
    cli.receiver.fail(1, status=503)
    code, out, _ = cli("subscriptions", "test", "shop", "--json")
    assert code == 1
    assert orjson.loads(out)["status_code"] == 503


def test_deliver_once_logs_only_its_summary_unless_verbose(cli: Cli) -> None:
    """--once --log-format json: one JSON summary line; with -v the failed attempt first."""
    cli.world.notify()
    cli.receiver.fail(2, status=500)
    code, _, err = cli("deliver", "--once", "--log-format", "json")
    assert code == 0, err
    [summary] = [orjson.loads(line) for line in err.splitlines()]
    assert (summary["event"], summary["attempts"], summary["retrying"]) == ("summary", 1, 1)
    [note] = cli.world.notify()
    code, _, err = cli("deliver", "--once", "--log-format", "json", "-v")
    lines = [orjson.loads(line) for line in err.splitlines()]
    assert [line["event"] for line in lines] == ["retry scheduled", "summary"]
    assert lines[0]["message_id"] == note.id


def test_deliver_once_then_the_log(cli: Cli) -> None:
    """deliver --once sends what is due; log shows it delivered, with payload and attempts."""
    [note] = cli.world.notify()
    cli.receiver.fail(1, status=500)
    code, _, err = cli("deliver", "--once")
    assert code == 0
    assert "1 attempts: 0 delivered, 1 to retry, 0 dead" in err
    [entry] = cli.json("log", "--status", "failed", "--attempts", "--payload")
    assert (entry["status"], entry["message_id"]) == ("retrying", note.id)
    assert entry["payload"] == dict(note.payload)
    assert [a["status_code"] for a in entry["attempt_log"]] == [500]
    code, out, _ = cli("log", "--attempts")
    assert "retrying" in out
    assert "#1" in out
    assert "500" in out

    code, out, _ = cli("resend", entry["id"])
    assert (code, out.strip()) == (0, f"{entry['id']}: queued")
    assert cli("deliver", "--once")[0] == 0
    assert cli.json("log", "--status", "delivered")[0]["attempts"] == 2
    assert [r.message_id for r in cli.receiver.requests] == [note.id, note.id]


def test_recover_status_and_purge(cli: Cli) -> None:
    """`recover` queues the failed deliveries again, `status` counts them as they move, `purge`
    keeps what is recent."""
    cli.world.notify(3)
    cli.receiver.fail(3)
    cli("deliver", "--once")
    [row] = cli.json("status")
    assert (row["subscription"], row["retrying"], row["pending"]) == ("shop", 3, 0)
    code, out, _ = cli("recover", "shop", "--since", "1h")
    assert (code, out.strip()) == (0, "3 deliveries of shop queued again")
    assert cli.json("status")[0]["pending"] == 3
    cli("deliver", "--once")
    assert cli.json("status")[0]["delivered_last_hour"] == 3
    code, out, _ = cli("purge", "--older-than", "1d")
    assert out.strip() == "0 deliveries, 0 attempts, 0 notifications, 0 changes, 0 jobs removed"
    code, out, _ = cli("status")
    assert code == 0
    assert "shop" in out


def test_status_says_a_circuit_is_open_and_a_subscription_was_switched_off(cli: Cli) -> None:
    """Deliveries due and nothing sent: `status` says why (the circuit open after failures in a
    row, until when, what the endpoint last answered; or switched off by the dispatcher)."""
    cli.declare(
        {
            "name": "shop",
            "url": cli.receiver.url,
            "event_types": ["*"],
            "circuit_after": 2,
            "circuit_cooldown": "10m",
        }
    )
    cli("subscriptions", "sync")
    cli.world.notify(3)
    cli.receiver.fail(3, status=503)
    cli("deliver", "--once")
    [row] = cli.json("status")
    assert row["circuit_open_until"] is not None
    assert (row["failures"] >= 2, row["last_status_code"]) == (True, 503)
    code, out, _ = cli("status")
    assert code == 0
    assert "circuit open" in out
    assert f"nothing is sent until {row['circuit_open_until']}, then one probe" in out
    assert "(the last answered 503)" in out
    with cli.world.db.begin() as conn:
        conn.execute(
            update(subscriptions).values(enabled=False, disabled_reason="failing for 5 days")
        )
    [row] = cli.json("status")
    assert (row["circuit_open_until"], row["disabled_reason"]) == (None, "failing for 5 days")
    assert "shop switched off by the dispatcher: failing for 5 days" in cli("status")[1]


def test_deliver_says_at_start_whose_circuit_is_open(cli: Cli) -> None:
    """A dispatcher started while a subscription's circuit is open says so, and until when,
    right after naming the subscriptions it delivers for (else it sends nothing, silently)."""
    until = utc_now() + timedelta(minutes=10)
    with cli.world.db.begin() as conn:
        conn.execute(update(subscriptions).values(circuit_until=until))
    command = [sys.executable, "-m", "deltahook", "--config", str(cli.config)]
    command += ["--database-url", cli.url, "deliver"]
    with subprocess.Popen(command, stderr=subprocess.PIPE, text=True) as process:
        try:
            lines = [process.stderr.readline() for _ in range(2)] if process.stderr else []
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
    assert lines[0].startswith("delivering as ")
    assert "(shop)" in lines[0]
    assert (
        lines[1] == f"shop: circuit open until {until.isoformat()}, then one probe (see `status`)\n"
    )


def test_the_ingest_summary_counts_the_deliveries_it_queued(cli: Cli, tmp_path: Path) -> None:
    """Beside its notifications, an ingest says how many deliveries of them it queued (one a
    notification and subscription that wants it), as the delivery story's counts read; the
    job's own completion event, which shop wants too, is counted apart as its notification."""
    feed = tmp_path / "stock.ndjson"
    feed.write_bytes(orjson.dumps(STOCK) + b"\n")
    code, out, _ = cli("ingest", "sku_onhand", str(feed))
    assert code == 0
    assert "· notifications 1 · deliveries 1 ·" in out
    queued = sorted(d["event_type"] for d in cli.json("log"))
    assert queued == ["JobCompletedEvent", "SkuChangedNotification"]


def test_deliver_with_a_json_log_writes_only_json_lines(cli: Cli) -> None:
    """`deliver --log-format json`: its start, its stop and its summary are each one JSON
    object; the first two were plain text, which a log shipper reading JSON lines could not
    parse."""
    cli.world.notify()
    command = [sys.executable, "-m", "deltahook", "--config", str(cli.config)]
    command += ["--database-url", cli.url, "deliver", "--log-format", "json"]
    with subprocess.Popen(command, stderr=subprocess.PIPE, text=True) as process:
        assert process.stderr is not None
        first = process.stderr.readline()
        cli.receiver.wait_for(1, timeout=30)  # running: its signal handlers are in place
        process.send_signal(signal.SIGTERM)
        _, rest = process.communicate(timeout=60)
    lines = [orjson.loads(line) for line in [first, *rest.splitlines()]]
    assert [line["event"] for line in lines] == ["started", "stopping", "summary"]
    assert (lines[0]["subscriptions"], lines[2]["delivered"]) == (["shop"], 1)


@pytest.mark.parametrize("nohup", [False, True])
def test_deliver_stops_gracefully_on_a_hangup_unless_run_under_nohup(cli: Cli, nohup: bool) -> None:
    """A hang-up (its terminal closed) stops `deliver` as SIGTERM does, with its summary and
    exit 0 (it died at once, without one); under nohup (SIGHUP ignored) it keeps running."""
    cli.world.notify()
    command = ["nohup"] if nohup else []
    command += [sys.executable, "-m", "deltahook", "--config", str(cli.config)]
    command += ["--database-url", cli.url, "deliver", "--log-format", "json"]
    # No terminal on its standard input: else nohup says on stderr that it ignores it.
    with subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    ) as process:
        assert process.stderr is not None
        first = process.stderr.readline()
        cli.receiver.wait_for(1, timeout=30)  # running: its signal handlers are in place
        process.send_signal(signal.SIGHUP)
        if nohup:
            cli.world.notify()  # still delivering after the hang-up
            cli.receiver.wait_for(2, timeout=30)
            process.send_signal(signal.SIGTERM)
        _, rest = process.communicate(timeout=60)
    assert process.returncode == 0
    lines = [orjson.loads(line) for line in [first, *rest.splitlines()]]
    assert [line["event"] for line in lines] == ["started", "stopping", "summary"]
    assert lines[2]["delivered"] == 1 + nohup


def test_serve_writes_its_dispatchers_log_as_deliver_does(cli: Cli) -> None:
    """`serve` delivers in its own process and writes that dispatcher's log lines as `deliver`
    does (here the summary when it stops); before, only warnings reached stderr, bare
    ('circuit opened', no subscription), and no retry or summary line at all."""
    command = [sys.executable, "-m", "deltahook", "--config", str(cli.config)]
    command += ["--database-url", cli.url, "serve", "--port", "0"]
    environment = {**os.environ, "DELTAHOOK_API_KEYS": "k" * 32}
    with subprocess.Popen(command, env=environment, stderr=subprocess.PIPE, text=True) as process:
        assert process.stderr is not None
        for line in process.stderr:
            if "Application startup complete" in line:
                break
        process.send_signal(signal.SIGINT)
        _, rest = process.communicate(timeout=60)
    assert " info 0 attempts: 0 delivered, 0 to retry, 0 dead attempts=0 " in rest, rest


def test_purge_removes_what_is_older(cli: Cli) -> None:
    """`purge` with the default age removes a delivery finished eight days ago, with its attempt and
    notification."""
    cli.world.now = utc_now() - timedelta(days=8)
    cli.world.notify()
    cli.world.run()
    _, out, _ = cli("purge")
    assert out.strip() == "1 deliveries, 1 attempts, 1 notifications, 0 changes, 0 jobs removed"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("subscriptions", "enable", "nope"), "no subscription named 'nope'"),
        (("recover", "nope", "--since", "1h"), "no subscription named 'nope'"),
        (("recover", "shop", "--since", "last week"), "is not a time"),
        (("purge", "--older-than", "soon"), "is not a duration"),
        (("purge", "--older-than", "99999999999d"), "is not a duration"),  # no timedelta
        (("purge", "--older-than", "5m, 1h"), "is not a duration"),  # one age, not a schedule
        (("log", "--since", "2h, 1d"), "is not a time"),
        (("log", "--since", "9999-12-31T23:59:59-14:00"), "out of range"),  # past 9999 in UTC
        (("recover", "shop", "--since", "0001-01-01T00:00:00+14:00"), "out of range"),
        (("log", "--since", "99999999999d"), "is not a time"),  # not that many days ago
        (("subscriptions", "test", "nope"), "no subscription named 'nope'"),
    ],
)
def test_mistakes_are_one_line_and_exit_1(cli: Cli, args: tuple[str, ...], message: str) -> None:
    """A delivery command used wrongly exits 1 with one line saying why, never a traceback."""
    code, _, err = cli(*args)
    assert code == 1
    assert message in err
    assert "Traceback" not in err


def test_a_missing_variable_pauses_only_its_subscription(cli: Cli) -> None:
    """deliver starts, says why `shop` waits, delivers `erp`; status says it too."""
    cli.declare(
        {
            "name": "shop",
            "url": cli.receiver.url + "shop",
            "event_types": ["*"],
            "headers": {"Authorization": "Bearer ${SHOP_TOKEN}"},
        },
        {"name": "erp", "url": cli.receiver.url + "erp", "event_types": ["*"]},
    )
    cli("subscriptions", "sync")
    cli.world.notify()
    env = {"SHOP_TOKEN": None}
    code, _, err = cli("deliver", "--once", env=env)  # type: ignore[arg-type]
    assert code == 0, err
    assert "'shop'" in err
    assert "SHOP_TOKEN" in err
    assert [r.path for r in cli.receiver.requests] == ["/erp"]
    rows = {row["subscription"]: row for row in cli.json("status")}
    assert (rows["shop"]["pending"], rows["erp"]["delivered_last_hour"]) == (1, 1)
    assert "SHOP_TOKEN" in rows["shop"]["paused"]
    assert rows["erp"]["paused"] is None
    code, out, _ = cli("status")
    assert "paused" in out
    assert "SHOP_TOKEN" in out

    code, _, err = cli("deliver", "--once", env={"SHOP_TOKEN": "t-1"})
    assert code == 0, err
    assert [r.path for r in cli.receiver.requests] == ["/erp", "/shop"]
    assert {row["subscription"]: row["paused"] for row in cli.json("status")}["shop"] is None


def test_a_header_with_a_line_break_is_refused_at_load(cli: Cli) -> None:
    """A custom header value holding a line break stops every command when the config loads."""
    cli.declare(
        {
            "name": "shop",
            "url": cli.receiver.url,
            "event_types": ["*"],
            "headers": {"X-Token": "a\r\nX-Evil: 1"},
        }
    )
    code, _, err = cli("subscriptions", "list")
    assert code == 1
    assert "line break" in err


def test_the_plain_log_shows_every_status(cli: Cli) -> None:
    """`log` prints one line per delivery whatever its status, pending and in flight included."""
    now = utc_now()
    notes = cli.world.notify(5)
    states = {
        notes[0].id: {},
        notes[1].id: {"status": "retrying", "attempts": 1, "last_status_code": 500},
        notes[2].id: {"status": "delivered", "attempts": 1, "last_status_code": 200},
        notes[3].id: {"status": "dead", "attempts": 2, "last_error": "[bold]gone[/]"},
        notes[4].id: {"leased_by": "w", "lease_until": now + timedelta(minutes=5)},
    }
    with cli.world.db.begin() as conn:
        for notification_id, values in states.items():
            if values:
                conn.execute(
                    update(deliveries)
                    .where(deliveries.c.notification_id == notification_id)
                    .values(**values)
                )
    code, out, err = cli("log")
    assert code == 0, err
    lines = {line.split()[1]: line for line in out.splitlines()}
    by_note = {d.notification_id: d.id for d in cli.world.deliveries()}
    expected = ["pending", "retrying", "delivered", "dead", "in flight"]
    for note, word in zip(notes, expected, strict=True):
        assert f"  {word}  " in lines[by_note[note.id]]
    assert "last [bold]gone[/]" in lines[by_note[notes[3].id]]


def test_the_readmes_delivery_story_sends_the_burst_and_leaves_the_rest_due(cli: Cli) -> None:
    """The README's story: a baseline first load queues nothing; fixtures v2 make 28
    notifications, 25 for the webshop; with rate_limit 10 and rate_burst 20, `deliver --once`
    sends the burst (and no more than the bucket refilled meanwhile) and leaves the rest due."""
    webshop = ["SkuChangedNotification", "SkuPriceChangedNotification"]
    pace = {"rate_limit": 10, "rate_burst": 20}
    cli.declare({"name": "webshop", "url": cli.receiver.url, "event_types": webshop, **pace})
    assert cli("ingest", "--baseline", "sku", str(REPO / "fixtures/v1/sku.ndjson"))[0] == 0
    code, out, err = cli("ingest", "sku", str(REPO / "fixtures/v2/sku.ndjson"))
    assert code == 0
    assert "notifications 28" in out + err
    assert _status(cli, "webshop")["pending"] == 25
    cli("deliver", "--once")
    row = _status(cli, "webshop")
    assert 20 <= row["delivered_last_hour"] < 25
    assert row["pending"] == 25 - row["delivered_last_hour"]
    assert len(cli.receiver.requests) == row["delivered_last_hour"]


def _status(cli: Cli, name: str) -> dict[str, Any]:
    (row,) = [row for row in cli.json("status") if row["subscription"] == name]
    return row
