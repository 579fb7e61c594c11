"""A subscription as the config file declares it (``subscriptions:`` in ``deltahook.yaml``).

    subscriptions:
      - name: webshop
        url: https://shop.example/hooks/deltahook
        event_types: [SkuChangedNotification, SkuPriceChangedNotification]   # or ["*"]
        headers: {Authorization: "Bearer ${WEBSHOP_TOKEN}"}
        secrets: ["${WEBSHOP_SECRET}"]          # whsec_...; two during a rotation
        header_style: norce                     # or standard, or directscale (see below)
        timeout: 5                              # seconds per attempt, redirects included
        retry_schedule: "5s, 10s, 15s, 30s, 1m"  # default: Norce's 16 steps
        max_concurrency: 10
        rate_limit: 10                          # requests a second (default: no limit)
        rate_burst: 20                          # at once (default: rate_limit, rounded up)
        circuit_after: 20                       # failures in a row that open the circuit
        circuit_cooldown: 1m                    # how long it stays open before one probe
        disable_after: 5d                       # nothing but failures this long: switched off

The ``directscale`` style needs an ``Authorization: Bearer ...`` header (its token); its
``X-Directscale-Client-Id`` is the ``ClientId`` constant unless ``headers`` names one.

Header values and secrets may name environment variables as ``${NAME}``: they are kept as
written (in the store too) and read from the environment of the process that sends, so a
token never has to sit in the config file or the database.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from datetime import timedelta
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from deltahook.delivery.health import (
    DEFAULT_CIRCUIT_AFTER,
    DEFAULT_COOLDOWN,
    DEFAULT_DISABLE_AFTER,
)
from deltahook.delivery.retry import (
    DEFAULT_SCHEDULE,
    LONGEST_DELAY,
    check_schedule,
    parse_duration,
    parse_schedule,
)
from deltahook.delivery.signing import (
    ENV_REFERENCE,
    MOST_HEADERS,
    HeaderStyle,
    check_header,
    decode_secret,
)

DEFAULT_TIMEOUT_S = 5.0
DEFAULT_MAX_CONCURRENCY = 10
MOST_RATE = 100_000
"""The highest ``rate_limit`` (requests a second) and ``rate_burst``."""
MOST_CIRCUIT_AFTER = 1_000_000


def _schedule(value: Any) -> Any:
    """Accept ``"5s, 1m"``, ``["5s", "1m"]`` or seconds (``[5, 60]``) for a schedule."""
    if isinstance(value, str):
        return parse_schedule(value)
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return parse_schedule(", ".join(value))
    if isinstance(value, list | tuple) and all(isinstance(v, int | float) for v in value):
        try:
            schedule = tuple(timedelta(seconds=v) for v in value)
        except (OverflowError, ValueError):
            raise ValueError("a retry delay in seconds is out of range") from None
        check_schedule(schedule)
        return schedule
    return value


def _duration(value: Any) -> Any:
    """Accept ``"90s"``, ``"5d"`` or seconds for one duration."""
    if isinstance(value, str):
        return parse_duration(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            delay = timedelta(seconds=value)
        except (OverflowError, ValueError):
            raise ValueError("a duration in seconds is out of range") from None
        if delay > LONGEST_DELAY:
            raise ValueError("a duration longer than 10 years (3650d)")
        return delay
    return value


def _string_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


Schedule = Annotated[tuple[timedelta, ...], BeforeValidator(_schedule)]
Duration = Annotated[timedelta, BeforeValidator(_duration)]
_LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


def check_url_target(url: str, *, allow_private: bool) -> None:
    """Refuse a webhook URL whose host is a private, loopback or link-local address.

    The config setting ``allow_private_urls`` lifts the check (local demos and tests). The host
    is judged as written: IP literals in any spelling the resolver accepts (``127.1``,
    ``0x7f000001``, ``[::ffff:127.0.0.1]``) and the names of this machine; names are not looked
    up here, since what they resolve to can change before a delivery is sent.
    """
    if allow_private:
        return
    import httpx  # only to read a subscription's URL: not for commands without one

    host = httpx.URL(url).host.rstrip(".").lower()
    if host in _LOCAL_NAMES or host.endswith(".localhost"):
        raise ValueError(f"{host!r} is this machine: {_ALLOW}")
    address = _ip_literal(host)
    if address is None:
        return
    from deltahook.delivery.guard import carried, is_public  # as deliveries judge addresses

    if not is_public(address):
        inside = carried(address) if address.is_global else None
        named = f"{address} (which leads to {inside})" if inside else str(address)
        raise ValueError(f"{named} is a private, loopback or link-local address: {_ALLOW}")


_ALLOW = "webhooks may go there only with allow_private_urls: true in the config"
# A host name as a resolver takes it; any other (an empty label, a space) could never be sent to.
_HOST_NAME = re.compile(r"(?=.{1,253}\.?\Z)[A-Za-z0-9_-]{1,63}(?:\.[A-Za-z0-9_-]{1,63})*\.?")


# Pieces of ``url_pattern``: JSON Schema patterns take no flags, so names are in lower case.
_LABEL = "[a-z0-9](?:[a-z0-9_-]{0,61}[a-z0-9])?"
_TOP = "[a-z](?:[a-z0-9_-]{0,61}[a-z0-9])?"  # a letter first: never read as an IPv4 address
_NAME = rf"(?=[a-z0-9_.-]{{1,253}}(?:[:/?]|$)){_LABEL}(?:\.{_LABEL})*\.{_TOP}\.?|{_TOP}\.?"
_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_ENDS = r"\.?(?:[:/?]|$)"
_LOCAL = rf"(?:localhost|localhost\.localdomain|ip6-localhost|ip6-loopback){_ENDS}"
_PORT = (
    "(?::(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}))?"
)
_CHAR = "(?:[A-Za-z0-9._~!$&'()*+,;=:@-]|%[0-9A-Fa-f]{2})"
_REST = rf"(?:/(?:{_CHAR}|/)*)?(?:\?(?:{_CHAR}|[/?])*)?"


def url_pattern(*, allow_private: bool) -> str:
    """The webhook URLs ``SubscriptionSettings`` and ``check_url_target`` accept, as a JSON
    Schema pattern for the OpenAPI document: a subset (host names in lower case; no IPv6
    literal, user name, fragment or character a URL must escape).

    Without ``allow_private``, no IP literal (a public one is accepted, but which are public is
    more than a pattern should say) and none of this machine's names."""
    if allow_private:
        host = rf"(?:{_NAME}|{_OCTET}(?:\.{_OCTET}){{3}})"
    else:
        host = rf"(?!{_LOCAL}|[a-z0-9_.-]*\.localhost{_ENDS})(?:{_NAME})"
    return f"^https?://{host}(?:{_PORT})?{_REST}$"


