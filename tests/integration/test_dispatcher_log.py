"""The dispatcher's log: one structured line per attempt that is not a plain success, circuit
changes, and a summary; JSON or text."""

from __future__ import annotations

import logging

import orjson
import pytest

from deltahook.delivery import journal
from deltahook.delivery.receiver import Receiver
from tests.delivery_support import World


def _listen(caplog: pytest.LogCaptureFixture) -> None:
    """Capture every journal line (a CLI test may have quietened the outcomes)."""
    for logger in (journal.outcomes, journal.summaries):
        caplog.set_level(logging.INFO, logger=logger.name)


def _lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    formatter = journal.JsonFormatter()
    return [
        orjson.loads(formatter.format(r)) for r in caplog.records if r.name.startswith(journal.NAME)
    ]


def test_each_failed_attempt_is_one_line_and_successes_only_count_in_the_summary(
    world: World, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    """A retry scheduled and a dead delivery are one line each, with their ids; successes are
    not logged; each run ends with one summary line."""
    _listen(caplog)
    world.subscribe("shop", receiver.url, retry_schedule="1s")
    [note] = world.notify(1)
    receiver.fail(2, status=503)
    world.run()
    assert [line["event"] for line in _lines(caplog)] == ["retry scheduled", "summary"]
    world.advance(1)
    caplog.clear()
    world.run()
    lines = _lines(caplog)
    assert [line["event"] for line in lines] == ["dead", "summary"]
    dead = lines[0]
    assert (dead["subscription"], dead["attempt"], dead["status_code"]) == ("shop", 2, 503)
    assert dead["message_id"] == note.id
    assert lines[1] | {"elapsed_s": 0} == {
        "event": "summary",
        "level": "info",
        "attempts": 1,
        "delivered": 0,
        "retrying": 0,
        "dead": 1,
        "elapsed_s": 0,
        "time": lines[1]["time"],
        "message": "1 attempts: 0 delivered, 0 to retry, 1 dead",
    }
    caplog.clear()
    world.notify(2)
    world.run()
    [summary] = _lines(caplog)
    assert (summary["event"], summary["delivered"]) == ("summary", 2)


def test_a_retry_says_when_and_a_refused_address_says_so(
    world: World, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    """A failed attempt with a retry left logs 'retry scheduled' with its time; one the
    private-address guard refused logs 'refused address'."""
    _listen(caplog)
    world.subscribe("shop", receiver.url)
    world.subscribe("inside", receiver.url.replace("127.0.0.1", "localhost"), event_types=["X"])
    world.notify(1)
    receiver.fail(1, status=500)
    world.run()
    [retry] = [line for line in _lines(caplog) if line["event"] != "summary"]
    assert retry["event"] == "retry scheduled"
    assert retry["next_attempt_at"] == "2026-11-24T10:00:05+00:00"
    caplog.clear()
    world.notify(1, type="X")
    world.advance(5)
    world.run(allow_private=False)
    events = {line["event"] for line in _lines(caplog)}
    assert "refused address" in events


def test_text_lines_are_one_line_with_key_values() -> None:
    """The text form: time, level, message, then key=value pairs, on one line."""
    record = logging.LogRecord(journal.NAME, logging.INFO, __file__, 1, "dead", None, None)
    record.fields = {"event": "dead", "subscription": "shop", "error": "a b\nc"}
    line = journal.TextFormatter().format(record)
    assert "\n" not in line
    assert line.endswith("info dead subscription=shop error='a b\\nc'")


def test_a_text_line_whose_message_spans_lines_stays_one_line() -> None:
    """A message with line breaks (a driver's error: psycopg's "server closed the connection
    unexpectedly" is three lines) is written on one line, its breaks escaped as in values;
    a log shipper took each continuation for a line of its own."""
    message = "listening failed (closed\n\tThis probably means ...\r\n); polling meanwhile"
    record = logging.LogRecord(journal.NAME, logging.WARNING, __file__, 1, message, None, None)
    line = journal.TextFormatter().format(record)
    assert line.endswith(
        "warning listening failed (closed\\n\tThis probably means ...\\r\\n); polling meanwhile"
    )
