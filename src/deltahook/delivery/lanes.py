"""Lanes: each enabled subscription at run time, with its own concurrency and claim size.

A lane sends at most ``max_concurrency`` requests at once and holds (claimed, queued or in
flight) at most ``prefetch`` times that many deliveries; it claims again once its backlog is
down to one round of requests, so a claim's wait for a slot stays within one attempt's time
and the lease (``claims.lease_for``) covers it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta

from deltahook.delivery import claims
from deltahook.delivery import subscriptions as subs
from deltahook.delivery.subscriptions import Credentials, Subscription
from deltahook.errors import DeliveryError

logger = logging.getLogger("deltahook.delivery")


@dataclass(slots=True, kw_only=True)
class Lane:
    """One subscription at run time: its settings, resolved headers and concurrency."""

    sub: Subscription
    creds: Credentials
    slots: asyncio.Semaphore
    held: int = 0
    active: bool = True

    def want(self, *, prefetch: int, margin: timedelta) -> claims.Want | None:
        """How many to claim now, or ``None`` while the lane's backlog is more than a round."""
        limit = self.sub.max_concurrency
        if not self.active or self.held > (prefetch - 1) * limit:
            return None
        return claims.Want(
            count=prefetch * limit - self.held,
            lease=claims.lease_for(self.sub.timeout, margin=margin),
            retries=len(self.sub.schedule),
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

    def wants(self, *, prefetch: int, margin: timedelta) -> dict[str, claims.Want]:
        found = {}
        for name, lane in self._lanes.items():
            want = lane.want(prefetch=prefetch, margin=margin)
            if want is not None:
                found[name] = want
        return found

    def update(self, stored: Iterable[Subscription]) -> dict[str, str | None]:
        """Open, change or pause lanes; claims already made finish on the lane they hold.

        Returns, for each enabled subscription, why its lane is paused (a ``${VAR}`` that
        cannot be filled) or ``None``; a reason is logged when it first appears.
        """
        seen = set()
        reasons: dict[str, str | None] = {}
        for sub in stored:
            seen.add(sub.name)
            if sub.enabled:
                reasons[sub.name] = self._update_one(sub)
            elif sub.name in self._lanes:
                self._lanes[sub.name].active = False
        for name, lane in self._lanes.items():
            if name not in seen:
                lane.active = False
        return reasons

    def _update_one(self, sub: Subscription) -> str | None:
        lane = self._lanes.get(sub.name)
        try:
            creds = subs.resolve(sub, self._env)
        except DeliveryError as exc:
            reason = str(exc)
            if reason != self._paused.get(sub.name):
                logger.error("%s; its deliveries wait, the other subscriptions go on", reason)
            self._paused[sub.name] = reason
            if lane is not None:
                lane.active = False
            return reason
        self._paused.pop(sub.name, None)
        if lane is None:
            slots = asyncio.Semaphore(sub.max_concurrency)
            self._lanes[sub.name] = Lane(sub=sub, creds=creds, slots=slots)
            return None
        if sub.max_concurrency != lane.sub.max_concurrency:
            lane.slots = asyncio.Semaphore(sub.max_concurrency)
        lane.sub, lane.creds, lane.active = sub, creds, True
        return None
