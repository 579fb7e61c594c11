"""Composed YAML kept on disk: a warm read gives the same located nodes and the same problems."""

from __future__ import annotations

import os
import pickle
import textwrap
from pathlib import Path
from typing import Any

import pytest

from deltahook import diskcache, yamlsafe
from deltahook.configload import load_settings
from deltahook.errors import RuleError
from deltahook.rules.loader import load_rules
from tests.conftest import REPO

DOCUMENT = textwrap.dedent(
    """\
    format_version: 1
    base: &base {table: tClientProductSku, on: [insert, update]}
    rules:
      - notification: SkuChangedNotification
        settings:
          - *base
          - {<<: nothing, id: "two", watch: ['Name*', "EAN"]}
        note: |
          kept as written
    """
)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache folder of this test's own."""
    monkeypatch.setenv(diskcache.ENV, str(tmp_path / "cache"))
    return tmp_path / "cache" / "yaml"


def shape(node: Any) -> Any:
    """Everything a reader of a node sees: tag, value, style and where it starts and ends
    (deltahook's nodes and PyYAML's alike: by their ``id``)."""
    if node is None:
        return None
    where = (node.start_mark.line, node.start_mark.column, node.end_mark.line, node.end_mark.column)
    if node.id == "scalar":
        return (node.tag, node.value, node.style, where)
    if node.id == "sequence":
        return (node.tag, [shape(item) for item in node.value], node.flow_style, where)
    pairs = [(shape(key), shape(value)) for key, value in node.value]
    return (node.tag, pairs, node.flow_style, where)


def refuse_to_compose(monkeypatch: pytest.MonkeyPatch) -> None:
    """From here on, composing a document fails the test."""

    def compose(text: str) -> yamlsafe.Composed:
        raise AssertionError("composed again")

    monkeypatch.setattr(yamlsafe, "_compose", compose)


def test_a_warm_read_gives_the_nodes_a_cold_one_gives(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tags, values, styles, lines and columns (and shared alias nodes) come back the same."""
    cold = yamlsafe.compose(DOCUMENT, keep=True)
    assert len(list(cache.iterdir())) == 1
    refuse_to_compose(monkeypatch)
    warm = yamlsafe.compose(DOCUMENT, keep=True)
    assert shape(warm.root) == shape(cold.root)
    assert yamlsafe.construct(warm.root) == yamlsafe.construct(cold.root)
    assert warm.root is not None
    rule = warm.root.value[2][1].value[0]
    settings = rule.value[1][1].value
    assert settings[0] is warm.root.value[1][1]  # the alias is the anchored node itself


@pytest.mark.parametrize(
    "text",
    [
        "a: 1\na: 2\n",  # a duplicate key: reported, not fatal
        "a: [1, 2\n",  # a syntax error
        "a: !!python/object:os.system x\n",  # a tag outside the core schema
    ],
)
def test_a_document_with_a_problem_is_composed_every_time(cache: Path, text: str) -> None:
    """Nothing is kept for a document with a problem: each read reports it as the first did."""
    found = []
    for _ in range(2):
        try:
            found.append(yamlsafe.compose(text, keep=True).duplicates)
        except yamlsafe.YamlProblem as exc:
            found.append((exc,))
    assert found[0] == found[1]
    assert found[0]
    assert not cache.exists() or not list(cache.iterdir())


def test_a_damaged_entry_is_ignored_and_written_again(cache: Path) -> None:
    """A corrupt or unpicklable entry is composed again, and replaced."""
    expected = shape(yamlsafe.compose(DOCUMENT, keep=True).root)
    (entry,) = cache.iterdir()
    good = entry.read_bytes()
    for damaged in (good[:-7], b""):  # a write cut short, an empty file
        entry.write_bytes(damaged)
        assert shape(yamlsafe.compose(DOCUMENT, keep=True).root) == expected
        assert entry.read_bytes() == good
    for intact in (b"\x80\x05garbage", pickle.dumps({"not": "nodes"})):  # whole, but wrong
        diskcache.write(entry, intact)
        assert shape(yamlsafe.compose(DOCUMENT, keep=True).root) == expected
        assert entry.read_bytes() == good


def test_an_edited_document_is_composed_again(cache: Path) -> None:
    """A changed text never meets the nodes of its earlier content."""
    yamlsafe.compose(DOCUMENT, keep=True)
    edited = yamlsafe.compose(DOCUMENT.replace("EAN", "Ean"), keep=True)
    assert "Ean" in str(yamlsafe.construct(edited.root))
    assert len(list(cache.iterdir())) == 2


def test_the_shipped_rules_load_alike_from_kept_documents(
    cache: Path, monkeypatch: pytest.MonkeyPatch, catalog: Any, events: Any
) -> None:
    """The shipped rule set loaded from kept documents is the one composed from the files."""
    constants = {"ClientId": 1042, "ApplicationId": 1}
    cold = load_rules(REPO / "rules", catalog=catalog, events=events, constants=constants)
    refuse_to_compose(monkeypatch)
    warm = load_rules(REPO / "rules", catalog=catalog, events=events, constants=constants)
    placed = [(s.uid, s.where, s.line, s.column, s.ops, s.watch) for s in warm.settings]
    assert placed == [(s.uid, s.where, s.line, s.column, s.ops, s.watch) for s in cold.settings]
    assert warm.files == cold.files


SECRET_COMMENT = "# token for the staging hook: sk_live_9f8e7d6c5b4a3210\n"


def test_a_kept_document_holds_its_values_not_its_text(cache: Path) -> None:
    """An entry keeps nodes and their places, not the document's text: a comment (here a
    secret-looking token) is nowhere in it, and a warm read places every node alike."""
    text = SECRET_COMMENT + DOCUMENT
    cold = yamlsafe.compose(text, keep=True)
    (entry,) = cache.iterdir()
    assert b"sk_live_9f8e7d6c5b4a3210" not in entry.read_bytes()
    assert b"staging hook" not in entry.read_bytes()
    warm = yamlsafe.compose(text, keep=True)
    assert shape(warm.root) == shape(cold.root)
    assert warm.root is not None
    assert warm.root.start_mark.buffer is None
    assert (warm.root.start_mark.line, warm.root.start_mark.column) == (1, 0)


def test_a_config_file_is_never_kept(tmp_path: Path, cache: Path) -> None:
    """deltahook.yaml (a database password, signing secrets, an Authorization header) is not
    composed into the cache: no file under the cache folder holds any of its secrets."""
    config = tmp_path / "deltahook.yaml"
    config.write_text(
        "database_url: 'postgresql://app:hunter2-db-password@127.0.0.1/test'\n"
        "subscriptions:\n"
        "  - name: shop\n"
        "    url: 'https://shop.example/hook'\n"
        "    event_types: [SkuChangedNotification]\n"
        "    headers: {Authorization: 'Bearer tok-abc123-bearer'}\n"
        "    secrets: [whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw]\n"
    )
    for _ in range(2):
        settings = load_settings(config, env={})
    assert "hunter2-db-password" in settings.database_url
    root = cache.parent
    kept = [p.read_bytes() for p in root.rglob("*") if p.is_file()] if root.exists() else []
    for secret in (b"hunter2-db-password", b"tok-abc123-bearer", b"MfKQ9r8GKYqrTwjUPD8ILPZIo2"):
        assert not any(secret in data for data in kept)
    assert not cache.exists() or not list(cache.iterdir())


class Planted:
    """What an entry planted by someone else would carry: unpickling it runs os.mkdir."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> Any:
        return (os.mkdir, (str(self.path),))


