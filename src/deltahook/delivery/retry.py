"""When to try a failed delivery again, and when to give up.

Pure: the sender reports what happened (``AttemptResult``), the dispatcher passes the clock
reading and a jitter draw in, and ``next_attempt_at`` answers with a time or ``None``. Nothing
here sleeps, reads the clock or draws random numbers, so every case is a plain test.

The default schedule is Norce Commerce Event's, which receivers built for it expect: 16
retries after the first attempt, 5 s growing to 6 h, about 22 hours in all. Its delays are
minimums: jitter and ``Retry-After`` only ever make a wait longer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

DEFAULT_SCHEDULE: tuple[timedelta, ...] = (
    *(timedelta(seconds=s) for s in (5, 10, 15, 30)),
    *(timedelta(minutes=m) for m in (1, 2, 5, 10, 15, 30)),
    *(timedelta(hours=h) for h in (1, 2, 3, 4, 5, 6)),
)
"""Delays after each failed attempt: the n-th retry waits ``DEFAULT_SCHEDULE[n - 1]``."""

RETRY_AFTER_CAP = timedelta(hours=24)
"""The longest wait a receiver's ``Retry-After`` can ask for; beyond it we assume a mistake."""

RETRY_AFTER_STATUSES = frozenset({429, 503})
"""Statuses whose ``Retry-After`` is honoured: Too Many Requests and Service Unavailable."""

GONE = 410
"""Gone: the receiver says the endpoint was removed for good. Nothing is retried and its
subscription is switched off at once, as Standard Webhooks advises (Svix and Stripe do so)."""

JITTER_SHARE = 0.10
"""A jitter draw of ``j`` in [0, 1) lengthens a delay by ``j * JITTER_SHARE`` of itself."""

LONGEST_DELAY = timedelta(days=3650)
# The most delays a schedule holds (Norce's default has 16): a delivery is retried once per
# delay, so a longer schedule only keeps a dead endpoint's deliveries going round.
MOST_DELAYS = 100
"""The longest delay or duration a schedule may name (10 years): a time that far off still
fits in a ``datetime``, while ``999999999d`` would overflow when a retry is scheduled."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AttemptResult:
    """What one HTTP attempt produced, as the sender saw it.

    ``status_code`` is ``None`` when no response arrived (timeout, refused connection), and
    ``error`` then says why. ``retry_after`` is the raw ``Retry-After`` header, if any.
    """

    status_code: int | None = None
    error: str | None = None
    retry_after: str | None = None

    def __post_init__(self) -> None:
        if self.status_code is None and self.error is None:
            raise ValueError("an attempt result needs a status code or an error")
        if self.status_code is not None and not 100 <= self.status_code <= 599:
            raise ValueError(f"HTTP status code out of range: {self.status_code}")

    @property
    def succeeded(self) -> bool:
        """Any 2xx answer with no transport error counts as delivered."""
        return self.error is None and self.status_code is not None and 200 <= self.status_code < 300

    @property
    def gone(self) -> bool:
        """The endpoint answered 410 Gone: retrying cannot help."""
        return self.error is None and self.status_code == GONE


def next_attempt_at(
    *,
    attempt: int,
    result: AttemptResult,
    now: datetime,
    schedule: Sequence[timedelta] = DEFAULT_SCHEDULE,
    jitter: float = 0.0,
) -> datetime | None:
    """When to try again after attempt number ``attempt`` (1-based) ended with ``result``.

    ``None`` means stop: the attempt succeeded, the endpoint is gone (410), or it was the last
    one the schedule allows (``len(schedule)`` retries after the first attempt) and the
    delivery is now dead.
    ``jitter`` is a draw in [0, 1) from the caller's random source; it spreads retries of
    many deliveries that failed together.
    """
    if attempt < 1:
        raise ValueError(f"attempt numbers start at 1, got {attempt}")
    if not 0.0 <= jitter < 1.0:
        raise ValueError(f"jitter must be in [0, 1), got {jitter}")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if result.succeeded or result.gone or attempt > len(schedule):
        return None
    delay = schedule[attempt - 1] * (1.0 + JITTER_SHARE * jitter)
    return now + max(delay, _requested_wait(result, now))


def _requested_wait(result: AttemptResult, now: datetime) -> timedelta:
    """The wait the receiver asked for with ``Retry-After``, capped; zero when it asked none."""
    if result.status_code not in RETRY_AFTER_STATUSES or result.retry_after is None:
        return timedelta(0)
    requested = parse_retry_after(result.retry_after, now)
    if requested is None:
        return timedelta(0)
    return min(requested, RETRY_AFTER_CAP)


def parse_retry_after(value: str, now: datetime) -> timedelta | None:
    """Read a ``Retry-After`` value: delay seconds (``120``) or an HTTP-date.

    Returns ``None`` for anything else, so a garbled header never blocks a retry. A date in
    the past asks for no wait at all.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    text = value.strip()
    if text.isascii() and text.isdigit():
        try:
            return timedelta(seconds=int(text))
        except (OverflowError, ValueError):  # past any clock, or past the digits int() reads
            return None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000" in a date means UTC with no stated zone
        when = when.replace(tzinfo=UTC)
    return max(when - now, timedelta(0))


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(?:[0-9]+[smhd])+")  # ASCII digits: \d takes those of every script
_PART = re.compile(r"([0-9]+)([smhd])")
_SOME_DURATION = (
    "(?=[0-9])(?:[1-9][0-9]{0,2}d)?(?:[1-9][0-9]{0,3}h)?(?:[1-9][0-9]{0,4}m)?(?:[1-9][0-9]{0,7}s)?"
)
DURATION_PATTERN = f"^{_SOME_DURATION}$"
"""Durations ``parse_duration`` reads as longer than zero, as a JSON Schema pattern: each unit
once, days to seconds, each number short enough that the sum stays under 10 years (under
2,650 days): a subset of what it reads (``1h1h``, ``0s1m``, ``5000d`` are left out)."""
SCHEDULE_PATTERN = f"^{_SOME_DURATION}(?:, ?{_SOME_DURATION}){{0,{MOST_DELAYS - 1}}}$"
"""A comma-separated list of such durations. That they must not shrink, no pattern says."""


