"""What the routes share: the engine, the settings, the clock, and the parameter check."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError

from deltahook.engine import Engine
from deltahook.feeds import values


def engine(request: Request) -> Engine:
    found = request.app.state.engine
    assert isinstance(found, Engine)
    return found


EngineDep = Annotated[Engine, Depends(engine)]


def storable_parameters(request: Request) -> None:
    """Refuse (422, naming it) a path or query parameter no store can keep: PostgreSQL cannot
    even compare text holding a NUL, so a lookup by it would fail as if the database did."""
    given = [("path", name, value) for name, value in request.path_params.items()]
    given += [("query", name, value) for name, value in request.query_params.multi_items()]
    found = [(where, name, values.text_problem(str(value))) for where, name, value in given]
    problems = [
        {"loc": (where, name), "msg": reason, "type": "value_error"}
        for where, name, reason in found
        if reason is not None
    ]
    if problems:
        raise RequestValidationError(problems)