@pytest.mark.parametrize("nested", [False, True])
def test_a_pickle_of_other_classes_is_a_miss_and_never_run(
    cache: Path, tmp_path: Path, nested: bool
) -> None:
    """An intact entry naming any class but a composed document's (alone, or inside a
    Composed) is not unpickled: what it would run does not run, and it is written again."""
    expected = shape(yamlsafe.compose(DOCUMENT, keep=True).root)
    (entry,) = cache.iterdir()
    good = entry.read_bytes()
    ran = tmp_path / "ran"
    planted: Any = Planted(ran)
    if nested:
        planted = yamlsafe.Composed(root=planted)
    diskcache.write(entry, pickle.dumps(planted))
    assert shape(yamlsafe.compose(DOCUMENT, keep=True).root) == expected
    assert not ran.exists()
    assert entry.read_bytes() == good


def count_composing(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """From here on, each document composed (not read from the cache) is appended to a list."""
    composed: list[str] = []
    real = yamlsafe._compose

    def compose(text: str) -> yamlsafe.Composed:
        composed.append(text)
        return real(text)

    monkeypatch.setattr(yamlsafe, "_compose", compose)
    return composed


def test_a_cache_folder_others_can_write_is_not_used(
    cache: Path, monkeypatch: pytest.MonkeyPatch, catalog: Any, events: Any
) -> None:
    """With the cache's folders group- and world-writable, rules load exactly as before, every
    document composed afresh; made private again, the kept documents are read."""
    constants = {"ClientId": 1042, "ApplicationId": 1}
    cold = load_rules(REPO / "rules", catalog=catalog, events=events, constants=constants)
    for folder in (cache, cache.parent / "schemas"):
        os.chmod(folder, 0o777)
    composed = count_composing(monkeypatch)
    warm = load_rules(REPO / "rules", catalog=catalog, events=events, constants=constants)
    placed = [(s.uid, s.where, s.line, s.column, s.ops, s.watch) for s in warm.settings]
    assert placed == [(s.uid, s.where, s.line, s.column, s.ops, s.watch) for s in cold.settings]
    assert len(composed) == len(cold.files) > 0
    os.chmod(cache, 0o700)
    composed.clear()
    load_rules(REPO / "rules", catalog=catalog, events=events, constants=constants)
    assert composed == []


def test_a_relative_cache_dir_composes_alike_and_keeps_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative DELTAHOOK_CACHE_DIR is no cache: the document is composed each time, the
    same, and nothing is written under the working folder."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(diskcache.ENV, "cache")
    diskcache._warn_relative.cache_clear()
    composed = count_composing(monkeypatch)
    with pytest.warns(RuntimeWarning):
        shapes = [shape(yamlsafe.compose(DOCUMENT, keep=True).root) for _ in range(2)]
    assert shapes[0] == shapes[1]
    assert len(composed) == 2
    assert list(tmp_path.iterdir()) == []


BAD_RULES = """\
format_version: 1
# secret-looking comment: sk_live_0000aaaa
rules:
  - notification: SkuChangedNotification
    settings:
      - id: s
        table: tNoSuchTable
        on: [insert]
"""


def test_rule_errors_read_from_kept_documents_are_word_for_word_the_same(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch, catalog: Any, events: Any
) -> None:
    """A rule problem found in a kept document has the same file, line, column and words."""
    (tmp_path / "rules.yaml").write_text(BAD_RULES)
    problems = []
    for attempt in range(2):
        if attempt:
            refuse_to_compose(monkeypatch)
        with pytest.raises(RuleError) as caught:
            load_rules(tmp_path, catalog=catalog, events=events, constants={"ClientId": 1})
        problems.append([str(p) for p in caught.value.problems])
    assert problems[0] == problems[1]
    assert "rules.yaml:7:" in problems[0][0]
