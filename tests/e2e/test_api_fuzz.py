"""Schemathesis against the served OpenAPI document: no 500, no answer that breaks its schema."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from deltahook.api import create_app
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


def test_no_request_gets_a_500_or_an_answer_outside_its_schema(api_schema: Any) -> None:
    """Generated requests, valid and not, get documented answers that match their schemas.

    Every operation, a few valid and a few invalid requests each, derandomised: the same run
    every time. (The loop stands in for schemathesis' pytest plugin, which pytest 9 breaks.)
    """
    failures: list[str] = []
    for result in api_schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _explore(operation, mode, failures)
    assert not failures, "\n\n".join(failures[:10])


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
        try:
            case.call_and_validate(headers=AUTH, checks=CHECKS)
        except (Exception, FailureGroup) as exc:  # keep going: report every failing operation
            failures.append(f"{operation.label} ({mode.value}): {exc}")

    try:
        run()
    except Unsatisfiable:
        assert mode is GenerationMode.NEGATIVE  # nothing to get wrong in a request without input
