"""The retry policy: Norce's 16-step schedule, Retry-After, jitter, and config parsing."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deltahook.delivery.retry import (
    DEFAULT_SCHEDULE,
    RETRY_AFTER_CAP,
    AttemptResult,
    check_schedule,
    format_schedule,
    next_attempt_at,
    parse_retry_after,
    parse_schedule,
)

NOW = datetime(2026, 11, 24, 10, 0, 0, tzinfo=UTC)
SERVER_ERROR = AttemptResult(status_code=500)
TIMEOUT = AttemptResult(error="timed out after 5 s")


def delay_after(
    attempt: int,
    result: AttemptResult = SERVER_ERROR,
    *,
    schedule: Sequence[timedelta] = DEFAULT_SCHEDULE,
    jitter: float = 0.0,
) -> timedelta:
    """The wait before the next attempt; fails the test when the delivery is over."""
    due = next_attempt_at(attempt=attempt, result=result, now=NOW, schedule=schedule, jitter=jitter)
    assert due is not None
    return due - NOW


def test_default_schedule_is_norces_sixteen_delays_in_order() -> None:
    """The default schedule is Norce Commerce Event's: 5 s up to 6 h, 16 steps."""
    expected = [5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 14400, 18000, 21600]
    assert [d.total_seconds() for d in DEFAULT_SCHEDULE] == expected


def test_each_failed_attempt_waits_its_schedule_step() -> None:
    """After failed attempt n (1-based) the next one is due schedule[n - 1] later."""
    assert [delay_after(n) for n in range(1, 17)] == list(DEFAULT_SCHEDULE)


def test_delivery_is_dead_after_the_seventeenth_failed_attempt() -> None:
    """One first try plus 16 retries: the 17th failure ends the delivery."""
    assert next_attempt_at(attempt=16, result=SERVER_ERROR, now=NOW) is not None
    assert next_attempt_at(attempt=17, result=SERVER_ERROR, now=NOW) is None


def test_the_whole_schedule_spans_about_22_hours() -> None:
    """The 16 delays add up to 79,440 s, about 22.07 h."""
    total = sum(DEFAULT_SCHEDULE, timedelta())
    assert total == timedelta(seconds=79_440)
    assert round(total.total_seconds() / 3600, 2) == 22.07


@pytest.mark.parametrize(
    "result",
    [
        AttemptResult(status_code=500),  # server error
        AttemptResult(status_code=404),  # client errors are retried too, as on Norce
        AttemptResult(status_code=301),  # a redirect the sender could not follow
        AttemptResult(error="connection refused"),  # no response at all
        AttemptResult(status_code=200, error="body read timed out"),  # broken mid-response
    ],
)
def test_every_non_success_is_retried(result: AttemptResult) -> None:
    """Anything but a clean 2xx is retried after the schedule's delay."""
    assert delay_after(1, result) == DEFAULT_SCHEDULE[0]


def test_a_410_gone_is_not_retried() -> None:
    """410 Gone says the endpoint was removed for good: the delivery ends at once, whatever
    the schedule has left (Standard Webhooks' advice); other 4xx answers are retried."""
    gone = AttemptResult(status_code=410)
    assert gone.gone
    assert next_attempt_at(attempt=1, result=gone, now=NOW) is None
    assert not AttemptResult(status_code=404).gone
    assert not AttemptResult(status_code=410, error="body read timed out").gone


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_a_2xx_answer_ends_the_delivery(status: int) -> None:
    """Any 2xx is a success: there is no next attempt."""
    result = AttemptResult(status_code=status)
    assert result.succeeded
    assert next_attempt_at(attempt=3, result=result, now=NOW) is None


