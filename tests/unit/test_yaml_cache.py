"""Composed YAML kept on disk: a warm read gives the same located nodes and the same problems."""

from __future__ import annotations

import pickle
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from deltahook import diskcache, yamlsafe
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


def shape(node: yaml.Node | None) -> Any:
    """Everything a reader of a node sees: tag, value, style and where it starts and ends."""
    if node is None:
        return None
    where = (node.start_mark.line, node.start_mark.column, node.end_mark.line, node.end_mark.column)
    if isinstance(node, yaml.ScalarNode):
        return (node.tag, node.value, node.style, where)
    if isinstance(node, yaml.SequenceNode):
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
    cold = yamlsafe.compose(DOCUMENT)
    assert len(list(cache.iterdir())) == 1
    refuse_to_compose(monkeypatch)
    warm = yamlsafe.compose(DOCUMENT)
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
            found.append(yamlsafe.compose(text).duplicates)
        except yamlsafe.YamlProblem as exc:
            found.append((exc,))
    assert found[0] == found[1]
    assert found[0]
    assert not cache.exists() or not list(cache.iterdir())


def test_a_damaged_entry_is_ignored_and_written_again(cache: Path) -> None:
    """A corrupt or unpicklable entry is composed again, and replaced."""
    expected = shape(yamlsafe.compose(DOCUMENT).root)
    (entry,) = cache.iterdir()
    good = entry.read_bytes()
    for damaged in (good[:-7], b""):  # a write cut short, an empty file
        entry.write_bytes(damaged)
        assert shape(yamlsafe.compose(DOCUMENT).root) == expected
        assert entry.read_bytes() == good
    for intact in (b"\x80\x05garbage", pickle.dumps({"not": "nodes"})):  # whole, but wrong
        diskcache.write(entry, intact)
        assert shape(yamlsafe.compose(DOCUMENT).root) == expected
        assert entry.read_bytes() == good


def test_an_edited_document_is_composed_again(cache: Path) -> None:
    """A changed text never meets the nodes of its earlier content."""
    yamlsafe.compose(DOCUMENT)
    edited = yamlsafe.compose(DOCUMENT.replace("EAN", "Ean"))
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
