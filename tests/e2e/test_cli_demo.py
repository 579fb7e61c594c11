"""The README's first command: the demo tells the whole story and delivers everything."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from deltahook.cli import main


def test_demo_delivers_every_notification_of_v2_to_its_receiver(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """v1 and v2 are ingested, and every v2 notification reaches the local receiver."""
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["demo"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    delivered = re.search(r"(\d+) attempts, (\d+) delivered, 0 to retry, 0 dead", result.output)
    assert delivered is not None, result.output
    attempts, count = map(int, delivered.groups())
    assert attempts == count > 0
    assert f"the receiver got {count} signed requests" in result.output
    assert "SkuOnHandBreakPointNotification" in result.output
    assert (tmp_path / ".deltahook" / "demo.db").exists()
    assert "serve`, then http://127.0.0.1:8080/admin/" in result.output  # how to open the console


def test_the_console_sees_the_demo_subscription_afterwards(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo's subscription lives in the store, not in a config file the console never
    reads: opened with only the database URL (as the demo says to open it), it is still there
    and on, so the console lists every type it received as active."""
    monkeypatch.chdir(tmp_path)
    assert CliRunner().invoke(main, ["demo"], catch_exceptions=False).exit_code == 0
    url = f"sqlite:///{tmp_path / '.deltahook' / 'demo.db'}"
    listed = CliRunner().invoke(main, ["--database-url", url, "subscriptions", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    [sub] = orjson.loads(listed.stdout)
    assert (sub["name"], sub["enabled"], sub["source"]) == ("demo-receiver", True, "api")
    assert sub["event_types"] == ["*"]
