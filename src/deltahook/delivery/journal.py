"""The dispatcher's log: one structured line per attempt that is not a plain success (retry
scheduled, dead, refused address, internal error), one per circuit change, and a summary line
now and then and when a run ends. Successes are only counted, in the summary.

Each record carries its fields in ``record.fields``; ``JsonFormatter`` writes one JSON object a
line, ``TextFormatter`` ``time level message key=value ...``. The loggers are
``deltahook.delivery.journal.outcomes`` and ``...summary``, so a command can keep the summary
and silence the rest (``deliver --once`` does); ``...process`` says what the process itself
does (started, stopping) where the log is JSON.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from deltahook.delivery.claims import Claimed
from deltahook.delivery.health import Change, Health
from deltahook.delivery.retry import AttemptResult
from deltahook.delivery.status import DeliveryStatus

NAME = "deltahook.delivery.journal"
outcomes = logging.getLogger(f"{NAME}.outcomes")
summaries = logging.getLogger(f"{NAME}.summary")
process = logging.getLogger(f"{NAME}.process")
REFUSED = "a private, loopback or link-local address"
"""What the private-address guard's refusal says (``guard.py``)."""
INTERNAL = "internal error: "
"""How an attempt's error begins when an error of our own ended it, not the endpoint."""


def attempt(
    *,
    subscription: str,
    item: Claimed,
    result: AttemptResult,
    status: DeliveryStatus,
    next_attempt_at: datetime | None,
    trace: str | None = None,
) -> None:
    """Log one attempt that did not simply succeed; successes log nothing. An error of our own
    (``trace``: its traceback, credentials blanked) is an error line whatever comes next."""
    if status is DeliveryStatus.DELIVERED:
        return
    if trace is not None:
        event = "internal error"
    elif result.error is not None and REFUSED in result.error:
        event = "refused address"
    else:
        event = "retry scheduled" if status is DeliveryStatus.RETRYING else status.value
    fields = {
        "subscription": subscription,
        "delivery_id": item.id,
        "message_id": item.notification_id,
        "event_type": item.event_type,
        "attempt": item.attempt,
        "status_code": result.status_code,
        "error": result.error,
        "next_attempt_at": next_attempt_at.isoformat() if next_attempt_at else None,
    }
    if trace is not None:
        _log(outcomes, logging.ERROR, event, fields | {"traceback": trace})
        return
    level = logging.WARNING if status is DeliveryStatus.DEAD else logging.INFO
    _log(outcomes, level, event, fields)


CHANGES = {
    Change.OPENED: "circuit opened",
    Change.CLOSED: "circuit closed",
    Change.DISABLED: "subscription disabled",
}


def circuit(subscription: str, change: Change, health: Health, reason: str | None) -> None:
    """Log a circuit opening or closing, or a subscription switched off."""
    until = health.circuit_until
    fields = {
        "subscription": subscription,
        "failures": health.failures,
        "last_status_code": health.last_status_code,
        "probe_at": until.isoformat() if until and change is Change.OPENED else None,
        "reason": reason,
    }
    _log(outcomes, logging.WARNING, CHANGES[change], fields)


def summary(counts: Mapping[str, int], *, elapsed_s: float) -> None:
    """Log what a dispatcher did since its last summary."""
    delivered, retrying, dead = (
        counts[s] for s in (DeliveryStatus.DELIVERED, DeliveryStatus.RETRYING, DeliveryStatus.DEAD)
    )
    message = (
        f"{counts['attempts']:,} attempts: {delivered:,} delivered, "
        f"{retrying:,} to retry, {dead:,} dead"
    )
    fields = {**counts, "elapsed_s": round(elapsed_s, 3), "message": message}
    _log(summaries, logging.INFO, "summary", fields, message=message)


def store_unavailable(reason: str, *, first_s: float, most_s: float) -> None:
    """Log the start of a database outage: what the driver said, and how it is tried again."""
    message = (
        f"the database cannot be used ({reason}); claiming nothing and holding results until "
        f"it answers, tried again after {first_s:g} s, then doubling up to {most_s:g} s"
    )
    fields = {"reason": reason, "retry_first_s": first_s, "retry_max_s": most_s}
    _log(
        process,
        logging.WARNING,
        "store unavailable",
        {**fields, "message": message},
        message=message,
    )


def store_available(*, since: datetime, down_s: float) -> None:
    """Log the end of a database outage that began at ``since``."""
    message = f"the database answers again after {down_s:.0f} s"
    fields = {"since": since.isoformat(), "down_s": round(down_s, 3), "message": message}
    _log(process, logging.INFO, "store available", fields, message=message)


def process_line(event: str, message: str, fields: Mapping[str, Any]) -> None:
    """Log what the dispatcher process itself does: started, a circuit found open, stopping."""
    _log(process, logging.INFO, event, {**fields, "message": message}, message=message)


class SummaryLines:
    """A run's summary lines: one every ``every`` seconds while it goes, and one at its end."""

    def __init__(self, counts: Callable[[], dict[str, int]], *, every: float) -> None:
        self._counts = counts
        self._every = every
        self._last: tuple[float, dict[str, int]] | None = None

    def tick(self, now: float, *, final: bool = False) -> None:
        """Log a summary if one is due at ``now`` (a monotonic time), or ``final``."""
        if self._last is None:
            self._last = (now, self._counts())
            if not final:
                return
        at, before = self._last
        if not final and now - at < self._every:
            return
        counts = self._counts()
        self._last = (now, counts)
        summary({k: v - before[k] for k, v in counts.items()}, elapsed_s=now - at)


def _log(
    logger: logging.Logger,
    level: int,
    event: str,
    fields: Mapping[str, Any],
    *,
    message: str | None = None,
) -> None:
    if logger.isEnabledFor(level):
        logger.log(level, message or event, extra={"fields": {"event": event, **fields}})


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    found = getattr(record, "fields", None)
    return dict(found) if isinstance(found, Mapping) else {"message": record.getMessage()}


def _time(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, event and the record's fields."""

    def format(self, record: logging.LogRecord) -> str:
        line = {"time": _time(record), "level": record.levelname.lower(), **_fields(record)}
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


class TextFormatter(logging.Formatter):
    """``time level message key=value ...`` on one line (values with spaces quoted)."""

    def format(self, record: logging.LogRecord) -> str:
        fields = _fields(record)
        fields.pop("event", None)
        fields.pop("message", None)
        pairs = " ".join(
            f"{key}={_value(value)}" for key, value in fields.items() if value is not None
        )
        message = _one_line(record.getMessage())  # a driver's error can span lines
        line = f"{_time(record)} {record.levelname.lower()} {message}"
        line = f"{line} {pairs}" if pairs else line
        if record.exc_info:
            line += " " + repr(self.formatException(record.exc_info))
        return line


def _one_line(text: str) -> str:
    return text.replace("\r", "\\r").replace("\n", "\\n")


def _value(value: Any) -> str:
    text = str(value)
    return repr(text) if any(c.isspace() for c in text) or not text else text
