"""Reading ``deltahook.yaml`` to the rules' standard: every problem at once, each located.

The file is composed like a rule file (``deltahook.yamlsafe``: YAML 1.2 core types, bounds,
duplicate keys refused), so each problem the settings model finds can be pointed at the node
it came from: ``deltahook.yaml:7:14: subscriptions[0].timeout must be greater than 0, not -1``.
A value that came from the environment or the caller is named by its source instead.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deltahook.catalog.events import unknown_type_message
from deltahook.errors import ConfigError
from deltahook.rules.source import suggest
from deltahook.yamlnodes import Node, is_mapping, is_sequence
from deltahook.yamlsafe import YamlProblem, compose, construct, decode

if TYPE_CHECKING:
    from pydantic import ValidationError

Loc = Sequence[int | str]


@dataclass(frozen=True, slots=True, kw_only=True)
class Problem:
    """One problem of the settings: ``where`` is ``path:line:col`` or the value's source."""

    where: str
    message: str
    order: tuple[int, int] = (1 << 30, 0)

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigSource:
    """The config file as read: its values, its nodes and the duplicate keys it holds."""

    path: str
    data: dict[str, Any]
    root: Node | None
    problems: tuple[Problem, ...] = ()

    def problem(self, node: Node, message: str) -> Problem:
        line, column = node.start_mark.line + 1, node.start_mark.column + 1
        return Problem(where=f"{self.path}:{line}:{column}", message=message, order=(line, column))


def read_config(path: Path) -> ConfigSource:
    """The file's settings; raises ``ConfigError`` when it cannot be read as YAML at all."""
    try:
        composed = compose(decode(path.read_bytes()))
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    except YamlProblem as exc:
        raise ConfigError(problems=[f"{path}:{exc}"]) from None
    root = composed.root
    source = ConfigSource(path=str(path), data={}, root=root)
    duplicates = tuple(
        Problem(where=f"{path}:{d.line}:{d.column}", message=d.message, order=(d.line, d.column))
        for d in composed.duplicates
    )
    if root is not None and not is_mapping(root):
        raise_problems([source.problem(root, "the config file must be a mapping of settings")])
    data = construct(root) if root is not None else {}
    return ConfigSource(path=str(path), data=data, root=root, problems=duplicates)


def raise_problems(problems: Collection[Problem]) -> None:
    """Raise ``ConfigError`` listing ``problems`` (file problems by place, then the others)."""
    ordered = sorted(problems, key=lambda p: p.order)
    raise ConfigError(problems=[str(p) for p in ordered])


def node_at(root: Node | None, loc: Loc) -> Node | None:
    """The node at ``loc``, or the deepest one on the way there."""
    node = root
    for part in loc:
        if is_mapping(node):
            found = next((kv for kv in node.value if kv[0].value == part), None)
            if found is None:
                return node
            node = found[1]
        elif is_sequence(node) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            return node
    return node


def where_of(loc: Loc) -> str:
    """``subscriptions[0].timeout`` for ``("subscriptions", 0, "timeout")``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text


def validation_problems(
    exc: ValidationError,
    *,
    source: ConfigSource | None,
    origins: Mapping[str, str],
    fields: Mapping[str, Collection[str]],
) -> list[Problem]:
    """One plain, located problem per error of the settings model.

    ``origins`` names where top-level values that did not come from the file came from;
    ``fields`` gives the known keys of the mapping at a location (``""``: the top level).
    """
    out = []
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        parent, key = loc[:-1], loc[-1] if loc else ""
        message = _plain(error, where_of(loc), where_of(parent), fields, key)
        origin = origins.get(str(loc[0])) if loc else None
        if origin is not None or source is None:
            out.append(Problem(where=origin or "settings", message=message))
            continue
        at = parent if error["type"] in {"missing", "extra_forbidden"} else loc
        node = node_at(source.root, at)
        if error["type"] == "extra_forbidden" and is_mapping(node):
            node = next((k for k, _v in node.value if k.value == key), node)
        out.append(_placed(source, node, message))
    return out


def _placed(source: ConfigSource, node: Node | None, message: str) -> Problem:
    if node is None:
        return Problem(where=f"{source.path}:1:1", message=message, order=(1, 1))
    return source.problem(node, message)


def event_type_problems(
    data: Mapping[str, Any],
    *,
    source: ConfigSource | None,
    origins: Mapping[str, str],
    known: Collection[str],
) -> list[Problem]:
    """A problem, with a did-you-mean, for each event type of a subscription nobody knows."""
    declared = data.get("subscriptions")
    if not isinstance(declared, list):
        return []
    origin = origins.get("subscriptions") or (None if source else "settings")
    names = tuple(sorted(known))
    out = []
    for i, sub in enumerate(declared):
        types = (
            sub.get("event_types") if isinstance(sub, dict) else getattr(sub, "event_types", None)
        )
        items = [types] if isinstance(types, str) else types if isinstance(types, list) else []
        for j, name in enumerate(items):
            if not isinstance(name, str) or name == "*" or name in known:
                continue
            loc: tuple[int | str, ...] = ("subscriptions", i, "event_types")
            message = f"{where_of(loc)}: {unknown_type_message(name, names)}"
            if isinstance(types, list):
                loc += (j,)
            if origin is not None or source is None:
                out.append(Problem(where=origin or "settings", message=message))
            else:
                out.append(_placed(source, node_at(source.root, loc), message))
    return out


_TYPES = {
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "string_type": "a string",
    "path_type": "a path (a string)",
    "list_type": "a list",
    "tuple_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}
_BOUNDS = {
    "greater_than": ("greater than", "gt"),
    "greater_than_equal": ("at least", "ge"),
    "less_than": ("less than", "lt"),
    "less_than_equal": ("at most", "le"),
}


def _plain(
    error: Mapping[str, Any],
    where: str,
    parent: str,
    fields: Mapping[str, Collection[str]],
    key: int | str,
) -> str:
    prefix = f"{parent}: " if parent else ""
    if error["type"] == "extra_forbidden":
        known = fields.get(_shape(parent), ())
        return f"{prefix}unknown setting {key!r}{suggest(str(key), known)}"
    if error["type"] == "missing":
        return f"{prefix}missing required key {key!r}"
    return f"{where}{_phrase(error)}"


def _phrase(error: Mapping[str, Any]) -> str:
    """What is wrong with a value, in plain words (pydantic's own as the last resort)."""
    kind, ctx, value = error["type"], error.get("ctx") or {}, error.get("input")
    if kind in _TYPES:
        return f" must be {_TYPES[kind]}, not {value!r}"
    if kind in _BOUNDS:
        words, name = _BOUNDS[kind]
        bound = ctx.get(name)
        shown = f"{bound:.15g}" if isinstance(bound, int | float) else str(bound)
        return f" must be {words} {shown}, not {value!r}"
    if kind == "too_short":
        return " must not be empty"
    if kind == "literal_error":
        return f" must be {ctx.get('expected')}, not {value!r}"
    if kind in {"value_error", "assertion_error"}:
        return f": {ctx.get('error')}"
    message = str(error["msg"])
    return f": {message[:1].lower()}{message[1:]}"


def _shape(parent: str) -> str:
    """The key of ``fields`` for a location: list indexes left out (``subscriptions``)."""
    return "".join(part.split("[", 1)[0] for part in parent.split("."))
