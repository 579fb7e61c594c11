"""Lanes: each enabled subscription at run time, with its own concurrency and claim size.

A lane sends at most ``max_concurrency`` requests at once and holds (claimed, queued or in
flight) at most ``prefetch`` times that many deliveries; it claims again once its backlog is
down to one round of requests, so a claim's wait for a slot stays within one attempt's time
and the lease (``claims.lease_for``) covers it.

A lane with a rate limit claims no more than its token bucket holds (``ratelimit.py``, in the
claim's transaction); one whose circuit is open (``health.py``) claims nothing until the
cooldown ends, then one probe, which one dispatcher alone takes
(``shared_health.claim_probe``). A lane's health is the store's, shared by every dispatcher
(``shared_health.py``), judged locally between reads.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from deltahook.delivery import claims
from deltahook.delivery.credentials import Credentials, resolve
from deltahook.delivery.health import Health
from deltahook.delivery.shared_health import Outcome, replay
from deltahook.delivery.subscriptions import Subscription
from deltahook.errors import DeliveryError

logger = logging.getLogger("deltahook.delivery")


@dataclass(slots=True, kw_only=True)
class Lane:
    """One subscription at run time: its settings, resolved headers and concurrency."""

    sub: Subscription
    creds: Credentials
    slots: asyncio.Semaphore
    health: Health = field(default_factory=Health)
    held: int = 0
    active: bool = True

    def want(self, *, prefetch: int, margin: timedelta, now: datetime) -> claims.Want | None:
        """How many to claim now, or ``None`` while the lane's backlog is more than a round,
        or its circuit is open (a probe is one claim, alone); the claim applies the rate limit."""
        limit = self.sub.max_concurrency
        if not self.active or self.held > (prefetch - 1) * limit or self.health.blocked(now):
            return None
        count = prefetch * limit - self.held
        probe = self.health.circuit_until is not None  # cooldown over: one probe at a time
        if probe:
            count = 0 if self.held else 1
        if count <= 0:
            return None
        rate = self.sub.rate_limit
        return claims.Want(
            count=count,
            lease=claims.lease_for(self.sub.timeout, margin=margin),
            retries=len(self.sub.schedule),
            rate=rate,
            burst=self.sub.rate_burst or max(1, math.ceil(rate or 1)),
            probe=self.sub.policy.cooldown if probe else None,
        )

    def refill_due(self, *, prefetch: int) -> bool:
        """True when the backlog has just come down to where the lane claims again."""
        return self.held == (prefetch - 1) * self.sub.max_concurrency


class Lanes:
    """The lanes of every subscription seen, kept in step with the store."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self._env = env
        self._lanes: dict[str, Lane] = {}
        self._paused: dict[str, str] = {}

    def __getitem__(self, name: str) -> Lane:
        return self._lanes[name]

    def new_slots(self) -> None:
        """Give every lane fresh slots at the start of a run, which may be on a new event loop
        (a semaphore that has been waited on belongs to that loop). Nothing is in flight."""
        for lane in self._lanes.values():
            lane.slots = asyncio.Semaphore(lane.sub.max_concurrency)

    def wants(self, *, prefetch: int, margin: timedelta, now: datetime) -> dict[str, claims.Want]:
        found = {}
        for name, lane in self._lanes.items():
            want = lane.want(prefetch=prefetch, margin=margin, now=now)
            if want is not None:
                found[name] = want
        return found

    def adopt(self, found: Mapping[str, Health], unmerged: Mapping[str, Sequence[Outcome]]) -> None:
        """Take the endpoint health the store holds now, the lanes' own outcomes not merged
        into it yet replayed on top."""
        for name, health in found.items():
            lane = self._lanes.get(name)
            if lane is not None:
                outcomes = unmerged.get(name, ())
                lane.health = replay(health, outcomes, policy=lane.sub.policy)

    def update(
        self,
        stored: Iterable[Subscription],
        unmerged: Mapping[str, Sequence[Outcome]] | None = None,
    ) -> dict[str, str | None]:
        """Open, change or pause lanes; claims already made finish on the lane they hold.

        Returns, for each enabled subscription, why its lane is paused (a ``${VAR}`` that
        cannot be filled) or ``None``; a reason is logged when it first appears. Each lane takes
        the stored endpoint health, with its ``unmerged`` outcomes replayed on top.
        """
        seen = set()
        reasons: dict[str, str | None] = {}
        for sub in stored:
            seen.add(sub.name)
            if sub.enabled:
                reasons[sub.name] = self._update_one(sub, (unmerged or {}).get(sub.name, ()))
            elif sub.name in self._lanes:
                self._lanes[sub.name].active = False
        for name, lane in self._lanes.items():
            if name not in seen:
                lane.active = False
        return reasons

    def _update_one(self, sub: Subscription, unmerged: Sequence[Outcome]) -> str | None:
        lane = self._lanes.get(sub.name)
        try:
            creds = resolve(sub, self._env)
        except DeliveryError as exc:
            reason = str(exc)
            if reason != self._paused.get(sub.name):
                logger.error("%s; its deliveries wait, the other subscriptions go on", reason)
            self._paused[sub.name] = reason
            if lane is not None:
                lane.active = False
            return reason
        self._paused.pop(sub.name, None)
        health = replay(sub.health, unmerged, policy=sub.policy)
        if lane is None:
            slots = asyncio.Semaphore(sub.max_concurrency)
            self._lanes[sub.name] = Lane(sub=sub, creds=creds, slots=slots, health=health)
            return None
        if sub.max_concurrency != lane.sub.max_concurrency:
            lane.slots = asyncio.Semaphore(sub.max_concurrency)
        lane.sub, lane.creds, lane.active, lane.health = sub, creds, True, health
        return None
