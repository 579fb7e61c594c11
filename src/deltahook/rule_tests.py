"""Rule test files: given snapshots, feeds, and the notifications expected (or none).

    rules: ..                     # the rules folder, relative to this file (default: configured)
    defaults:                     # fields merged under every record of a kind (record wins)
      sku_onhand: {WarehouseCode: W1, WarehouseId: 1, LocationCode: L1, LocationId: 1}
    cases:
      - name: stock 7 -> 2 with minimum 3 fires one breakpoint
        only: [SkuOnHandBreakPointNotification]   # compare these types only (default: all)
        given:
          sku_onhand: [{PartNo: A, OnhandValue: 7, MinimumValue: 3}]
        steps:
          - feed: {sku_onhand: [{PartNo: A, OnhandValue: 2, MinimumValue: 3}]}
            expect:
              - type: SkuOnHandBreakPointNotification
                payload: {OnHandValue: 2, MinimumValue: 3}   # a subset of the payload

A case with one step may put ``feed`` (and ``mode``) and ``expect`` on the case itself. Each
case runs on a scratch database through the real ingest path: ``given`` is ingested first (its
notifications are not compared), then each step, in order, so breakpoint state carries over.
"""

from __future__ import annotations

import io
import json
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from deltahook.catalog.entities import load_catalog
from deltahook.catalog.events import load_event_catalog
from deltahook.changes.model import EntityChange
from deltahook.config import Settings
from deltahook.engine import Engine
from deltahook.errors import DeltahookError, RuleError
from deltahook.feeds.items import Reject
from deltahook.notifications import Notification
from deltahook.results import MODES, Mode
from deltahook.rules.coverage import Coverage
from deltahook.rules.explain import summary
from deltahook.rules.loader import load_rules
from deltahook.rules.model import RuleSet
from deltahook.rules.operands import same
from deltahook.rules.source import Node, Reader, value_of
from deltahook.rules.testnames import TestNames
from deltahook.store import scratch as scratch_store
from deltahook.store.db import open_engine

