"""deltahook's own YAML nodes read exactly as PyYAML's: same places, same plain values."""

from __future__ import annotations

import contextlib
import math
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from deltahook import yamlnodes, yamlsafe
from deltahook.yamlcore import CoreConstructor, Loader, YamlProblem
from tests.conftest import REPO
from tests.rules_fuzz_support import fuzz_seed, mutants

SCALARS = textwrap.dedent(
    """\
    ints: [0, -7, +3, 010, 0o17, 0x1F, 123456789012345678901234567890]
    floats: [1.5, -.5, 2., 1e3, -1E-3, .inf, -.Inf, +.INF, .nan, 1_0]
    words: [null, Null, ~, '', true, False, TRUE, yes, no, on, 2020-01-01, "010"]
    tagged: [!!str 12, !!int "0x10", !!float 3, !!bool "true", !!null "", !!str ""]
    nested: {a: {b: [1, {c: d}]}, "e f": [[], {}]}
    shared: &s {x: [1, 2]}
    again: *s
    empty:
    """
)


def pyyaml(text: str) -> Any:
    """The document as PyYAML composes it with deltahook's loader (its nodes, not ours)."""
    loader = Loader(text)
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()


def same(a: Any, b: Any) -> bool:
    """Equal, NaN equal to NaN, and of the same types all the way down."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)


def documents() -> list[str]:
    shipped = [path.read_text() for path in sorted((REPO / "rules").glob("*.yaml"))]
    return [SCALARS, *shipped]


@pytest.mark.parametrize("text", documents())
def test_a_document_constructs_to_what_pyyaml_constructs(text: str) -> None:
    """Each edge document constructs to PyYAML's value from deltahook's nodes and from PyYAML's."""
    root = pyyaml(text)
    ours = yamlnodes.from_pyyaml(root)
    assert same(yamlnodes.construct(ours), CoreConstructor().construct_object(root, deep=True))
    assert same(yamlsafe.construct(ours), yamlnodes.construct(root))  # PyYAML's nodes too


def test_mutated_rule_files_construct_alike() -> None:
    """Every mutant of the shipped rules that composes constructs to PyYAML's value."""
    sources = [path.read_text() for path in sorted((REPO / "rules").glob("*.yaml"))]
    compared = 0
    for data in mutants(sources, fuzz_seed(), 150):
        try:
            root = pyyaml(data.decode("utf-8"))
        except (YamlProblem, yaml.YAMLError, UnicodeDecodeError, RecursionError):
            continue
        if root is None:
            continue
        expected = CoreConstructor().construct_object(root, deep=True)
        assert same(yamlnodes.construct(yamlnodes.from_pyyaml(root)), expected), data
        compared += 1
    assert compared > 0


def test_nodes_keep_tags_styles_places_and_shared_aliases() -> None:
    """deltahook's nodes keep PyYAML's tags, styles and places, and an alias stays one node."""
    root = pyyaml(SCALARS)
    ours = yamlnodes.from_pyyaml(root)

    def walk(a: Any, b: Any) -> None:
        assert (a.id, a.tag) == (b.id, b.tag)
        for mine, theirs in ((a.start_mark, b.start_mark), (a.end_mark, b.end_mark)):
            where = (theirs.line, theirs.column, theirs.index)
            assert (mine.line, mine.column, mine.index) == where
        if b.id == "scalar":
            assert (a.value, a.style) == (b.value, b.style)
            return
        assert a.flow_style == b.flow_style
        items = (p for pair in b.value for p in pair) if b.id == "mapping" else iter(b.value)
        mine_items = (p for pair in a.value for p in pair) if a.id == "mapping" else iter(a.value)
        for x, y in zip(mine_items, items, strict=True):
            walk(x, y)

    walk(ours, root)
    shared, again = ours.value[5][1], ours.value[6][1]
    assert shared is again


@pytest.mark.parametrize(
    ("text", "kind"), [("a: !!str [x]", "a list"), ("a: !!str {x: 1}", "a mapping")]
)
def test_a_list_or_mapping_tagged_as_a_string_is_refused_where_it_is_composed(
    text: str, kind: str
) -> None:
    """Refused at its place when composed (PyYAML's constructor raised it, unlocated, later);
    so ``construct`` never meets a core tag on the wrong kind of node."""
    with pytest.raises(YamlProblem) as caught:
        pyyaml(text)
    assert str(caught.value) == f"1:4: the tag !!str does not fit {kind}"


def test_a_warm_rule_load_never_imports_pyyaml(tmp_path: Path) -> None:
    """Rule files composed before come back from the cache without PyYAML."""
    import subprocess
    import sys

    script = textwrap.dedent(
        """
        import sys
        from deltahook.config import Settings
        from deltahook.catalog.entities import load_catalog
        from deltahook.catalog.events import load_event_catalog
        from deltahook.rules.loader import load_rules
        s = Settings()
        catalog = load_catalog(s.entity_schemas_dir)
        events = load_event_catalog(s.event_schemas_dir)
        load_rules(s.rules_dir, catalog=catalog, events=events, constants=s.constants)
        print("yaml" in sys.modules)
        """
    )
    env = {"DELTAHOOK_CACHE_DIR": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"}
    runs = [
        subprocess.run(
            [sys.executable, "-c", script],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        for _ in range(2)
    ]
    assert [run.stdout.strip() for run in runs] == ["True", "False"], runs[1].stderr


def test_a_yaml_problem_passes_through_a_with_block_as_itself() -> None:
    """A context manager sets the problem's traceback on the way out: it stays a YamlProblem
    (a frozen one turned into a TypeError there, a crash instead of a located error)."""

    @contextlib.contextmanager
    def around() -> Iterator[None]:
        yield

    with pytest.raises(YamlProblem) as caught, around():
        raise YamlProblem(line=2, column=3, message="bad")
    assert str(caught.value) == "2:3: bad"
