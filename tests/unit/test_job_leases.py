"""When a running job counts as abandoned, and when its lease is renewed."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from deltahook.ownership import process_gone, this_process
from deltahook.store import jobs

NOW = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("gone", "lease", "abandoned"),
    [
        (True, timedelta(minutes=5), True),  # its process ended on this host: lease or not
        (False, timedelta(minutes=-5), False),  # it runs on this host (a slow feed): kept
        (None, timedelta(seconds=-1), True),  # another host: the lease ran out
        (None, timedelta(minutes=5), False),  # another host: the lease still holds
        (None, None, False),  # no lease recorded (before leases): never guessed dead
    ],
)
def test_a_job_is_abandoned_when_its_process_is_gone_or_else_its_lease_ran_out(
    gone: bool | None, lease: timedelta | None, abandoned: bool
) -> None:
    """The process's fate decides where it can be seen; the lease decides elsewhere."""
    lease_until = None if lease is None else NOW + lease
    verdict = jobs.is_abandoned(owner="h:1", lease_until=lease_until, now=NOW, gone=lambda _: gone)
    assert verdict is abandoned


def test_a_lease_is_renewed_by_an_idle_batch_after_a_quarter_of_its_length() -> None:
    """A batch that commits nothing renews the lease only once a quarter of it has passed."""
    now = [NOW]
    lease = jobs.Lease(job_id="j", clock=lambda: now[0], lease_s=600, renewed_at=NOW)
    now[0] = NOW + timedelta(seconds=149)
    assert not lease.due()
    now[0] = NOW + timedelta(seconds=150)
    assert lease.due()
    assert lease.until(now[0]) == now[0] + timedelta(seconds=600)


def test_this_process_runs_and_an_ended_one_is_gone() -> None:
    """host:pid of a live process is not gone; of a reaped child it is; elsewhere: unknown."""
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    host = this_process().rpartition(":")[0]
    assert process_gone(this_process()) is False
    assert process_gone(f"{host}:{child.stdout.strip()}") is True
    assert process_gone(f"another-host-{os.getpid()}:1") is None
    assert process_gone(None) is None
