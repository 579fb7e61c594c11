"""Reading YAML the one way deltahook reads it: YAML 1.2 core types, bounded, located.

Rule files, rule tests and ``deltahook.yaml`` are composed here into nodes that keep their
line and column. The loader is PyYAML's pure-Python parser with three changes:

- **YAML 1.2 core types.** Only ``true``/``false`` are booleans and ``null``/``~`` null;
  ``NO``, ``SE``, ``on``, ``yes`` and dates stay strings; ``010`` is ten. No merge keys.
- **Bounds.** A document may nest at most ``MAX_DEPTH`` deep and expand (aliases counted at
  their full size) to at most ``MAX_NODES`` nodes; an alias inside its own anchor, a tag
  outside the core schema (``!!python/...``) and an integer longer than ``MAX_DIGITS`` digits
  are refused. A billion-laughs file stops at the alias that would pass the bound.
- **Every mistake located.** Each failure is a ``YamlProblem`` with line, column and one line
  of text; a key given twice in a mapping is reported (``duplicates``) without stopping.

The loader itself is ``yamlcore``; this module composes with it into ``yamlnodes`` (located
nodes that need no PyYAML), keeps composed rule files in the disk cache, decodes and
constructs. PyYAML is imported only to compose a document not found in the cache.
"""

from __future__ import annotations

import importlib.util
import io
import pickle
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from deltahook import diskcache, yamlnodes
from deltahook.yamlnodes import Node, YamlProblem, construct

__all__ = ["Composed", "YamlProblem", "compose", "construct", "decode"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Composed:
    """A composed document: its root node (None when empty) and the duplicate keys found."""

    root: Node | None
    duplicates: tuple[YamlProblem, ...] = ()


def compose(text: str, *, keep: bool = False) -> Composed:
    """The document in ``text`` as located nodes; raises ``YamlProblem`` (one line, located).

    With ``keep`` (rule and rule-test files), a document composed before without a problem is
    read back from ``deltahook.diskcache`` (about a tenth of the CPU of composing it again); one
    with a problem is composed every time, so its problems are found as they always were. Its
    marks then keep only their place (line, column, index, name), not the document's text.
    Configuration files are never kept: they hold passwords and secrets, and are small.
    """
    entry = _entry(text) if keep else None
    kept = _read_kept(entry) if entry is not None else None
    if kept is not None:
        return kept
    composed = _compose(text)
    if entry is not None and not composed.duplicates:
        diskcache.write(entry, pickle.dumps(composed, protocol=pickle.HIGHEST_PROTOCOL))
    return composed


def _entry(text: str) -> Path | None:
    """Where the composed ``text`` is kept: it depends on the text, this module and PyYAML."""
    source = _own_source()
    if source is None:
        return None
    return diskcache.entry("yaml", [source, text.encode("utf-8", "surrogatepass")], "")


@cache
def _own_source() -> bytes | None:
    """The source of this module, its loader and its nodes, and PyYAML's ``__init__`` (its
    version), all that what it composes depends on; None when unreadable. PyYAML is found,
    not imported."""
    here = Path(__file__).parent
    spec = importlib.util.find_spec("yaml")
    if spec is None or spec.origin is None:
        return None
    files = [Path(__file__), here / "yamlcore.py", Path(yamlnodes.__file__), Path(spec.origin)]
    try:
        return b"".join(path.read_bytes() for path in files)
    except OSError:
        return None


class _KeptUnpickler(pickle.Unpickler):
    """Unpickles composed documents only: any other class in an entry makes it a miss."""

    ALLOWED: frozenset[tuple[str, str]] = frozenset(
        {
            (__name__, "Composed"),
            ("deltahook.yamlnodes", "ScalarNode"),
            ("deltahook.yamlnodes", "SequenceNode"),
            ("deltahook.yamlnodes", "MappingNode"),
            ("deltahook.yamlnodes", "Mark"),
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not a composed document's part")
        return super().find_class(module, name)


def _read_kept(entry: Path) -> Composed | None:
    body = diskcache.read(entry)
    if body is None:
        return None
    try:
        kept = _KeptUnpickler(io.BytesIO(body)).load()
    except Exception:  # an entry that does not unpickle is as good as none
        return None
    ok = isinstance(kept, Composed) and (kept.root is None or isinstance(kept.root, Node))
    return kept if ok else None


def _compose(text: str) -> Composed:
    import yaml

    from deltahook.yamlcore import Loader

    loader: Loader | None = None
    try:
        loader = Loader(text)
        root = loader.get_single_node()
        nodes = yamlnodes.from_pyyaml(root) if root is not None else None
        return Composed(root=nodes, duplicates=tuple(loader.duplicates))
    except yaml.reader.ReaderError as exc:
        line, column = _position(text, exc.position)
        raise YamlProblem(line=line, column=column, message=_unacceptable(exc)) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        why = " ".join(p for p in (exc.context, exc.problem) if p)
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise YamlProblem(line=line, column=column, message=f"YAML syntax: {why}") from None
    except (yaml.YAMLError, RecursionError, MemoryError) as exc:
        raise YamlProblem(line=1, column=1, message=f"YAML: {type(exc).__name__}") from None
    finally:
        if loader is not None:
            loader.dispose()


def _unacceptable(exc: Any) -> str:  # a yaml.reader.ReaderError
    if isinstance(exc.character, int):
        return f"unacceptable character #x{exc.character:04x} (control characters are not allowed)"
    return "unacceptable character"


def decode(data: bytes) -> str:
    """UTF-8 text; raises ``YamlProblem`` at the line and column of the first bad byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start].decode()
        line, column = _position(before, len(before))
        why = f"not UTF-8 text ({exc.reason} 0x{data[exc.start]:02x})"
        raise YamlProblem(line=line, column=column, message=why) from None


def _position(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1