def _ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address ``host`` spells, or None when it is a name."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        try:
            packed = socket.inet_aton(host)  # the legacy spellings: 127.1, 2130706433, 0x7f.1
        except OSError:
            return None
        address = ipaddress.IPv4Address(packed)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class SubscriptionSettings(BaseModel):
    """Where messages of some event types go, and how they are sent there."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
    url: str
    event_types: Annotated[list[str], BeforeValidator(_string_list)] = Field(min_length=1)
    enabled: bool = True
    headers: dict[str, str] = Field(default_factory=dict)
    secrets: Annotated[list[str], BeforeValidator(_string_list)] = Field(default_factory=list)
    header_style: HeaderStyle = "norce"
    timeout: float = Field(default=DEFAULT_TIMEOUT_S, gt=0, le=300)
    retry_schedule: Schedule = DEFAULT_SCHEDULE
    max_concurrency: int = Field(default=DEFAULT_MAX_CONCURRENCY, ge=1, le=1000)
    rate_limit: float | None = Field(default=None, gt=0, le=MOST_RATE)
    rate_burst: int | None = Field(default=None, ge=1, le=MOST_RATE)
    circuit_after: int = Field(default=DEFAULT_CIRCUIT_AFTER, ge=1, le=MOST_CIRCUIT_AFTER)
    circuit_cooldown: Duration = DEFAULT_COOLDOWN
    disable_after: Duration = DEFAULT_DISABLE_AFTER

    @field_validator("circuit_cooldown", "disable_after")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be longer than zero")
        return value

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        import httpx

        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise ValueError(f"not a URL: {exc}") from None
        if parsed.scheme not in {"http", "https"} or not parsed.host:
            raise ValueError("the URL must be http:// or https:// with a host")
        if parsed.port is not None and not 0 < parsed.port < 65536:
            raise ValueError(f"the URL's port must be 1 to 65535, not {parsed.port}")
        host = parsed.raw_host.decode("ascii")  # a name as it is looked up (IDNA), or an IP
        if _ip_literal(host) is None and not _HOST_NAME.fullmatch(host):
            raise ValueError(
                f"{parsed.host!r} is not a host name: labels of 1 to 63 letters, digits, "
                "'-' or '_', joined by dots, 253 characters at most"
            )
        return url

    @field_validator("event_types")
    @classmethod
    def _event_types(cls, types: list[str]) -> list[str]:
        for name in types:
            if name != "*" and not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
                raise ValueError(f"{name!r} is not an event type name (or '*' for all)")
        return types

    @field_validator("headers")
    @classmethod
    def _headers(cls, headers: dict[str, str]) -> dict[str, str]:
        if len(headers) > MOST_HEADERS:
            raise ValueError(f"{len(headers):,} headers; a subscription has at most {MOST_HEADERS}")
        first_of: dict[str, str] = {}
        for name, value in headers.items():
            check_header(name, value)
            first = first_of.setdefault(name.lower(), name)
            if first != name:  # both would be sent, and receivers join or pick them
                raise ValueError(
                    f"headers {first!r} and {name!r} are one header (names are read whatever "
                    "their case): keep one"
                )
        return headers

    @model_validator(mode="after")
    def _directscale_bearer(self) -> SubscriptionSettings:
        if self.header_style != "directscale":
            return self
        bearer = [v for k, v in self.headers.items() if k.lower() == "authorization"]
        if not bearer or not bearer[0].startswith("Bearer "):
            raise ValueError(
                'header_style directscale needs headers {Authorization: "Bearer <token>"} '
                "(an Authorization: Bearer header; the token may be ${VAR})"
            )
        return self

    @field_validator("secrets")
    @classmethod
    def _secrets(cls, secrets: list[str]) -> list[str]:
        for secret in secrets:
            if not ENV_REFERENCE.fullmatch(secret):
                decode_secret(secret)  # a literal secret must be well-formed now
        return secrets
