"""The cache on disk that lets a short command skip work an earlier one did.

What is kept depends only on inputs that are named in full by the entry's key (file contents,
options, and the versions of Python, deltahook and the libraries that did the work), so an
edited file or an upgraded library simply finds no entry. A cache that is missing, unwritable,
corrupt or stale never changes what a command does: entries carry a digest of their bytes, are
written to a temporary file and renamed into place, and any problem reading or writing one
means the work is done as if there were no cache. Entries are trusted like Python's own
``__pycache__``: the folder is the user's.

Where: ``$DELTAHOOK_CACHE_DIR``, else ``$XDG_CACHE_HOME/deltahook``, else ``~/.cache/deltahook``.
Users of the cache: ``catalog.schema_cache`` (validators, passed schema checks) and
``yamlsafe`` (composed documents).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import threading
from pathlib import Path

import deltahook

ENV = "DELTAHOOK_CACHE_DIR"
_MAGIC = b"DHC1\n"
_DIGEST = 16


def directory(part: str) -> Path | None:
    """The folder of one kind of entry (None: no home directory to keep it in)."""
    configured = os.environ.get(ENV)
    if configured:
        return Path(configured) / part
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    try:
        base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
    except RuntimeError:  # no home directory can be determined
        return None
    return base / "deltahook" / part


def entry(part: str, parts: list[bytes], suffix: str) -> Path | None:
    """The file of the entry that depends on exactly ``parts`` (and Python and deltahook)."""
    folder = directory(part)
    if folder is None:
        return None
    digest = hashlib.blake2b(digest_size=20)
    for each in (sys.version.encode(), deltahook.__version__.encode(), *parts):
        digest.update(hashlib.blake2b(each, digest_size=20).digest())
    return folder / f"{digest.hexdigest()}{suffix}"


def read(path: Path) -> bytes | None:
    """An entry's content, or None when it is absent or not intact."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    body = data[len(_MAGIC) + _DIGEST :]
    if data.startswith(_MAGIC + hashlib.blake2b(body, digest_size=_DIGEST).digest()):
        return body
    return None


def write(path: Path, body: bytes) -> None:
    """Write an entry whole or not at all; a cache that cannot be written is not an error."""
    data = _MAGIC + hashlib.blake2b(body, digest_size=_DIGEST).digest() + body
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_bytes(data)
        os.replace(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
