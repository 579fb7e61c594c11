"""Loading a folder of rule files: every problem of every file at once, or a whole rule set.

    format_version: 1
    rules:
      - notification: SkuChangedNotification     # an event type of the notification family
        payload: {PartNo: row.PartNo, EntityChanged: setting.table}
        settings:
          - id: sku-culture
            table: tClientProductSkuCulture
            on: [insert, update, delete]
            watch: [Name, Description]

See ``rules/README.md`` for the whole format. An invalid rule set is never half-loaded:
``load_rules`` returns all of it or raises ``RuleError`` listing each problem with its
file, line and column.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from deltahook.catalog.entities import Catalog
from deltahook.catalog.events import EventCatalog, EventType, unknown_type_message
from deltahook.errors import ConfigError, RuleError, SourceProblem
from deltahook.rules.model import RuleSet, Setting
from deltahook.rules.payload import Source, constants_problem, read_sources
from deltahook.rules.setting import Scope, compile_setting
from deltahook.rules.source import Node, Reader, yaml_files
from deltahook.rules.tables import table_index

FORMAT_VERSION = 1


def load_rules(
    path: Path,
    *,
    catalog: Catalog,
    events: EventCatalog,
    constants: Mapping[str, Any],
) -> RuleSet:
    """The rule set of a folder of ``*.yaml`` files (or of one file); raises ``RuleError``."""
    if path.is_dir():
        files = list(yaml_files(path))
    elif path.is_file():
        files = [path]
    else:
        problem = SourceProblem(path=str(path), line=1, column=1, message="no such rules folder")
        raise RuleError([problem])
    if (refused := constants_problem(events, constants)) is not None:
        raise ConfigError(refused)
    scope = Scope(table_index(catalog), constants)
    problems: list[SourceProblem] = []
    settings: list[Setting] = []
    for file in files:
        reader = Reader(str(file))
        settings.extend(_load_file(reader, file, events, scope))
        problems.extend(reader.problems)
    problems.extend(_duplicates(settings))
    if problems:
        raise RuleError(sorted(problems, key=lambda p: (p.path, p.line, p.column)))
    return RuleSet.of(settings, [str(f) for f in files])


def _load_file(reader: Reader, file: Path, events: EventCatalog, scope: Scope) -> list[Setting]:
    text = reader.read(file, "rule file")
    if text is None:
        return []
    root = reader.compose(text)
    if root is None:
        if not reader.problems:
            reader.error(None, "the rule file is empty (expected format_version and rules)")
        return []
    top = reader.mapping(
        root,
        "a rule file",
        allowed=("format_version", "rules"),
        required=("format_version", "rules"),
    )
    if top is None or "rules" not in top:
        return []
    if "format_version" in top:
        version_node = top["format_version"][1]
        ok, version = reader.scalar(version_node, "format_version")
        if ok and (isinstance(version, bool) or version != FORMAT_VERSION):  # True == 1
            reader.error(version_node, f"format_version {version!r} is not supported (use 1)")
    rules = reader.sequence(top["rules"][1], "rules") or []
    settings: list[Setting] = []
    for rule in rules:
        settings.extend(_load_rule(reader, rule, events, scope))
    return settings


def _load_rule(reader: Reader, node: Node, events: EventCatalog, scope: Scope) -> list[Setting]:
    entries = reader.mapping(
        node,
        "a rule",
        allowed=("notification", "description", "payload", "settings"),
        required=("notification", "settings"),
    )
    if entries is None or "notification" not in entries or "settings" not in entries:
        return []
    event = _event_type(reader, entries["notification"][1], events)
    payload: Mapping[str, Source] = {}
    if "payload" in entries:
        payload = read_sources(reader, entries["payload"][1]) or {}
    items = reader.sequence(entries["settings"][1], "settings")
    if event is None or items is None:
        return []
    if not items:
        reader.error(entries["settings"][1], "settings must list at least one setting")
    compiled = [
        compile_setting(reader, item, event=event, rule_payload=payload, scope=scope)
        for item in items
    ]
    return [s for s in compiled if s is not None]


def _event_type(reader: Reader, node: Node, events: EventCatalog) -> EventType | None:
    name = reader.string(node, "notification")
    if name is None:
        return None
    event = events.get(name)
    if event is None:
        reader.error(node, unknown_type_message(name, events.names()))
        return None
    if event.family != "notification":
        reader.error(
            node,
            f"{name} is an event (posted directly with `deltahook emit`); rules fire notifications",
        )
        return None
    return event


def _duplicates(settings: list[Setting]) -> list[SourceProblem]:
    first: dict[str, Setting] = {}
    problems = []
    for setting in settings:
        seen = first.setdefault(setting.uid, setting)
        if seen is not setting:
            problems.append(
                SourceProblem(
                    path=setting.path,
                    line=setting.line,
                    column=setting.column,
                    message=f"setting {setting.uid} is already defined at {seen.where}",
                )
            )
    return problems
