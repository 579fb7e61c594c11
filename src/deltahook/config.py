"""Settings: the config file (``deltahook.yaml``) and ``DELTAHOOK_*`` environment variables.

This module holds the ``Settings`` class and its checks: ``plainly_valid`` for plainly valid
values, ``by_pydantic`` for any other input; ``configload.load_settings`` reads the file and
the environment and checks them with the same two.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from deltahook.feeds.limits import DEFAULT_MAX_REMOVE, RemovalLimit

if TYPE_CHECKING:
    from deltahook.delivery.settings import SubscriptionSettings

LONGEST_LEASE_S = 3650 * 86400
"""The longest ``job_lease_s``, 10 years as a retry delay: a lease's end must be a date."""


def shipped(name: str) -> Path:
    """``schemas``, ``rules`` or ``fixtures`` as shipped: inside an installed wheel
    (``deltahook/_shipped/``), else at the top of the source tree this package runs from."""
    package = Path(__file__).resolve().parent
    inside = package / "_shipped" / name
    return inside if inside.is_dir() else package.parents[1] / name


@dataclass(frozen=True, init=False)
class Settings:
    """Everything deltahook reads from its configuration.

    ``Settings(**values)`` checks values that are plainly valid itself (each of its field's own
    type and in bounds, no subscription declared); any other input goes to pydantic
    (``config_model.SettingsModel``), which coerces it or raises its ``ValidationError`` as it
    always did. So an ordinary command starts without importing pydantic (about 0.1 s of CPU),
    and every error message is still pydantic's. ``model_validate``, ``model_copy`` and
    ``model_fields`` work as on a pydantic model.
    """

    model_fields: ClassVar[dict[str, Any]]

    database_url: str = "sqlite:///.deltahook/deltahook.db"
    schemas_dir: Path = field(default_factory=lambda: shipped("schemas"))
    rules_dir: Path = field(default_factory=lambda: shipped("rules"))
    constants: dict[str, Any] = field(default_factory=lambda: {"ClientId": 1, "ApplicationId": 1})
    batch_size: int = 2000  # 1 to 50,000
    job_events: bool = True
    change_log: bool = True  # the stored row changes, kept as long as the delivery log
    # A running ingest renews its job's lease as batches commit; a job whose lease ran out
    # (and whose process cannot be seen to run on this host) is marked abandoned.
    job_lease_s: float = 600.0  # > 0, <= 10 years (a lease's end must be a date)
    # Webhooks to private, loopback or link-local addresses.
    allow_private_urls: bool = False
    subscriptions: list[SubscriptionSettings] = field(default_factory=list)
    # Bearer keys of the HTTP API; a value may be `${VAR}`, read when the server starts.
    api_keys: list[str] = field(default_factory=list)
    api_max_body_bytes: int = 1 << 20  # JSON request bodies, >= 1024
    api_max_feed_bytes: int = 4 << 30  # feeds POSTed to the API, >= 1024
    # A request body must bring at least `api_body_window_bytes` (or its end) in every window
    # of `api_body_window_s` seconds, else it is answered 408: a stalled upload ends.
    api_body_window_s: float = 30.0  # > 0, <= 3600
    api_body_window_bytes: int = 16 << 10  # >= 1
    # A request's headers must be complete this long after the connection opened (or the
    # last answer ended), else 408; a header block over `api_max_header_bytes` is 431.
    api_header_timeout_s: float = 10.0  # > 0, <= 3600
    api_max_header_bytes: int = 16 << 10  # 1024 to 1 MiB
    # Feed uploads (and feed previews) at once; each holds a worker thread and a database
    # connection. Beyond it an upload is answered 503 with Retry-After.
    api_max_uploads: int = 8  # 1 to 32
    # What one full feed may deactivate or delete of its scope, by kind name (or "default").
    max_remove: dict[str, RemovalLimit] = field(default_factory=dict)

    def __init__(self, **values: Any) -> None:
        checked = plainly_valid(values)
        self._set(by_pydantic(values) if checked is None else checked)

    @classmethod
    def _of(cls, checked: Mapping[str, Any]) -> Settings:
        """Settings holding ``checked`` values (every field's, checked already) as they are."""
        settings = object.__new__(cls)
        settings._set(checked)
        return settings

    def _set(self, checked: Mapping[str, Any]) -> None:
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    @classmethod
    def model_validate(cls, values: Any) -> Settings:
        """The settings from a mapping of values (pydantic's ``ValidationError`` if invalid,
        also for what is no mapping of names); settings are taken as they are."""
        if isinstance(values, cls):
            return values
        if isinstance(values, Mapping) and all(isinstance(name, str) for name in values):
            return cls(**values)
        return cls._of(by_pydantic(values))

    def model_copy(self, *, update: Mapping[str, Any] | None = None) -> Settings:
        """A copy with the values of ``update`` set as they are (unchecked, as pydantic's)."""
        copied = object.__new__(type(self))
        copied.__dict__.update(self.__dict__)
        copied.__dict__.update(update or {})
        return copied

    def removal_limit(self, kind: str) -> RemovalLimit:
        """The kind's ``max_remove``, else the configured default, else 10%."""
        found = self.max_remove.get(kind) or self.max_remove.get("default")
        return found or RemovalLimit.parse(DEFAULT_MAX_REMOVE)

    @property
    def entity_schemas_dir(self) -> Path:
        return self.schemas_dir / "entities"

    @property
    def event_schemas_dir(self) -> Path:
        return self.schemas_dir / "events"