_CASE_KEYS = ("name", "only", "given", "steps", "feed", "mode", "expect")


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    feeds: Mapping[str, list[dict[str, Any]]]
    mode: Mode
    expect: list[dict[str, Any]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Case:
    name: str
    line: int
    only: frozenset[str] | None
    given: Mapping[str, list[dict[str, Any]]]
    steps: list[Step]


@dataclass(slots=True, kw_only=True)
class CaseResult:
    """The outcome of one case: ``failures`` is empty when it passed."""

    path: str
    case: Case
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def title(self) -> str:
        return f"{self.path}:{self.case.line} {self.case.name}"


@dataclass(frozen=True, slots=True, kw_only=True)
class TestFile:
    path: Path
    rules_dir: Path | None
    cases: list[Case]


def read_test_file(path: Path, *, names: TestNames | None = None) -> TestFile:
    """Parse a rule test file; raises ``RuleError`` listing every problem with its place.

    With ``names``, every event type, kind, field and payload property it names is checked.
    """
    reader = Reader(str(path))
    text = reader.read(path, "test file")
    root = reader.compose(text) if text is not None else None
    top = (
        reader.mapping(
            root, "a rule test file", allowed=("rules", "defaults", "cases"), required=("cases",)
        )
        if root is not None
        else None
    )
    if top is None or "cases" not in top:
        if not reader.problems:
            reader.error(root, "a rule test file needs cases:")
        raise RuleError(reader.problems)
    rules_dir = None
    if "rules" in top:
        folder = reader.string(top["rules"][1], "rules")
        rules_dir = (path.parent / folder).resolve() if folder else None
    defaults = _defaults(reader, top["defaults"][1]) if "defaults" in top else {}
    nodes = reader.sequence(top["cases"][1], "cases")
    if nodes == []:  # a file that tests nothing would pass in CI
        reader.error(top["cases"][1], "cases needs at least one case")
    cases = [case for node in nodes or [] if (case := _case(reader, node, defaults))]
    if names is not None:
        names.check(reader, top)
    if reader.problems:
        raise RuleError(reader.problems)
    return TestFile(path=path, rules_dir=rules_dir, cases=cases)


def _defaults(reader: Reader, node: Node) -> dict[str, dict[str, Any]]:
    value = value_of(node)
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        reader.error(node, "defaults must be given as {kind: {field: value, ...}}")
        return {}
    return value


def _case(reader: Reader, node: Node, defaults: Mapping[str, Any]) -> Case | None:
    entries = reader.mapping(node, "a case", allowed=_CASE_KEYS, required=("name",))
    if entries is None or "name" not in entries:
        return None
    name = reader.string(entries["name"][1], "name") or "?"
    if ("steps" in entries) == ("feed" in entries):
        reader.error(node, "a case needs either steps: or feed: and expect:")
        return None
    step_nodes = (
        reader.sequence(entries["steps"][1], "steps") or [] if "steps" in entries else [node]
    )
    steps = [s for n in step_nodes if (s := _step(reader, n, defaults))]
    only = None
    if "only" in entries:
        only = frozenset(t for _n, t in reader.strings(entries["only"][1], "only") or [])
    given = _feeds(reader, entries["given"][1], defaults) if "given" in entries else {}
    return Case(name=name, line=node.start_mark.line + 1, only=only, given=given or {}, steps=steps)


def _step(reader: Reader, node: Node, defaults: Mapping[str, Any]) -> Step | None:
    entries = reader.mapping(node, "a step", allowed=_CASE_KEYS)
    if entries is None:
        return None
    if "feed" not in entries or "expect" not in entries:
        reader.error(node, "a step needs feed: and expect: (expect: [] for none)")
        return None
    feeds = _feeds(reader, entries["feed"][1], defaults)
    expect = value_of(entries["expect"][1])
    if not isinstance(expect, list) or not all(
        isinstance(e, dict)
        and isinstance(e.get("type"), str)
        and isinstance(e.get("payload") or {}, dict)
        for e in expect
    ):
        reader.error(entries["expect"][1], "expect must list {type: ..., payload: {...}} items")
        return None
    mode = value_of(entries["mode"][1]) if "mode" in entries else "upsert"
    if mode not in MODES:
        reader.error(entries["mode"][1], f"mode must be one of {', '.join(MODES)}")
        return None
    return None if feeds is None else Step(feeds=feeds, mode=mode, expect=expect)


def _feeds(
    reader: Reader, node: Node, defaults: Mapping[str, Any]
) -> dict[str, list[dict[str, Any]]] | None:
    value = value_of(node)
    if not isinstance(value, dict) or not all(
        isinstance(records, list) and all(isinstance(r, dict) for r in records)
        for records in value.values()
    ):
        reader.error(node, "records must be given as {kind: [record, ...]}")
        return None
    return {
        kind: [{**defaults.get(kind, {}), **record} for record in records]
        for kind, records in value.items()
    }


def run_file(
    settings: Settings, path: Path, *, coverage: Coverage | None = None
) -> list[CaseResult]:
    """Run every case of a test file against the rule set it names (or the configured one);
    with ``coverage``, record in it what the cases' steps exercised."""
    catalog = load_catalog(settings.entity_schemas_dir)
    events = load_event_catalog(settings.event_schemas_dir)
    test = read_test_file(path, names=TestNames(catalog, events))
    rules_dir = test.rules_dir or settings.rules_dir
    rules = load_rules(rules_dir, catalog=catalog, events=events, constants=settings.constants)
    results = []
    with tempfile.TemporaryDirectory(prefix="deltahook-ruletest-") as folder:
        template = Path(folder) / "template.db"
        scratch_store.make_empty(template)  # the schema: the slow part, done once
        for number, case in enumerate(test.cases):
            db = Path(folder) / f"case-{number}.db"
            shutil.copy(template, db)
            url = f"sqlite:///{db}"
            scratch = settings.model_copy(update={"database_url": url, "job_events": False})
            engine = Engine(settings=scratch, catalog=catalog, db=open_engine(url), rules=rules)
            with engine:
                results.append(_run_case(engine, str(path), case, coverage=coverage, rules=rules))
    return results


def _run_case(
    engine: Engine, path: str, case: Case, *, coverage: Coverage | None, rules: RuleSet
) -> CaseResult:
    result = CaseResult(path=path, case=case)
    for kind, records in case.given.items():
        _ingest(engine, kind, records, "upsert", result.failures, "given: ")
    for number, step in enumerate(case.steps, start=1):
        where = f"step {number}: " if len(case.steps) > 1 else ""
        fired: list[Notification] = []
        changes: list[EntityChange] = []
        for kind, records in step.feeds.items():
            fired.extend(_ingest(engine, kind, records, step.mode, result.failures, where, changes))
        if case.only is not None:
            fired = [n for n in fired if n.type in case.only]
        if coverage is not None:
            coverage.add(rules, changes, fired)
        result.failures.extend(f"{where}{p}" for p in compare(step.expect, fired))
    return result


def _ingest(
    engine: Engine,
    kind: str,
    records: list[dict[str, Any]],
    mode: Mode,
    failures: list[str],
    where: str,
    changes: list[EntityChange] | None = None,
) -> list[Notification]:
    # Written by the standard library, which keeps NaN and integers of any width as they are
    # (orjson writes NaN as null and refuses wide integers): the reader rejects them by field.
    data = "".join(json.dumps(r) + "\n" for r in records).encode()
    try:
        run = engine.ingest(kind, io.BytesIO(data), fmt="ndjson", mode=mode, collect=True)
    except DeltahookError as exc:
        failures.append(f"{where}cannot ingest {kind}: {exc}")
        return []
    if changes is not None:
        changes.extend(run.changes)
    failures.extend(f"{where}{kind} record {_rejected(r)}" for r in run.rejects)
    failures.extend(f"{where}{notice}" for notice in run.notices if "payload not sent" in notice)
    return list(run.notifications)


def _rejected(reject: Reject) -> str:
    field = f"{reject.field}: " if reject.field else ""
    return f"{reject.line} rejected: {field}{reject.reason}"


def compare(expected: list[dict[str, Any]], fired: list[Notification]) -> list[str]:
    """Readable differences between what a step expects and what fired (empty if equal)."""
    left = list(fired)
    missing = []
    for item in expected:
        match = next((n for n in left if _matches(item, n)), None)
        if match is None:
            missing.append(item)
        else:
            left.remove(match)
    lines: list[str] = []
    if missing:
        lines.append("expected, but not fired:")
        lines.extend(f"  {_expected_text(item)}" for item in missing)
    if left:
        lines.append("fired, but not expected:")
        for n in left:
            lines.append(f"  {n.type} {_payload_text(n.payload)}")
            lines.extend(f"    why: {line}" for line in summary(dict(n.explanation)).splitlines())
    if missing and fired:
        lines.append(f"({len(fired)} fired in all)")
    return lines


def _matches(item: Mapping[str, Any], n: Notification) -> bool:
    if item["type"] != n.type:
        return False
    wanted = item.get("payload") or {}
    return all(k in n.payload and same(n.payload[k], v) for k, v in wanted.items())


def _expected_text(item: Mapping[str, Any]) -> str:
    return f"{item['type']} {_payload_text(item.get('payload') or {})}"


def _payload_text(payload: Mapping[str, Any]) -> str:
    return orjson.dumps(dict(sorted(payload.items()))).decode()
