"""The settings model in pydantic: the reference ``deltahook.config.Settings`` agrees with.

``Settings`` checks plainly valid values itself (no pydantic on a command's start-up); every
other input comes here, so coercions and every error message are pydantic's, as they were.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from deltahook.config import LONGEST_LEASE_S, removal_limits, shipped
from deltahook.delivery.settings import SubscriptionSettings, check_url_target
from deltahook.feeds.limits import RemovalLimit


class SettingsModel(BaseModel):
    """The settings as pydantic validates them: ``config.Settings``'s reference (see there)."""

    model_config = ConfigDict(frozen=True, extra="forbid", title="Settings")

    database_url: str = "sqlite:///.deltahook/deltahook.db"
    schemas_dir: Path = Field(default_factory=lambda: shipped("schemas"))
    rules_dir: Path = Field(default_factory=lambda: shipped("rules"))
    constants: dict[str, Any] = Field(default_factory=lambda: {"ClientId": 1, "ApplicationId": 1})
    batch_size: int = Field(default=2000, ge=1, le=50_000)
    job_events: bool = True
    change_log: bool = True  # the stored row changes, kept as long as the delivery log
    # A running ingest renews its job's lease as batches commit; a job whose lease ran out
    # (and whose process cannot be seen to run on this host) is marked abandoned.
    job_lease_s: float = Field(default=600.0, gt=0, le=LONGEST_LEASE_S)
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
        return removal_limits(declared)

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
