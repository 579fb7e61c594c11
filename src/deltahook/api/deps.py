"""What the routes share: the engine, the settings, and the clock."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from deltahook.engine import Engine


def engine(request: Request) -> Engine:
    found = request.app.state.engine
    assert isinstance(found, Engine)
    return found


EngineDep = Annotated[Engine, Depends(engine)]
