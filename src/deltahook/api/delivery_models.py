"""The request and response bodies of the subscription and delivery-log routes: what a client
sends to say where webhooks go, and what it reads back about their delivery.

They are apart from ``models.py`` (feeds, previews, events, the catalog, health) because only
``routes/subscriptions.py`` and ``routes/deliveries.py`` use them; they build on its ``Model``
base and ``UtcTime``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, WithJsonSchema, model_validator
from pydantic.config import JsonDict

from deltahook.api.models import Model, UtcTime
from deltahook.delivery.redaction import CUT
from deltahook.delivery.retry import (
    DURATION_PATTERN,
    LONGEST_DELAY,
    MOST_DELAYS,
    SCHEDULE_PATTERN,
)
from deltahook.delivery.sender import EXCERPT_BYTES
from deltahook.delivery.settings import MOST_CIRCUIT_AFTER, MOST_RATE
from deltahook.delivery.signing import (
    FRAMING_NAME_PATTERN,
    HEADER_NAME_PATTERN,
    HEADER_VALUE_PATTERN,
    LONGEST_HEADER,
    MOST_HEADERS,
    SECRET_PATTERN,
)
from deltahook.delivery.status import DeliveryStatus, FailedFilter

EXCERPT = (
    f"The start of the receiver's answer as text: its first {EXCERPT_BYTES:,} bytes, ending "
    f"{CUT.strip()!r} only when it was longer (a character the cut splits is left out; bytes "
    "that are not UTF-8, and NUL, are U+FFFD); null when it had no body."
)


class SubscriptionOut(Model):
    """A subscription's settings; header values and secrets are never shown."""

    name: str
    enabled: bool
    url: str
    event_types: list[str]
    header_style: str
    signed: bool
    timeout_s: float
    retries: int
    max_concurrency: int
    source: str = Field(description="config (the config file owns it), api, or removed")
    rate_limit: float | None = Field(description="Requests a second at most (null: no limit).")
    failures: int = Field(description="Failed attempts in a row (endpoint health).")
    last_success_at: str | None = Field(description="When its endpoint last answered 2xx.")
    last_status_code: int | None = Field(description="The last attempt's HTTP status.")
    circuit_open_until: str | None = Field(
        description="Set while its circuit is open: nothing is sent before then, then a probe."
    )
    disabled_reason: str | None = Field(
        description="Why the dispatcher switched it off (nothing but failures for too long)."
    )
    headers: list[str] = Field(description="The names of its static headers.")


SHORTEST = 1e-6
"""The shortest delay or duration in seconds the document gives: a shorter one is zero once
made a timedelta, which the settings refuse."""
Delay = Annotated[float, Field(gt=0, le=7 * 24 * 3600)]
# The settings' own messages say what is wrong with a list too short or too long: the bounds are
# the document's only.
Delays = Annotated[
    list[Delay],
    WithJsonSchema(
        {
            "type": "array",
            "items": {"type": "number", "minimum": SHORTEST, "maximum": 7 * 24 * 3600},
            "minItems": 1,
            "maxItems": MOST_DELAYS,
        }
    ),
]
Seconds = Annotated[
    float,
    WithJsonSchema(
        {"type": "number", "minimum": SHORTEST, "maximum": LONGEST_DELAY.total_seconds()}
    ),
]
DurationText = Annotated[
    str, WithJsonSchema({"type": "string", "pattern": DURATION_PATTERN, "examples": ["1m", "5d"]})
]
ScheduleText = Annotated[
    str,
    WithJsonSchema(
        {"type": "string", "pattern": SCHEDULE_PATTERN, "examples": ["5s, 10s, 1m, 1h"]}
    ),
]
# An event type's name or "*" (all), as the subscription settings check it; the served document
# also lists the catalog's names as an enum (``api.document``): an unknown name is refused too.
EventTypeName = Annotated[str, Field(min_length=1, pattern=r"^(\*|[A-Za-z0-9_.-]+)$")]
# What the subscription settings check, described as JSON Schema can (``signing``'s patterns);
# the webhook URL's pattern depends on allow_private_urls (``api.document``).
Headers = Annotated[
    dict[str, str],
    WithJsonSchema(
        {
            "type": "object",
            "maxProperties": MOST_HEADERS,
            "propertyNames": {
                "pattern": HEADER_NAME_PATTERN,
                "not": {"pattern": FRAMING_NAME_PATTERN},
            },
            "additionalProperties": {
                "type": "string",
                "maxLength": LONGEST_HEADER,
                "pattern": HEADER_VALUE_PATTERN,
            },
        }
    ),
]
Secret = Annotated[str, WithJsonSchema({"type": "string", "pattern": SECRET_PATTERN})]
URL = "http:// or https:// with a host name (or an IP address, allow_private_urls permitting)."
HEADERS = (
    "Static headers sent with every request; a value may name ${VAR}. Two names that differ "
    "only in case are one header: give it once."
)
SECRETS = "whsec_ and the base64 of 24 to 64 random bytes, or ${VAR}; two while rotating."
SCHEDULE = (
    'Delays after each failed attempt, never shorter than the one before: "5s, 1m" or seconds.'
)
# directscale needs an Authorization: Bearer header (``SubscriptionSettings``).
DIRECTSCALE: JsonDict = {
    "if": {"properties": {"header_style": {"const": "directscale"}}, "required": ["header_style"]},
    "then": {
        "required": ["headers"],
        "properties": {
            "headers": {
                "required": ["Authorization"],
                "properties": {"Authorization": {"type": "string", "pattern": "^Bearer "}},
            }
        },
    },
}


