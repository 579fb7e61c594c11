"""Schemathesis against the served OpenAPI document: no 500, no answer that breaks its schema,
and every request the document calls valid accepted."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

from deltahook.api import create_app
from deltahook.delivery.retry import parse_duration
from deltahook.engine import Engine
from tests.api_support import AUTH, STOCK, ndjson, served
from tests.api_support import settings as api_settings


@schemathesis.serializer("application/x-ndjson")
def _ndjson(ctx: Any, value: Any) -> bytes:
    """NDJSON bodies: a list becomes one record per line, anything else one line."""
    rows = value if isinstance(value, list) else [value]
    return "".join(json.dumps(row) + "\n" for row in rows).encode()  # json: any int size


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    folder: Path = tmp_path_factory.mktemp("fuzz")
    engine = Engine.from_settings(api_settings(f"sqlite:///{folder / 'db.sqlite'}"))
    app = create_app(engine.settings, engine=engine)
    with served(app) as base:
        schema = schemathesis.openapi.from_url(f"{base}/openapi.json", headers=AUTH)
        engine.ingest("sku_onhand", io.BytesIO(ndjson([STOCK])), fmt="ndjson")  # data to find
        yield schema
    engine.close()


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# A valid request (2xx; 404 for a name that is not there; 409 for one taken) is accepted.
ACCEPTED = {GenerationMode.POSITIVE: [*CHECKS, positive_data_acceptance]}


def test_no_request_gets_a_500_or_an_answer_outside_its_schema(api_schema: Any) -> None:
    """Generated requests, valid and not, get documented answers that match their schemas, and
    a valid one is accepted.

    Every operation, a few valid and a few invalid requests each, derandomised: the same run
    every time. (The loop stands in for schemathesis' pytest plugin, which pytest 9 breaks.)
    """
    failures: list[str] = []
    for result in api_schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _explore(operation, mode, failures)
    assert not failures, "\n\n".join(failures[:10])


def beyond_json_schema(body: Any) -> bool:
    """Whether a body breaks a rule the document states in words only, JSON Schema having no
    way to: a retry schedule's delays never shrink, ``until`` is later than ``since``, a
    header is named once whatever the case."""
    if not isinstance(body, dict):
        return False
    try:
        return _shrinks(body.get("retry_schedule")) or _empty_window(body) or _named_twice(body)
    except (ValueError, TypeError):  # a time or delay this check cannot read: the server judges
        return False


def _shrinks(schedule: Any) -> bool:
    if isinstance(schedule, str):
        schedule = [parse_duration(item) for item in schedule.split(",")]
    return isinstance(schedule, list) and schedule != sorted(schedule)


def _empty_window(body: dict[str, Any]) -> bool:
    since, until = body.get("since"), body.get("until")
    if not (isinstance(since, str) and isinstance(until, str)):
        return False
    return datetime.fromisoformat(until) <= datetime.fromisoformat(since)


def _named_twice(body: dict[str, Any]) -> bool:
    headers = body.get("headers")
    return isinstance(headers, dict) and len({n.lower() for n in headers}) < len(headers)


def test_the_rules_beyond_json_schema_are_told_apart() -> None:
    """The filter above knows each rule it stands for, and lets a valid body through."""
    assert beyond_json_schema({"retry_schedule": [60, 5]})
    assert beyond_json_schema({"retry_schedule": "1m, 5s"})
    assert beyond_json_schema({"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"})
    assert beyond_json_schema({"headers": {"X-A": "1", "x-a": "2"}})
    valid = {"retry_schedule": "5s, 5s, 1m", "since": "2026-01-01T00:00:00Z", "headers": {}}
    assert not beyond_json_schema(valid)


def _explore(operation: Any, mode: GenerationMode, failures: list[str]) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=10,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        if mode is GenerationMode.POSITIVE:
            assume(not beyond_json_schema(case.body))
        try:
            case.call_and_validate(headers=AUTH, checks=ACCEPTED.get(mode, CHECKS))
        except (Exception, FailureGroup) as exc:  # keep going: report every failing operation
            failures.append(f"{operation.label} ({mode.value}): {exc}")

    try:
        run()
    except Unsatisfiable:
        assert mode is GenerationMode.NEGATIVE  # nothing to get wrong in a request without input
