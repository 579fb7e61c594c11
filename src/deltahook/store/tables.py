"""The database tables, in SQLAlchemy Core: one metadata for SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.sql.expression import false
from sqlalchemy.types import TypeDecorator

# The longest entity key, parent key and scope, and the longest field path of a rejected record,
# the store keeps (PostgreSQL refuses longer ones; admission rejects them on every database).
KEY_LENGTH = 512
FIELD_LENGTH = 256
WORKER_ID_LENGTH = 64  # a dispatcher's name, in its leases and heartbeat


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every dialect (SQLite keeps no offset of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; pass a timezone-aware one")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

entities = Table(
    "entities",
    metadata,
    Column("kind", String(64), primary_key=True),
    Column("key", String(KEY_LENGTH), primary_key=True),
    Column("parent_key", String(KEY_LENGTH), nullable=True),
    Column("scope", String(KEY_LENGTH), nullable=False),
    Column("hash", LargeBinary(16), nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("job_id", String(36), nullable=True),
    # Hash of the NDJSON line the snapshot was made from: the same line again is no change.
    Column("line_hash", LargeBinary(16), nullable=True),
    # No index by parent_key: nothing reads entities by it (0018 dropped the one there was).
    Index(None, "kind", "scope"),
    # Unchanged lines are found by their hash alone, before anything parses them; key and
    # scope ride along so that the lookup never reads the (large) rows themselves.
    Index(None, "kind", "line_hash", "key", "scope"),
)

# Which entity references which (a SKU's ManufacturerCode names a manufacturer), from the
# ``references`` of each kind's schema annotation: read by the referenced side, one page of
# keys at a time, to fan a manufacturer's change out to its SKUs.
entity_refs = Table(
    "entity_refs",
    metadata,
    Column("ref_kind", String(64), primary_key=True),
    Column("ref_key", String(KEY_LENGTH), primary_key=True),
    Column("kind", String(64), primary_key=True),
    Column("key", String(KEY_LENGTH), primary_key=True),
    Index(None, "kind", "key"),
    # On SQLite the primary key is the table: no rowid B-tree beside it (0018).
    sqlite_with_rowid=False,
)

# Every row change an ingest stored, compact (the changed fields only, old and new), kept as
# long as the delivery log: ``rules diff`` replays the recent past from it.
change_log = Table(
    "change_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", String(36), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("kind", String(64), nullable=False),
    Column("entity_key", String(KEY_LENGTH), nullable=False),
    Column("parent_key", String(KEY_LENGTH), nullable=True),
    Column("row_table", String(128), nullable=False),
    Column("row_key", LargeBinary, nullable=False),
    Column("op", String(8), nullable=False),
    Column("fields", LargeBinary, nullable=False),
    Index(None, "job_id"),
    Index(None, "at"),
)

ingest_jobs = Table(
    "ingest_jobs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("kind", String(64), nullable=False),
    Column("mode", String(16), nullable=False),
    Column("source", Text, nullable=False),
    Column("status", String(32), nullable=False),  # a JobStatus
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    Column("received", Integer, nullable=False, default=0),
    Column("rejected", Integer, nullable=False, default=0),
    Column("duplicates", Integer, nullable=False, default=0),
    Column("unchanged", Integer, nullable=False, default=0),
    Column("inserted", Integer, nullable=False, default=0),
    Column("updated", Integer, nullable=False, default=0),
    Column("deleted", Integer, nullable=False, default=0),
    Column("notifications", Integer, nullable=False, default=0),
    # The process running the job (host:pid) and until when it holds it: renewed as batches
    # commit; a running job whose process is gone or whose lease ran out was abandoned.
    Column("owner", String(255), nullable=True),
    Column("lease_until", UTCDateTime, nullable=True),
    # A baseline load: snapshots and rule state stored, no notification decided or queued.
    Column("baseline", Boolean, nullable=False, default=False, server_default=false()),
    # PostgreSQL's line index checks the other jobs of its kind in every batch (freshness.py).
    Index(None, "kind"),
    # The abandoned-job check reads the running jobs; the console lists the newest first.
    Index(None, "status"),
    Index(None, "started_at", "id"),
)

job_rejects = Table(
    "job_rejects",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", String(36), ForeignKey("ingest_jobs.id", ondelete="CASCADE"), nullable=False),
    Column("line", Integer, nullable=False),
    Column("field", String(FIELD_LENGTH), nullable=True),
    Column("reason", Text, nullable=False),
    Index(None, "job_id"),
)

notifications = Table(
    "notifications",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("type", String(128), nullable=False),
    Column("family", String(16), nullable=False),
    Column("entity_kind", String(64), nullable=True),
    Column("entity_key", String(512), nullable=True),
    Column("job_id", String(36), nullable=True),
    Column("idempotency_key", String(256), nullable=True, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("explanation", LargeBinary, nullable=True),
    Index(None, "created_at"),
    Index(None, "type", "created_at"),
    # An entity's newest notifications (``entities show``): one range, not a scan of them all.
    Index(None, "entity_kind", "entity_key", "created_at"),
)

rule_state = Table(
    "rule_state",
    metadata,
    Column("rule", String(256), primary_key=True),
    Column("row_key", String(512), primary_key=True),
    Column("state", String(32), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("url", Text, nullable=False),
    Column("event_types", Text, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("header_style", String(16), nullable=False),
    Column("headers", Text, nullable=False),
    Column("secrets", Text, nullable=False),
    Column("timeout_s", Float, nullable=False),
    Column("schedule_s", Text, nullable=False),
    Column("max_concurrency", Integer, nullable=False),
    Column("source", String(16), nullable=False),
    # The config file's own `enabled` at the last sync: a CLI toggle holds until it changes.
    Column("config_enabled", Boolean, nullable=True),
    # Why a dispatcher holds its deliveries (a ${VAR} it cannot fill); NULL when nothing does.
    Column("paused", Text, nullable=True),
    # Pacing and health policy (delivery/health.py, delivery/ratelimit.py).
    Column("circuit_after", Integer, nullable=False, server_default="20"),
    Column("circuit_cooldown_s", Float, nullable=False, server_default="60"),
    Column("disable_after_s", Float, nullable=False, server_default="432000"),
    Column("rate_limit", Float, nullable=True),
    Column("rate_burst", Integer, nullable=True),
    # The rate limit's token bucket, shared by every dispatcher (delivery/ratelimit.py).
    Column("rate_tokens", Float, nullable=True),
    Column("rate_at", UTCDateTime, nullable=True),
    # Endpoint health, as the dispatcher records it.
    Column("failures", Integer, nullable=False, server_default="0"),
    Column("failing_since", UTCDateTime, nullable=True),
    Column("last_success_at", UTCDateTime, nullable=True),
    Column("last_attempt_at", UTCDateTime, nullable=True),
    Column("last_status_code", Integer, nullable=True),
    Column("circuit_until", UTCDateTime, nullable=True),
    # Why the dispatcher switched it off (nothing but failures for disable_after).
    Column("disabled_reason", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", String(36), primary_key=True),
    Column(
        "notification_id",
        String(36),
        ForeignKey("notifications.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("subscription", String(128), nullable=False),
    Column("event_type", String(128), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    # Attempts made before the last resend: the retry schedule restarts from there.
    Column("retry_base", Integer, nullable=False, default=0, server_default="0"),
    Column("next_attempt_at", UTCDateTime, nullable=True),
    Column("lease_until", UTCDateTime, nullable=True),
    Column("leased_by", String(WORKER_ID_LENGTH), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("last_status_code", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Index(None, "status", "next_attempt_at"),
    Index(None, "subscription", "created_at"),
    # Claims: a subscription's due deliveries in due order (delivered and dead ones hold NULL).
    Index(None, "subscription", "next_attempt_at"),
    Index(None, "notification_id"),
    # The Log tab and per-type counts: one range per event type, read backwards in the log's
    # order (newest first, then id descending), so a page stops after its rows.
    Index(None, "event_type", "created_at", "id"),
)

attempts = Table(
    "attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "delivery_id", String(36), ForeignKey("deliveries.id", ondelete="CASCADE"), nullable=False
    ),
    Column("number", Integer, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("duration_ms", Float, nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("response_excerpt", Text, nullable=True),
    Column("error", Text, nullable=True),
    Column("worker", String(WORKER_ID_LENGTH), nullable=True),
    Index(None, "delivery_id"),
)

# Console sessions signed out before they expire (console/auth.py): a signed cookie would
# outlive its sign-out otherwise. A row goes once its session would have expired anyway.
console_signouts = Table(
    "console_signouts",
    metadata,
    Column("session", String(64), primary_key=True),
    Column("expires_at", UTCDateTime, nullable=False),
)

# One row per running dispatcher, touched every few seconds; a clean stop removes its row.
dispatchers = Table(
    "dispatchers",
    metadata,
    Column("worker_id", String(WORKER_ID_LENGTH), primary_key=True),
    Column("started_at", UTCDateTime, nullable=False),
    Column("seen_at", UTCDateTime, nullable=False),
)
