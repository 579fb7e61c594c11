"""The dispatcher's upkeep between claims, each chore on its own timer: the subscriptions read
again into the lanes (recording which are paused, and why), the heartbeat that /healthz,
/metrics and the console read, and the purge of the delivery log past its retention.

``dispatcher.py`` claims deliveries and starts their attempts; these chores only keep what it
works from current. One that fails is logged and tried again later, except the first read of
the subscriptions, without which a run cannot start. A database that stopped answering is
not logged here (the dispatcher's outage says so once); the chores run again once it answers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from deltahook.clock import Clock
from deltahook.delivery import heartbeat, queue
from deltahook.delivery import subscriptions as subs
from deltahook.delivery.lanes import Lanes
from deltahook.delivery.recorder import InDb
from deltahook.delivery.shared_health import Outcome
from deltahook.errors import StoreUnavailableError

if TYPE_CHECKING:
    from deltahook.delivery.dispatcher import DispatcherOptions

logger = logging.getLogger("deltahook.delivery")


class Upkeep:
    """One dispatcher's chores; ``in_db`` runs a store function on its database thread."""

    def __init__(
        self, *, options: DispatcherOptions, lanes: Lanes, in_db: InDb, clock: Clock
    ) -> None:
        self._options = options
        self._lanes = lanes
        self._in_db = in_db
        self._clock = clock
        self._refreshed_at = -1e9
        self._purged_at: datetime | None = None

    async def refresh(
        self,
        at: float,
        *,
        unmerged: Callable[[], Mapping[str, Sequence[Outcome]]],
        force: bool = False,
    ) -> None:
        """Beat and read the subscriptions again when ``refresh_every`` seconds of the loop's
        clock have passed since the last time (``at`` is its time now), or when ``force``d;
        ``unmerged`` gives the outcomes the store does not hold yet."""
        if not force and at - self._refreshed_at < self._options.refresh_every:
            return
        self._refreshed_at = at
        try:
            await self.beat()
            stored = await self._in_db(subs.load)
        except StoreUnavailableError:
            self._refreshed_at = -1e9  # at once when it answers again
            return
        except Exception:
            if force:
                raise
            logger.exception("reading subscriptions failed; keeping the ones known")
            return
        reasons = self._lanes.update(stored, unmerged())
        changed = {
            s.name: reasons[s.name] for s in stored if reasons.get(s.name, s.paused) != s.paused
        }
        if changed:
            try:
                await self._in_db(subs.set_paused, changed)
            except StoreUnavailableError:
                self._refreshed_at = -1e9
            except Exception:
                logger.exception("recording paused subscriptions failed; trying again later")

    async def beat(self) -> None:
        """Tell /healthz, /metrics and the console that this dispatcher is alive; a
        ``StoreUnavailableError`` when the database stopped answering."""
        try:
            await self._in_db(heartbeat.beat, self._options.worker_id, now=self._clock())
        except StoreUnavailableError:
            raise
        except Exception:
            logger.exception("recording the heartbeat failed; trying again later")

    async def purge(self) -> None:
        """Purge the delivery log when ``purge_every`` has passed since the last purge (the
        first time at once); the dispatcher's later runs keep the timer."""
        every = self._options.purge_every
        now = self._clock()
        if every is None or (self._purged_at is not None and now - self._purged_at < every):
            return
        purged_at, self._purged_at = self._purged_at, now
        try:
            await self._in_db(queue.purge, before=now - self._options.retention)
        except StoreUnavailableError:
            self._purged_at = purged_at  # due as before once it answers again
        except Exception:
            logger.exception("purging the delivery log failed; trying again later")
