"""Fixtures the rule tests share: the shipped entity kinds and event types, read once."""

from __future__ import annotations

import pytest

from deltahook.catalog.entities import Catalog, load_catalog
from deltahook.catalog.events import EventCatalog, load_event_catalog
from tests.conftest import REPO


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    """The shipped entity kinds."""
    return load_catalog(REPO / "schemas" / "entities")


@pytest.fixture(scope="session")
def events() -> EventCatalog:
    """The shipped event types."""
    return load_event_catalog(REPO / "schemas" / "events")