Settings.model_fields = {f.name: f for f in fields(Settings)}


def by_pydantic(values: Any) -> dict[str, Any]:
    """Every field's value as the pydantic model makes it (its ``ValidationError`` if invalid)."""
    from deltahook.config_model import SettingsModel

    model = SettingsModel.model_validate(values)
    return {name: getattr(model, name) for name in Settings.model_fields}


def removal_limits(declared: object) -> dict[str, RemovalLimit]:
    """``max_remove`` read: a limit per kind name (``ValueError`` naming the kind otherwise)."""
    if not isinstance(declared, Mapping):
        raise ValueError("max_remove maps kind names (or default) to a count or a percentage")
    limits: dict[str, RemovalLimit] = {}
    for kind, value in declared.items():
        try:
            limits[str(kind)] = RemovalLimit.parse(value)
        except ValueError as exc:
            raise ValueError(f"{kind}: {exc}") from None
    return limits


def plainly_valid(values: Mapping[str, Any]) -> dict[str, Any] | None:
    """Every field's value when each given one is plainly valid, else None (pydantic decides).

    Plainly valid is what pydantic takes as it is: the field's own type (a whole number for a
    float, converted as pydantic does; a string for a path) within the field's bounds.
    """
    checked: dict[str, Any] = {}
    for name, value in values.items():
        check = _CHECKS.get(name)
        if check is None:
            return None
        try:
            checked[name] = check(value)
        except _NotPlain:
            return None
    for each in fields(Settings):
        if each.name in checked:
            continue
        make = each.default_factory
        checked[each.name] = each.default if make is MISSING else make()
    return checked


class _NotPlain(Exception):
    """A value pydantic must judge (coerce, or refuse with its message)."""


def _str(value: Any) -> str:
    if type(value) is not str:
        raise _NotPlain
    return value


def _path(value: Any) -> Path:
    if isinstance(value, Path):
        return value
    return Path(_str(value))


def _bool(value: Any) -> bool:
    if type(value) is not bool:
        raise _NotPlain
    return value


def _int(low: int, high: int | None = None) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if type(value) is not int or value < low or (high is not None and value > high):
            raise _NotPlain
        return value

    return check


def _float(high: float | None = None) -> Callable[[Any], float]:
    """A number greater than 0 (and at most ``high``), as a float."""

    def check(value: Any) -> float:
        if type(value) not in (int, float) or not 0 < value < math.inf:
            raise _NotPlain
        if high is not None and value > high:
            raise _NotPlain
        try:
            return float(value)
        except OverflowError:  # a whole number no float holds: pydantic's message
            raise _NotPlain from None

    return check


def _constants(value: Any) -> dict[str, Any]:
    if type(value) is not dict or any(type(key) is not str for key in value):
        raise _NotPlain
    return dict(value)


def _strings(value: Any) -> list[str]:
    if type(value) is not list or any(type(item) is not str for item in value):
        raise _NotPlain
    return list(value)


def _no_subscriptions(value: Any) -> list[SubscriptionSettings]:
    if type(value) is not list or value:
        raise _NotPlain  # a subscription is checked by its pydantic model
    return []


def _removal_limits(value: Any) -> dict[str, RemovalLimit]:
    try:
        return removal_limits(value)
    except ValueError:
        raise _NotPlain from None


_CHECKS: dict[str, Callable[[Any], Any]] = {
    "database_url": _str,
    "schemas_dir": _path,
    "rules_dir": _path,
    "constants": _constants,
    "batch_size": _int(1, 50_000),
    "job_events": _bool,
    "change_log": _bool,
    "job_lease_s": _float(LONGEST_LEASE_S),
    "allow_private_urls": _bool,
    "subscriptions": _no_subscriptions,
    "api_keys": _strings,
    "api_max_body_bytes": _int(1024),
    "api_max_feed_bytes": _int(1024),
    "api_body_window_s": _float(3600),
    "api_body_window_bytes": _int(1),
    "api_header_timeout_s": _float(3600),
    "api_max_header_bytes": _int(1024, 1 << 20),
    "api_max_uploads": _int(1, 32),
    "max_remove": _removal_limits,
}