@pytest.mark.parametrize(
    ("status", "header", "expected"),
    [
        (429, "3600", timedelta(hours=1)),  # longer than 5 s: honoured
        (503, "120", timedelta(minutes=2)),  # 503 counts as well as 429
        (429, "1", timedelta(seconds=5)),  # shorter than the schedule: ignored
        (429, "soon", timedelta(seconds=5)),  # garbage: ignored
        (429, "-30", timedelta(seconds=5)),  # negative: garbage
        (429, "", timedelta(seconds=5)),  # empty: garbage
        (500, "3600", timedelta(seconds=5)),  # only 429 and 503 may ask for a wait
        (429, "999999999999", RETRY_AFTER_CAP),  # absurd: capped at 24 h
        (429, "Tue, 24 Nov 2026 10:30:00 GMT", timedelta(minutes=30)),  # HTTP-date form
        (503, "Tue, 24 Nov 2026 09:00:00 GMT", timedelta(seconds=5)),  # a date already past
    ],
)
def test_retry_after_can_only_lengthen_the_wait(
    status: int, header: str, expected: timedelta
) -> None:
    """Retry-After on 429/503 is honoured when longer than the schedule, up to a cap."""
    result = AttemptResult(status_code=status, retry_after=header)
    assert delay_after(1, result) == expected


def test_retry_after_does_not_revive_a_dead_delivery() -> None:
    """After the last scheduled retry, a Retry-After header changes nothing."""
    result = AttemptResult(status_code=429, retry_after="60")
    assert next_attempt_at(attempt=17, result=result, now=NOW) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", timedelta(seconds=120)),  # delay-seconds
        (" 7 ", timedelta(seconds=7)),  # surrounding spaces are tolerated
        ("0", timedelta(0)),  # retry right away
        ("Tue, 24 Nov 2026 10:00:05 GMT", timedelta(seconds=5)),  # IMF-fixdate
        ("Tue, 24 Nov 2026 11:00:00 +0100", timedelta(0)),  # a zone offset is applied
        ("1.5", None),  # fractions are not allowed
        ("in a minute", None),  # not a number or a date
        ("٣", None),  # a non-ASCII digit
        ("99999999999999999999", None),  # too large for any clock
        ("9" * 5000, None),  # past the digits int() reads (a ValueError lost the attempt)
    ],
)
def test_parse_retry_after(value: str, expected: timedelta | None) -> None:
    """Retry-After is read as delay seconds or an HTTP-date relative to now."""
    assert parse_retry_after(value, NOW) == expected


def test_jitter_adds_up_to_ten_percent() -> None:
    """A jitter draw j adds j times 10% to the delay: 0.5 adds 5%."""
    assert delay_after(5, jitter=0.5) == timedelta(seconds=63)
    assert delay_after(5, jitter=0.0) == timedelta(seconds=60)


@pytest.mark.parametrize(
    ("attempt", "jitter", "now", "message"),
    [
        (0, 0.0, NOW, "start at 1"),  # attempts are 1-based
        (1, 1.0, NOW, r"\[0, 1\)"),  # jitter is a draw in [0, 1)
        (1, -0.1, NOW, r"\[0, 1\)"),  # and never negative
        (1, 0.0, datetime(2026, 11, 24, 10, 0), "timezone-aware"),  # naive clocks are refused
    ],
)
def test_bad_arguments_are_refused(
    attempt: int, jitter: float, now: datetime, message: str
) -> None:
    """Programming mistakes in the call raise ValueError instead of scheduling nonsense."""
    with pytest.raises(ValueError, match=message):
        next_attempt_at(attempt=attempt, result=TIMEOUT, now=now, jitter=jitter)


@pytest.mark.parametrize(
    "status_code",
    [
        None,  # neither a status nor an error says nothing happened
        42,  # not an HTTP status
        600,  # not an HTTP status either
    ],
)
def test_attempt_result_refuses_meaningless_values(status_code: int | None) -> None:
    """An attempt result must describe something that can really happen."""
    with pytest.raises(ValueError, match="status"):
        AttemptResult(status_code=status_code)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5s, 10s, 1m, 2h", (5, 10, 60, 7200)),  # the documented form
        ("30s,1m30s,1d", (30, 90, 86400)),  # compound units, no spaces
        ("1m, 1m", (60, 60)),  # equal delays are allowed
    ],
)
def test_parse_schedule(text: str, expected: tuple[int, ...]) -> None:
    """Schedules in config files are comma-separated delays with units."""
    assert parse_schedule(text) == tuple(timedelta(seconds=s) for s in expected)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),  # nothing at all
        ("5s, , 1m", r"item 2 \(''\) is not a duration"),  # a missing item
        ("5s, 10x", r"item 2 \('10x'\) is not a duration"),  # an unknown unit
        ("5", r"item 1 \('5'\) is not a duration"),  # a number without unit
        ("0s, 5s", "item 1 must be longer than zero"),  # no zero delays
        ("1m, 5s", r"item 2 \(5s\) is shorter than item 1 \(1m\)"),  # delays never shrink
        ("5s, 99999999999d", r"item 2 \('99999999999d'\) is longer than 10 years"),  # no timedelta
        ("5s, 3651d", "item 2 .* is longer than 10 years"),  # now + it could overflow at a retry
        # more digits than int() reads: it was Python's "Exceeds the limit (4300 digits)"
        ("5s, " + "9" * 5000 + "s", r"item 2 \('9{30}.*'\) is longer than 10 years"),
        ("\u0665s", r"item 1 \('\u0665s'\) is not a duration"),  # digits of another script
    ],
)
def test_parse_schedule_errors_name_the_item(text: str, message: str) -> None:
    """A bad schedule raises ValueError naming the item and what is wrong with it."""
    with pytest.raises(ValueError, match=message):
        parse_schedule(text)


