"""Endpoint health kept in the store and shared by every dispatcher.

A dispatcher judges its lanes' health as attempts end (so a lane stops at once), but the store
decides: each attempt's outcome goes to the recorder, which applies the batch's outcomes to the
health the store holds, its row locked (``FOR UPDATE`` on PostgreSQL; SQLite's batch holds the
write lock), in the transaction that records the attempts. Failures from several dispatchers add
up to one count, each moment (circuit opened, closed, subscription switched off) is found once,
and every dispatcher's lanes take the merged health back (after each batch, and when they read
the subscriptions again), with their own outcomes not merged yet replayed on top (``replay``).
When a cooldown ends, one dispatcher takes the probe (``claim_probe``); the others see the
circuit still open.

A subscription switched off by a 410 Gone has its queued deliveries ended as dead, with the
reason (as deleting it does): nothing waits for an endpoint that said it is gone, and nothing is
lost either; once an operator switches it on again, ``recover`` sends them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, select, update

from deltahook.delivery import operational, queue
from deltahook.delivery import subscriptions as subs
from deltahook.delivery.health import Change, Health, HealthPolicy, after_attempt
from deltahook.delivery.retry import GONE
from deltahook.delivery.status import QUEUED
from deltahook.errors import UnknownSubscriptionError
from deltahook.store.tables import deliveries, subscriptions

ENDED_GONE = "not sent: the endpoint answered 410 Gone and its subscription was switched off"
"""The error of a queued delivery ended because its endpoint is gone."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """How one attempt that reached (or tried to reach) the endpoint ended."""

    succeeded: bool
    status_code: int | None
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Merged:
    """The stored health after a batch, and the moments it marked (with their events)."""

    health: dict[str, Health]
    moments: list[tuple[str, operational.Verdict]]


def merge(
    conn: Connection,
    outcomes: Mapping[str, Sequence[Outcome]],
    *,
    client_id: int,
    now: datetime,
) -> Merged:
    """Apply each subscription's outcomes, in time order, to its stored health; record it, and
    switch off the subscriptions that failed for their whole window (caller's transaction)."""
    merged = Merged(health={}, moments=[])
    for name in sorted(outcomes):  # one lock order for every dispatcher
        try:
            sub = subs.get(conn, name, locked=True, values_only=True)
        except UnknownSubscriptionError:
            continue  # deleted meanwhile: nothing to keep
        health, enabled = sub.health, sub.enabled
        values: dict[str, object] = {}
        for outcome in sorted(outcomes[name], key=lambda o: o.at):
            verdict = operational.judge(
                name,
                health,
                policy=sub.policy,
                succeeded=outcome.succeeded,
                status_code=outcome.status_code,
                client_id=client_id,
                now=outcome.at,
            )
            health = verdict.health
            if verdict.change is None or (verdict.change is Change.DISABLED and not enabled):
                continue  # a straggler's failure after the switch-off tells nobody again
            merged.moments.append((name, verdict))
            if verdict.disabled is not None:
                enabled = False
                values = {"enabled": False, "disabled_reason": verdict.disabled, "updated_at": now}
                if outcome.status_code == GONE:
                    queue.end_queued(conn, name, ENDED_GONE, now=now)
        if values:
            conn.execute(
                update(subscriptions)
                .where(subscriptions.c.name == name)
                .values(**subs.health_values(health), **values)
            )
        else:
            stored = {f"h_{k}": v for k, v in subs.health_values(health).items()}
            conn.execute(subs.health_statement(), {"h_name": name, **stored})
        merged.health[name] = health
    return merged


def claim_probe(conn: Connection, name: str, *, hold: timedelta, now: datetime) -> bool:
    """Take the probe of ``name``'s circuit, whose cooldown has ended, for this dispatcher alone.

    One compare-and-set: the stored ``circuit_until`` moves ``hold`` on only if it has passed
    and a delivery is due to probe with. Every other dispatcher then finds the circuit open and
    waits; the probe's outcome closes it or opens it again (``merge``), and a prober that dies
    leaves the next probe to whoever comes after ``hold``. False when another took it first.
    """
    s, d = subscriptions.c, deliveries.c
    due = select(d.id).where(d.subscription == name, d.next_attempt_at <= now, d.status.in_(QUEUED))
    taken = conn.execute(
        update(subscriptions)
        .where(s.name == name, s.circuit_until <= now, due.exists())
        .values(circuit_until=now + hold)
    )
    return taken.rowcount == 1


def replay(health: Health, outcomes: Sequence[Outcome], *, policy: HealthPolicy) -> Health:
    """``health`` after ``outcomes`` (a lane's own, not merged into the store yet)."""
    for outcome in outcomes:
        health, _change = after_attempt(
            health,
            succeeded=outcome.succeeded,
            status_code=outcome.status_code,
            now=outcome.at,
            policy=policy,
        )
    return health
