"""Settings: the config file (``deltahook.yaml``) and ``DELTAHOOK_*`` environment variables.

Lookup order for the file: ``--config``, then ``$DELTAHOOK_CONFIG``, then ``./deltahook.yaml``
when it exists; no file at all is fine. Environment variables override the file. Relative paths
are resolved against the file's folder (or the working directory without a file).
``DELTAHOOK_API_KEYS`` (comma-separated) replaces the file's ``api_keys``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from deltahook.configfile import (
    ConfigSource,
    event_type_problems,
    raise_problems,
    read_config,
    validation_problems,
)
from deltahook.delivery.settings import SubscriptionSettings, check_url_target
from deltahook.errors import CatalogError
from deltahook.feeds.limits import DEFAULT_MAX_REMOVE, RemovalLimit

CONFIG_FILE = "deltahook.yaml"
_ENV = {
    "DELTAHOOK_DATABASE_URL": "database_url",
    "DELTAHOOK_SCHEMAS_DIR": "schemas_dir",
    "DELTAHOOK_RULES_DIR": "rules_dir",
}


def shipped(name: str) -> Path:
    """``schemas``, ``rules`` or ``fixtures`` as shipped: inside an installed wheel
    (``deltahook/_shipped/``), else at the top of the source tree this package runs from."""
    package = Path(__file__).resolve().parent
    inside = package / "_shipped" / name
    return inside if inside.is_dir() else package.parents[1] / name


class Settings(BaseModel):
    """Everything deltahook reads from its configuration."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    database_url: str = "sqlite:///.deltahook/deltahook.db"
    schemas_dir: Path = Field(default_factory=lambda: shipped("schemas"))
    rules_dir: Path = Field(default_factory=lambda: shipped("rules"))
    constants: dict[str, Any] = Field(default_factory=lambda: {"ClientId": 1, "ApplicationId": 1})
    batch_size: int = Field(default=2000, ge=1, le=50_000)
    job_events: bool = True
    change_log: bool = True  # the stored row changes, kept as long as the delivery log
    # A running ingest renews its job's lease as batches commit; a job whose lease ran out
    # (and whose process cannot be seen to run on this host) is marked abandoned.
    job_lease_s: float = Field(default=600.0, gt=0)
    # Webhooks to private, loopback or link-local addresses; declared before `subscriptions`
    # so that their check can read it.
    allow_private_urls: bool = False
    subscriptions: list[SubscriptionSettings] = Field(default_factory=list)
    # Bearer keys of the HTTP API; a value may be `${VAR}`, read when the server starts.
    api_keys: list[str] = Field(default_factory=list)
    api_max_body_bytes: int = Field(default=1 << 20, ge=1024)  # JSON request bodies
    api_max_feed_bytes: int = Field(default=4 << 30, ge=1024)  # feeds POSTed to the API
    # A request body must bring at least `api_body_window_bytes` (or its end) in every window
    # of `api_body_window_s` seconds, else it is answered 408: a stalled upload ends.
    api_body_window_s: float = Field(default=30.0, gt=0, le=3600)
    api_body_window_bytes: int = Field(default=16 << 10, ge=1)
    # A request's headers must be complete this long after the connection opened (or the
    # last answer ended), else 408; a header block over `api_max_header_bytes` is 431.
    api_header_timeout_s: float = Field(default=10.0, gt=0, le=3600)
    api_max_header_bytes: int = Field(default=16 << 10, ge=1024, le=1 << 20)
    # Feed uploads (and feed previews) at once; each holds a worker thread and a database
    # connection. Beyond it an upload is answered 503 with Retry-After.
    api_max_uploads: int = Field(default=8, ge=1, le=32)
    # What one full feed may deactivate or delete of its scope, by kind name (or "default").
    max_remove: dict[str, RemovalLimit] = Field(default_factory=dict)

    @field_validator("max_remove", mode="before")
    @classmethod
    def _removal_limits(cls, declared: object) -> dict[str, RemovalLimit]:
        if not isinstance(declared, Mapping):
            raise ValueError("max_remove maps kind names (or default) to a count or a percentage")
        limits: dict[str, RemovalLimit] = {}
        for kind, value in declared.items():
            try:
                limits[str(kind)] = RemovalLimit.parse(value)
            except ValueError as exc:
                raise ValueError(f"{kind}: {exc}") from None
        return limits

    def removal_limit(self, kind: str) -> RemovalLimit:
        """The kind's ``max_remove``, else the configured default, else 10%."""
        found = self.max_remove.get(kind) or self.max_remove.get("default")
        return found or RemovalLimit.parse(DEFAULT_MAX_REMOVE)

    @field_validator("subscriptions")
    @classmethod
    def _public_targets(
        cls, declared: list[SubscriptionSettings], info: ValidationInfo
    ) -> list[SubscriptionSettings]:
        allow = bool(info.data.get("allow_private_urls", False))
        for sub in declared:
            try:
                check_url_target(sub.url, allow_private=allow)
            except ValueError as exc:
                raise ValueError(f"subscription {sub.name!r}: {exc}") from None
        return declared

    @property
    def entity_schemas_dir(self) -> Path:
        return self.schemas_dir / "entities"

    @property
    def event_schemas_dir(self) -> Path:
        return self.schemas_dir / "events"


