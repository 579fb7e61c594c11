"""The disk cache is private: entries only the user could have written are read, and none
that anyone else can write (or that a link or another owner put there) is trusted."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from deltahook import diskcache


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A cache root of this test's own (not made yet), written under the usual umask 022."""
    monkeypatch.setenv(diskcache.ENV, str(tmp_path / "cache"))
    umask = os.umask(0o022)
    yield tmp_path / "cache"
    os.umask(umask)


def written(part: str = "part", body: bytes = b"body") -> Path:
    """The path of an entry just written to the folder ``part``."""
    path = diskcache.entry(part, [body], ".x")
    assert path is not None
    diskcache.write(path, body)
    assert diskcache.read(path) == body
    return path


def mode(path: Path) -> int:
    """The permission bits of ``path``."""
    return stat.S_IMODE(path.stat().st_mode)


def test_entries_are_written_0600_in_folders_made_0700(root: Path) -> None:
    """Every folder the cache makes is 0700 and every entry 0600, whatever the umask allows;
    no temporary file is left behind."""
    path = written()
    assert (mode(root), mode(path.parent), mode(path)) == (0o700, 0o700, 0o600)
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_an_existing_folder_keeps_its_mode(root: Path) -> None:
    """A folder that is already there is neither loosened nor changed (0750 stays 0750)."""
    (root / "part").mkdir(parents=True, mode=0o750)
    os.chmod(root / "part", 0o750)
    path = written()
    assert mode(path.parent) == 0o750
    assert mode(path) == 0o600


@pytest.mark.parametrize("bits", [0o020, 0o002, 0o1777])
def test_a_folder_others_can_write_is_not_read_nor_written(root: Path, bits: int) -> None:
    """In a group- or world-writable folder (sticky or not) an entry is a miss, and nothing is
    written there; made private again, the entry is read."""
    path = written()
    os.chmod(path.parent, 0o700 | bits)
    assert diskcache.read(path) is None
    other = diskcache.entry("part", [b"other"], ".x")
    assert other is not None
    diskcache.write(other, b"other")
    assert not other.exists()
    os.chmod(path.parent, 0o700)
    assert diskcache.read(path) == b"body"


@pytest.mark.parametrize("bits", [0o020, 0o002])
def test_an_entry_others_can_write_is_a_miss(root: Path, bits: int) -> None:
    """An entry that the group or others could have rewritten is not read."""
    path = written()
    os.chmod(path, 0o600 | bits)
    assert diskcache.read(path) is None


def test_an_entry_or_folder_of_another_owner_is_a_miss(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Entries owned by someone else (seen here as: the user is someone else) are not read."""
    path = written()
    me = os.geteuid()
    monkeypatch.setattr(os, "geteuid", lambda: me + 1)
    assert diskcache.read(path) is None
    monkeypatch.setattr(os, "geteuid", lambda: me)
    assert diskcache.read(path) == b"body"


def test_a_symbolic_link_is_not_followed(root: Path, tmp_path: Path) -> None:
    """An entry that is a link (even to an intact entry of the user's own) is a miss."""
    path = written()
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o700)
    os.replace(path, target / "entry")
    path.symlink_to(target / "entry")
    assert diskcache.read(path) is None


def test_a_fifo_is_a_miss_and_does_not_block(root: Path) -> None:
    """Something that is not a regular file is not read (a FIFO would wait for a writer)."""
    path = written()
    path.unlink()
    os.mkfifo(path, 0o600)
    assert diskcache.read(path) is None


def test_a_relative_cache_dir_means_no_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative DELTAHOOK_CACHE_DIR (it would depend on the working folder) is ignored with
    a warning: no folder, no entry, nothing written anywhere."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(diskcache.ENV, "relative-cache")
    diskcache._warn_relative.cache_clear()
    with pytest.warns(RuntimeWarning, match="not an absolute path"):
        assert diskcache.directory("part") is None
    assert diskcache.entry("part", [b"x"], ".x") is None
    assert list(tmp_path.iterdir()) == []


def test_without_o_nofollow_nothing_is_read(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where an entry cannot be opened without following links (no O_NOFOLLOW), every entry
    is a miss rather than an error."""
    path = written()
    monkeypatch.delattr(os, "O_NOFOLLOW")
    assert diskcache.read(path) is None
