"""One attempt of a claimed delivery: build its request, send it, map what happened, and record
the attempt's end (its record, the delivery's next state, the lane's endpoint health).

An error of our own inside an attempt (building, signing, the HTTP layer) is that attempt's
failure, with its traceback; a request that cannot be built (e.g. an event id that cannot be
signed) fails it with that reason. Neither says anything of the endpoint's health. The
dispatcher (``dispatcher.py``) decides when an attempt starts; this module, what it comes to.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from deltahook import counting
from deltahook.clock import Clock
from deltahook.delivery import journal, shared_health
from deltahook.delivery.claims import Claimed, Finished
from deltahook.delivery.health import Change, after_attempt
from deltahook.delivery.lanes import Lane
from deltahook.delivery.recorder import Recorder
from deltahook.delivery.requests import request_for
from deltahook.delivery.retry import AttemptResult, next_attempt_at
from deltahook.delivery.sender import Outcome, Sender
from deltahook.delivery.status import DeliveryStatus

logger = logging.getLogger("deltahook.delivery")
GONE_ERROR = "410 Gone: the endpoint says it was removed; not retried, subscription switched off"


@dataclass(slots=True, kw_only=True)
class RunStats:
    """What one ``run`` did."""

    attempts: int = 0
    delivered: int = 0
    retrying: int = 0
    dead: int = 0

    def count(self, status: DeliveryStatus) -> None:
        self.attempts += 1
        setattr(self, status, getattr(self, status) + 1)

    def snapshot(self) -> dict[str, int]:
        ended = (DeliveryStatus.DELIVERED, DeliveryStatus.RETRYING, DeliveryStatus.DEAD)
        return {"attempts": self.attempts} | {s.value: getattr(self, s.value) for s in ended}


class Attempts:
    """Makes the attempts of one dispatcher ``run``: its sender, recorder and counts."""

    def __init__(
        self,
        *,
        sender: Sender,
        recorder: Recorder,
        stats: RunStats,
        clock: Clock,
        jitter: Callable[[], float],
        client_id: int,
        categories: Mapping[str, str],
    ) -> None:
        self._sender = sender
        self._recorder = recorder
        self._stats = stats
        self._clock = clock
        self._jitter = jitter
        self._client_id = client_id
        self._categories = categories

    async def make(self, lane: Lane, item: Claimed) -> None:
        """Send ``item`` now and hand its end to the recorder; a bug while recording the end is
        logged, and the lease brings the delivery back."""
        started_at = self._clock()
        outcome, ours, trace = await self._outcome(lane, item, started_at)
        try:
            finished = self._finished(lane, item, started_at, outcome, ours=ours, trace=trace)
        except Exception:
            logger.exception(
                "recording attempt %d of delivery %s (subscription %s) failed; its "
                "lease will run out and it will be tried again",
                item.attempt,
                item.id,
                lane.sub.name,
            )
            return
        self._recorder.add(finished)

    async def _outcome(
        self, lane: Lane, item: Claimed, started_at: datetime
    ) -> tuple[Outcome, bool, str | None]:
        """Send ``item``: what happened, whether the error is our own, and the traceback of an
        unexpected one (building, signing, the HTTP layer), which is the attempt's failure.
        Both are blanked of the lane's credentials."""
        began = time.perf_counter()
        try:
            outcome, ours = await self._send(lane, item, started_at)
            return outcome, ours, None
        except Exception as exc:
            error = f"{journal.INTERNAL}{type(exc).__name__}: {exc}"
            outcome = Outcome(
                result=AttemptResult(error=lane.creds.redact(error)),
                duration_ms=(time.perf_counter() - began) * 1000.0,
            )
            return outcome, True, lane.creds.redact("".join(traceback.format_exception(exc)))

    async def _send(self, lane: Lane, item: Claimed, started_at: datetime) -> tuple[Outcome, bool]:
        """What sending ``item`` came to, and whether it failed before reaching the endpoint."""
        try:
            body, headers = request_for(
                lane.sub,
                lane.creds,
                message_id=item.notification_id,
                event_type=item.event_type,
                timestamp=started_at,
                payload=item.body,
                detected_at=item.detected_at,
                client_id=str(self._client_id),
                categories=self._categories,
            )
        except ValueError as exc:  # e.g. an event id with a '.' cannot be signed
            error = AttemptResult(error=f"cannot build the request: {exc}")
            return Outcome(result=error, duration_ms=0.0), True
        sent = await self._sender.send(
            url=lane.sub.url, body=body, headers=headers, timeout=lane.sub.timeout
        )
        return sent, False

    def _finished(
        self,
        lane: Lane,
        item: Claimed,
        started_at: datetime,
        outcome: Outcome,
        *,
        ours: bool = False,
        trace: str | None = None,
    ) -> Finished:
        """The attempt's record and the delivery's next state; an error of our own (``ours``;
        ``trace``, an unexpected one's traceback) says nothing of the endpoint's health."""
        result = outcome.result
        now = self._clock()
        due = None
        if not result.succeeded:
            due = next_attempt_at(
                attempt=item.step,
                result=result,
                now=now,
                schedule=lane.sub.schedule,
                jitter=self._jitter(),
            )
        status = DeliveryStatus.after(succeeded=result.succeeded, retry_at=due)
        self._stats.count(status)
        if (metrics := counting.telemetry()) is not None:
            metrics.attempt(lane.sub.name, status.value, seconds=outcome.duration_ms / 1000)
        journal.attempt(
            subscription=lane.sub.name,
            item=item,
            result=result,
            status=status,
            next_attempt_at=due,
            trace=trace,
        )
        if not ours:
            self._judge(lane, result, now)
        return Finished(
            delivery_id=item.id,
            attempt=item.attempt,
            started_at=started_at,
            duration_ms=round(outcome.duration_ms, 3),
            status_code=result.status_code,
            excerpt=lane.creds.redact(outcome.excerpt),
            error=GONE_ERROR if result.gone else lane.creds.redact(result.error),
            status=status,
            next_attempt_at=due,
        )

    def _judge(self, lane: Lane, result: AttemptResult, now: datetime) -> None:
        """Update the lane's endpoint health at once (it stops sending as soon as it can tell);
        the recorder merges the outcome into the store's, which decides the moments."""
        lane.health, change = after_attempt(
            lane.health,
            succeeded=result.succeeded,
            status_code=result.status_code,
            now=now,
            policy=lane.sub.policy,
        )
        if change is Change.DISABLED:
            lane.active = False
        self._recorder.outcome(
            lane.sub.name,
            shared_health.Outcome(
                succeeded=result.succeeded, status_code=result.status_code, at=now
            ),
        )
