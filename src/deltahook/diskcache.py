"""The cache on disk that lets a short command skip work an earlier one did.

What is kept depends only on inputs that are named in full by the entry's key (file contents,
options, and the versions of Python, deltahook and the libraries that did the work), so an
edited file or an upgraded library simply finds no entry. A cache that is missing, unwritable,
corrupt or stale never changes what a command does: entries carry a digest of their bytes, are
written to a temporary file and renamed into place, and any problem reading or writing one
means the work is done as if there were no cache.

Entries are code and pickles that are run or loaded, so one is read only when nobody but the
user could have put it there: its folder and the entry itself must be owned by the user and
writable by no one else (the entry is opened without following a symbolic link); anything else
is a miss. Folders are made private (0700) and entries written private (0600, through
``tempfile.mkstemp``), since what is kept is derived from the user's files.

Where: ``$DELTAHOOK_CACHE_DIR`` (an absolute path: a relative one is ignored, with one warning,
and no cache is used), else ``$XDG_CACHE_HOME/deltahook``, else ``~/.cache/deltahook``.
Users of the cache: ``catalog.schema_cache`` (validators, passed schema checks),
``yamlsafe`` (composed rule and rule-test documents; never configuration files) and
``store.scratch`` (an empty store at the current schema, for previews and rule tests).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import sys
import tempfile
import warnings
from collections.abc import Callable
from functools import cache
from pathlib import Path

import deltahook

ENV = "DELTAHOOK_CACHE_DIR"
_MAGIC = b"DHC1\n"
_DIGEST = 16


def directory(part: str) -> Path | None:
    """The folder of one kind of entry (None: no home directory to keep it in)."""
    configured = os.environ.get(ENV)
    if configured:
        if not os.path.isabs(configured):
            _warn_relative(configured)
            return None
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
    """An entry's content, or None when it is absent, not intact or not safely the user's."""
    data = _read_private(path)
    if data is None:
        return None
    body = data[len(_MAGIC) + _DIGEST :]
    if data.startswith(_MAGIC + hashlib.blake2b(body, digest_size=_DIGEST).digest()):
        return body
    return None


def _read_private(path: Path) -> bytes | None:
    """The file's bytes when it and its folder are the user's alone (see the module's notes)."""
    if not hasattr(os, "O_NOFOLLOW"):  # not POSIX: no safe way to open it, so no cache
        return None
    flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)
    try:
        folder = os.open(path.parent, flags | os.O_DIRECTORY)
    except (OSError, ValueError):
        return None
    try:
        if not _private(os.fstat(folder), stat.S_ISDIR):
            return None
        nofollow = flags | os.O_NOFOLLOW | os.O_NONBLOCK  # no link; a FIFO would not block
        handle = os.open(path.name, nofollow, dir_fd=folder)
        with os.fdopen(handle, "rb") as file:
            if not _private(os.fstat(file.fileno()), stat.S_ISREG):
                return None
            return file.read()
    except (OSError, ValueError):
        return None
    finally:
        os.close(folder)


def write(path: Path, body: bytes) -> None:
    """Write an entry whole or not at all, readable by the user only; a cache that cannot be
    written (or whose folder is not safely the user's) is not an error."""
    data = _MAGIC + hashlib.blake2b(body, digest_size=_DIGEST).digest() + body
    folder = path.parent
    temporary: str | None = None
    try:
        _make_private(folder)
        if not _private(os.stat(folder), stat.S_ISDIR):
            return
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except OSError:
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)


def _make_private(folder: Path) -> None:
    """Make ``folder`` and any missing parent with mode 0700 (an existing one is left as is)."""
    missing = []
    for each in (folder, *folder.parents):
        if each.is_dir():
            break
        missing.append(each)
    for each in reversed(missing):
        with contextlib.suppress(FileExistsError):
            os.mkdir(each, 0o700)


def _private(found: os.stat_result, kind: Callable[[int], bool]) -> bool:
    """True for a file of this kind owned by the user and writable by no group or other."""
    owner = os.geteuid() if hasattr(os, "geteuid") else found.st_uid
    return (
        kind(found.st_mode)
        and found.st_uid == owner
        and not found.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    )


@cache
def _warn_relative(configured: str) -> None:
    """Say once that a relative cache folder is not used."""
    warnings.warn(
        f"{ENV}={configured!r} is not an absolute path: no cache is used",
        RuntimeWarning,
        stacklevel=3,
    )