def parse_schedule(text: str) -> tuple[timedelta, ...]:
    """Read a schedule from config, e.g. ``"5s, 10s, 1m, 1h30m"``.

    Each item is one or more number-and-unit pairs (s, m, h, d). The schedule must not be
    empty, every delay must be positive, and no delay may be shorter than the one before:
    backing off is the point.
    """
    items = [item.strip() for item in text.split(",")]
    if items == [""]:
        raise ValueError("the retry schedule is empty: give delays like '5s, 1m, 1h'")
    schedule = tuple(
        _parse_delay(item, f"retry schedule item {number} ({item!r})")
        for number, item in enumerate(items, start=1)
    )
    check_schedule(schedule)
    return schedule


def parse_duration(text: str) -> timedelta:
    """One duration, e.g. ``"90s"`` or ``"1h30m"`` (``ValueError`` naming it otherwise)."""
    return _parse_delay(text.strip(), repr(text.strip()))


def _parse_delay(item: str, name: str) -> timedelta:
    """``item`` as a duration; an error calls it ``name``."""
    if not _DURATION.fullmatch(item):
        raise ValueError(
            f"{name} is not a duration: use numbers with units s, m, h or d, e.g. '30s' or '1h30m'"
        )
    parts = _PART.findall(item)
    # Over 10 digits is over 10 years whatever the unit (and int() refuses 4,300 digits).
    wide = any(len(n.lstrip("0")) > 10 for n, _unit in parts)
    seconds = 0 if wide else sum(int(n) * _UNITS[unit] for n, unit in parts)
    if wide or seconds > LONGEST_DELAY.total_seconds():
        raise ValueError(f"{name} is longer than 10 years (3650d)")
    return timedelta(seconds=seconds)


def check_schedule(schedule: Sequence[timedelta]) -> None:
    """Raise ``ValueError`` unless the schedule is non-empty, positive and never shrinks."""
    if not schedule:
        raise ValueError("the retry schedule is empty")
    if len(schedule) > MOST_DELAYS:
        raise ValueError(f"the retry schedule has {len(schedule):,} delays; at most {MOST_DELAYS}")
    for number, delay in enumerate(schedule, start=1):
        if delay <= timedelta(0):
            raise ValueError(f"retry schedule item {number} must be longer than zero")
        if delay > LONGEST_DELAY:
            raise ValueError(f"retry schedule item {number} is longer than 10 years (3650d)")
        if number > 1 and delay < schedule[number - 2]:
            raise ValueError(
                f"retry schedule item {number} ({format_delay(delay)}) is shorter than item "
                f"{number - 1} ({format_delay(schedule[number - 2])}): delays must not shrink"
            )


def format_delay(delay: timedelta) -> str:
    """A delay in whole seconds as units, e.g. ``1h30m``; ``parse_schedule`` reads it back."""
    seconds = int(delay.total_seconds())
    parts = []
    for unit, size in sorted(_UNITS.items(), key=lambda item: -item[1]):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def format_schedule(schedule: Sequence[timedelta]) -> str:
    """A schedule as config text, e.g. ``5s, 10s, 1m``."""
    return ", ".join(format_delay(delay) for delay in schedule)
