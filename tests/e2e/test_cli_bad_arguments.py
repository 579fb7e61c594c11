"""Arguments whose bytes are not UTF-8 (a shell on a Latin-1 system) are one line, exit 1."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

LATIN1 = os.fsdecode(b"v\xe9rde")  # what Python makes of the bytes: 'v\udce9rde'


@pytest.mark.parametrize(
    "args",
    [
        ("show", "sku", LATIN1),
        ("resend", LATIN1),
        ("recover", LATIN1, "--since", "1h"),
        ("subscriptions", "enable", LATIN1),
        ("log", "--subscription", LATIN1),
        ("deliver", "--once", "--worker-id", LATIN1),
    ],
    ids=["show", "resend", "recover", "enable", "log", "deliver"],
)
def test_an_argument_that_is_not_utf8_is_one_line(tmp_path: Path, args: tuple[str, ...]) -> None:
    """Each names the argument and says why (each was a UnicodeEncodeError traceback from the
    store's driver)."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    done = subprocess.run(
        [sys.executable, "-m", "deltahook", "--database-url", url, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip() == (
        "error: 'v\\udce9rde' holds bytes that are not UTF-8 text, which no store keeps"
    )