def load_settings(
    path: Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Settings from the config file, the environment and explicit overrides (in that order)."""
    env = os.environ if env is None else env
    if path is None and env.get("DELTAHOOK_CONFIG"):
        path = Path(env["DELTAHOOK_CONFIG"])
    if path is None and Path(CONFIG_FILE).is_file():
        path = Path(CONFIG_FILE)
    source = read_config(path) if path is not None else None
    data = dict(source.data) if source is not None else {}
    base = path.resolve().parent if path is not None else Path.cwd()
    origins = {field: name for name, field in _ENV.items() if env.get(name)}
    data.update({field: env[name] for field, name in origins.items()})
    if env.get("DELTAHOOK_API_KEYS"):
        data["api_keys"] = [k.strip() for k in env["DELTAHOOK_API_KEYS"].split(",") if k.strip()]
        origins["api_keys"] = "DELTAHOOK_API_KEYS"
    data.update(overrides or {})
    origins.update(dict.fromkeys(overrides or {}, "settings"))
    _resolve_paths(data, base)
    return _validated(data, source, origins)


def _resolve_paths(data: dict[str, Any], base: Path) -> None:
    for name in ("schemas_dir", "rules_dir"):
        if name in data:
            data[name] = base / Path(data[name])
    url = data.get("database_url")
    if isinstance(url, str) and url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        relative = url.removeprefix("sqlite:///")
        if relative and relative != ":memory:":
            data["database_url"] = f"sqlite:///{base / relative}"


def _validated(
    data: dict[str, Any], source: ConfigSource | None, origins: dict[str, str]
) -> Settings:
    """The settings, or ``ConfigError`` with every problem (the file's located)."""
    problems = list(source.problems) if source is not None else []
    settings = None
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        fields = {"": Settings.model_fields, "subscriptions": SubscriptionSettings.model_fields}
        problems += validation_problems(exc, source=source, origins=origins, fields=fields)
    known = _event_types(settings.schemas_dir if settings else data.get("schemas_dir"))
    if known is not None:
        problems += event_type_problems(data, source=source, origins=origins, known=known)
    if problems or settings is None:
        raise_problems(problems)
    assert settings is not None
    return settings


def _event_types(schemas_dir: Any) -> frozenset[str] | None:
    """The event types subscriptions may name, or None when the catalog cannot be read."""
    from deltahook.catalog.events import load_event_catalog

    folder = Path(schemas_dir) if isinstance(schemas_dir, str | Path) else shipped("schemas")
    try:
        return frozenset(load_event_catalog(folder / "events").names())
    except (CatalogError, OSError):
        return None  # reported by whatever needs the catalog