class SubscriptionIn(Model):
    """A new subscription, as the config file would declare it."""

    model_config = ConfigDict(json_schema_extra=DIRECTSCALE)

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
    url: str = Field(max_length=2048, description=URL)
    event_types: list[EventTypeName] = Field(min_length=1, max_length=200)
    enabled: bool = True
    headers: Headers = Field(default_factory=dict, description=HEADERS)
    secrets: list[Secret] = Field(default_factory=list, max_length=4, description=SECRETS)
    header_style: Literal["norce", "standard", "directscale"] = Field(
        default="norce", description="directscale needs headers {Authorization: Bearer ...}."
    )
    timeout: float = Field(default=5.0, gt=0, le=300)
    retry_schedule: ScheduleText | Delays | None = Field(default=None, description=SCHEDULE)
    max_concurrency: int = Field(default=10, ge=1, le=1000)
    rate_limit: float | None = Field(
        default=None, gt=0, le=MOST_RATE, description="Requests a second."
    )
    rate_burst: int | None = Field(default=None, ge=1, le=MOST_RATE, description="At once.")
    circuit_after: int = Field(
        default=20, ge=1, le=MOST_CIRCUIT_AFTER, description="Failures that open the circuit."
    )
    circuit_cooldown: DurationText | Seconds = Field(
        default=60.0, description='Open this long: "1m", or seconds.'
    )
    disable_after: DurationText | Seconds = Field(
        default=432_000.0, description='Switched off after failing this long: "5d", or seconds.'
    )


class SubscriptionPatch(Model):
    """What to change; a config-declared subscription takes only ``enabled``."""

    url: str | None = Field(default=None, max_length=2048, description=URL)
    event_types: list[EventTypeName] | None = Field(default=None, min_length=1, max_length=200)
    headers: Headers | None = Field(default=None, description=HEADERS)
    secrets: list[Secret] | None = Field(default=None, max_length=4, description=SECRETS)
    enabled: bool | None = None


class Deleted(Model):
    name: str
    ended_deliveries: int = Field(description="Queued deliveries ended as dead.")


class TestSendOut(Model):
    subscription: str
    message_id: str
    succeeded: bool
    status_code: int | None
    error: str | None
    duration_ms: float
    response_excerpt: str | None = Field(description=EXCERPT)


class RecoverIn(Model):
    since: UtcTime = Field(description="Queued at or after.")
    until: UtcTime | None = Field(
        default=None, description="Queued before (at or before since: nothing is queued)."
    )


class RetryFailedIn(Model):
    """Which failed deliveries to queue again (the console Log tab's filters)."""

    event_type: str | None = Field(default=None, alias="type", description="An event type.")
    subscription: str | None = Field(default=None, description="One subscription (it must be on).")
    since: UtcTime | None = Field(default=None, description="Queued at or after.")
    until: UtcTime | None = Field(
        default=None, description="Queued before; later than since (422 otherwise)."
    )
    status: FailedFilter = Field(
        default=FailedFilter.FAILED, description="failed = retrying or dead."
    )
    limit: int = Field(default=1000, ge=1, le=1000, description="The most one call queues.")

    @model_validator(mode="after")
    def _window(self) -> RetryFailedIn:
        if self.since is not None and self.until is not None and self.until <= self.since:
            raise ValueError("until must be later than since")
        return self


class RetryFailedOut(Model):
    queued: int = Field(description="Deliveries queued again, due now, same message ids.")
    more: bool = Field(description="The limit was reached: call again for the rest.")
    left_alone: list[str] = Field(
        description="The subscriptions, switched off or deleted, whose failed deliveries match "
        "the filters and were left alone (switch one on to send them)."
    )


class RecoverOut(Model):
    subscription: str
    queued: int


class AttemptOut(Model):
    number: int
    started_at: datetime
    duration_ms: float
    status_code: int | None
    error: str | None
    response_excerpt: str | None = Field(description=EXCERPT)
    worker: str | None


class DeliveryOut(Model):
    id: str
    message_id: str = Field(description="The notification's id: the same on every attempt.")
    subscription: str
    event_type: str
    status: DeliveryStatus
    in_flight: bool
    attempts: int
    created_at: datetime
    updated_at: datetime
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    payload: dict[str, Any] | None = None
    attempt_log: list[AttemptOut] | None = None


class DeliveryPage(Model):
    items: list[DeliveryOut]
    next_cursor: str | None = Field(
        description="Pass as cursor for the next page; null at the end."
    )


class ResendOut(Model):
    outcome: dict[str, str] = Field(
        description="Per delivery id: queued, in flight, subscription off or subscription deleted."
    )
