"""Properties of rule evaluation on generated feeds, against real SQLite stores."""

from __future__ import annotations

import io
import itertools
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deltahook.catalog.entities import load_catalog
from deltahook.catalog.events import load_event_catalog
from deltahook.config import Settings
from deltahook.engine import Engine
from deltahook.notifications import Notification
from deltahook.rules.loader import load_rules
from deltahook.rules.model import RuleSet
from deltahook.store.db import open_engine
from tests.conftest import REPO
from tests.rules_strategies import scenarios

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
EVENTS = load_event_catalog(REPO / "schemas" / "events")
CATALOG = load_catalog(REPO / "schemas" / "entities")
CONSTANTS = Settings().constants
SHIPPED = load_rules(REPO / "rules", catalog=CATALOG, events=EVENTS, constants=CONSTANTS)
PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def template() -> Iterator[Path]:
    """An empty database at the current schema, copied for each example (creating is slow)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "template.db"
        open_engine(f"sqlite:///{path}").dispose()
        yield path


@pytest.fixture(scope="module")
def reordered_rules() -> Iterator[RuleSet]:
    """The shipped rule files, renamed so that they load in the reverse order."""
    with tempfile.TemporaryDirectory() as folder:
        files = sorted((REPO / "rules").glob("*.yaml"))
        for number, path in enumerate(reversed(files)):
            shutil.copy(path, Path(folder) / f"{number:02d}-{path.name}")
        yield load_rules(Path(folder), catalog=CATALOG, events=EVENTS, constants=CONSTANTS)


@contextmanager
def fresh(template: Path, *, batch_size: int = 3, rules: RuleSet = SHIPPED) -> Iterator[Engine]:
    """An engine on a copy of the template database (the catalogs are loaded once)."""
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 't.db'}"
        shutil.copy(template, Path(folder) / "t.db")
        jobs = itertools.count(1)
        with Engine(
            settings=Settings(database_url=url, batch_size=batch_size),
            catalog=CATALOG,
            db=open_engine(url),
            rules=rules,
            events=EVENTS,
            clock=lambda: NOW,
            new_id=lambda: f"job-{next(jobs)}",
        ) as engine:
            yield engine


def stream(records: list[dict[str, Any]]) -> io.BytesIO:
    return io.BytesIO(b"".join(orjson.dumps(r) + b"\n" for r in records))


def decided(notes: list[Notification]) -> list[tuple[str, str]]:
    """What a receiver would get: type and payload (explanations aside; ids are the job's in
    the order decided, so the same only for the same order), each once."""
    assert len({n.id for n in notes}) == len(notes)
    return sorted(
        (n.type, orjson.dumps(dict(n.payload), option=orjson.OPT_SORT_KEYS).decode()) for n in notes
    )


Scenario = tuple[str, list[dict[str, Any]], list[dict[str, Any]]]


@PROPERTY
@given(scenario=scenarios())
def test_every_payload_validates_against_its_schema(template: Path, scenario: Scenario) -> None:
    """Whatever the feeds, each decided notification's payload matches its type's schema."""
    kind, first, second = scenario
    with fresh(template) as engine:
        one = engine.ingest(kind, stream(first), fmt="ndjson", collect=True)
        two = engine.ingest(kind, stream(second), fmt="ndjson", collect=True)
    for note in [*one.notifications, *two.notifications]:
        assert EVENTS.require(note.type).errors(dict(note.payload)) == []
    assert not [n for n in two.notices if "payload not sent" in n]


@PROPERTY
@given(scenario=scenarios(), order=st.randoms(use_true_random=False), batch=st.integers(1, 4))
def test_decisions_do_not_depend_on_the_order_of_feed_records(
    template: Path, scenario: Scenario, order: Any, batch: int
) -> None:
    """The second feed shuffled, in any batch size, decides the same notifications."""
    kind, first, second = scenario
    shuffled = list(second)
    order.shuffle(shuffled)
    with fresh(template, batch_size=batch) as engine:
        engine.ingest(kind, stream(first), fmt="ndjson")
        as_given = engine.preview(kind, stream(second), fmt="ndjson")
        reordered = engine.preview(kind, stream(shuffled), fmt="ndjson")
    assert decided(as_given.notifications) == decided(reordered.notifications)


@PROPERTY
@given(scenario=scenarios())
def test_decisions_do_not_depend_on_the_order_of_rule_files(
    template: Path, reordered_rules: RuleSet, scenario: Scenario
) -> None:
    """The shipped rules loaded in the reverse file order decide the same notifications."""
    kind, first, second = scenario
    results = []
    for rules in (SHIPPED, reordered_rules):
        with fresh(template, rules=rules) as engine:
            engine.ingest(kind, stream(first), fmt="ndjson")
            results.append(engine.ingest(kind, stream(second), fmt="ndjson", collect=True))
    assert decided(results[0].notifications) == decided(results[1].notifications)


@PROPERTY
@given(scenario=scenarios())
def test_preview_and_ingest_decide_the_same_notifications(
    template: Path, scenario: Scenario
) -> None:
    """Preview (rolled back) and ingest of the same feed decide identical notifications."""
    kind, first, second = scenario
    with fresh(template) as engine:
        engine.ingest(kind, stream(first), fmt="ndjson")
        engine.new_id = lambda: "second"  # the same job id for both: the same ids, in order
        preview = engine.preview(kind, stream(second), fmt="ndjson")
        ingest = engine.ingest(kind, stream(second), fmt="ndjson", collect=True)
    assert [n.to_json() for n in preview.notifications] == [
        n.to_json() for n in ingest.notifications
    ]