def test_a_delay_longer_than_ten_years_is_refused_in_seconds_too() -> None:
    """A schedule given as seconds (the config's numeric form) has the same ceiling."""
    with pytest.raises(ValueError, match="item 2 is longer than 10 years"):
        check_schedule((timedelta(seconds=5), timedelta(days=3651)))
    check_schedule((timedelta(seconds=5), timedelta(days=3650)))  # the ceiling itself is fine


def test_default_schedule_round_trips_through_config_text() -> None:
    """The default schedule formats as config text that parses back to itself."""
    text = format_schedule(DEFAULT_SCHEDULE)
    assert text == "5s, 10s, 15s, 30s, 1m, 2m, 5m, 10m, 15m, 30m, 1h, 2h, 3h, 4h, 5h, 6h"
    assert parse_schedule(text) == DEFAULT_SCHEDULE


schedules = st.lists(st.integers(min_value=1, max_value=7 * 86400), min_size=1, max_size=30).map(
    lambda seconds: tuple(timedelta(seconds=s) for s in sorted(seconds))
)
failures = st.one_of(
    st.builds(AttemptResult, status_code=st.integers(min_value=300, max_value=599)),
    st.builds(AttemptResult, error=st.text(min_size=1)),
    st.builds(
        AttemptResult,
        status_code=st.sampled_from([429, 503]),
        retry_after=st.one_of(st.integers(0, 10**6).map(str), st.text(max_size=20)),
    ),
)
jitters = st.floats(min_value=0.0, max_value=1.0, exclude_max=True)


@given(schedule=schedules, jitter=jitters)
def test_delays_never_shrink_with_the_attempt_number(
    schedule: tuple[timedelta, ...], jitter: float
) -> None:
    """With the same jitter draw, each retry waits at least as long as the one before."""
    delays = [delay_after(n, schedule=schedule, jitter=jitter) for n in range(1, len(schedule) + 1)]
    assert delays == sorted(delays)


@given(schedule=schedules, result=failures, jitter=jitters, extra=st.integers(1, 1000))
def test_the_schedule_ends(
    schedule: tuple[timedelta, ...], result: AttemptResult, jitter: float, extra: int
) -> None:
    """Past the last step no failure, header or jitter brings another attempt."""
    attempt = len(schedule) + extra
    due = next_attempt_at(attempt=attempt, result=result, now=NOW, schedule=schedule, jitter=jitter)
    assert due is None


@given(schedule=schedules, result=failures, jitter=jitters, data=st.data())
def test_a_wait_is_never_shorter_than_its_step_nor_wildly_longer(
    schedule: tuple[timedelta, ...], result: AttemptResult, jitter: float, data: st.DataObject
) -> None:
    """Each wait is at least its schedule step and at most the larger of +10% and the cap."""
    attempt = data.draw(st.integers(min_value=1, max_value=len(schedule)))
    delay = delay_after(attempt, result, schedule=schedule, jitter=jitter)
    step = schedule[attempt - 1]
    assert step <= delay <= max(step * 1.1, RETRY_AFTER_CAP)


@given(schedule=schedules)
def test_any_valid_schedule_round_trips_through_config_text(
    schedule: tuple[timedelta, ...],
) -> None:
    """format_schedule and parse_schedule are inverses on whole-second schedules."""
    check_schedule(schedule)
    assert parse_schedule(format_schedule(schedule)) == schedule
