"""The OpenAPI document the app serves: FastAPI's, plus what only the running server knows.

FastAPI writes the document from the routes and their pydantic models (with the patterns of
``delivery_models``). ``builder`` adds the bearer scheme every operation but ``/healthz``
needs, the event types a subscription may name (the server's catalog), the webhook URLs it
takes (which depend on ``allow_private_urls``), and one ``POST /v1/events/<type>`` per event
type that may be posted, with that type's payload schema as its body (one operation with a
``{event_type}`` parameter can only say "any object"). So a request the document calls valid is
one the server accepts, save what JSON Schema cannot say: a ``retry_schedule`` whose delays
shrink, an ``until`` not after ``since`` (retry-failed), two header names that differ only in
case. Those the descriptions state.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from deltahook.api.routes.catalog import events_of
from deltahook.api.routes.subscriptions import known_types
from deltahook.api.security import OPEN_PATHS
from deltahook.catalog.events import EventCatalog, EventType
from deltahook.delivery.settings import url_pattern
from deltahook.engine import Engine
from deltahook.rules.payload import DEFAULTED

SUBSCRIPTION_BODIES = ("SubscriptionIn", "SubscriptionPatch")
EVENTS_PATH = "/v1/events/{event_type}"
# What a payload's values may be beyond their schema (``feeds.values``): no NUL in a text, no
# integer a store cannot keep.
NO_NUL = "^[^\\u0000]*$"
INTEGERS = {"minimum": -(2**63), "maximum": 2**64 - 1}


def builder(app: FastAPI, engine: Engine) -> Callable[[], dict[str, Any]]:
    """``app.openapi``: the document, made on first use and kept."""

    def build() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            _secure(document)
            schemas = document["components"]["schemas"]
            _name_event_types(schemas, ["*", *sorted(known_types(engine))])
            _webhook_urls(schemas, url_pattern(allow_private=engine.settings.allow_private_urls))
            _event_operations(document["paths"], events_of(engine), engine.settings.constants)
            app.openapi_schema = document
        return app.openapi_schema

    return build


def _secure(document: dict[str, Any]) -> None:
    """The bearer scheme, required by every operation but those of ``OPEN_PATHS``."""
    components = document.setdefault("components", {})
    components.setdefault("securitySchemes", {})["bearer"] = {"type": "http", "scheme": "bearer"}
    for path, operations in document.get("paths", {}).items():
        for operation in operations.values():
            operation["security"] = [] if path in OPEN_PATHS else [{"bearer": []}]


def _name_event_types(schemas: dict[str, Any], names: list[str]) -> None:
    """A subscription's ``event_types`` items as the enum of the names the server accepts (a
    pattern alone lets a client make up names the catalog does not know, which get 422)."""
    for model in SUBSCRIPTION_BODIES:
        field = schemas[model]["properties"]["event_types"]
        for variant in field.get("anyOf", [field]):
            if variant.get("type") == "array":
                variant["items"]["enum"] = names


def _webhook_urls(schemas: dict[str, Any], pattern: str) -> None:
    """A subscription's ``url`` as the pattern of the URLs this server takes."""
    for model in SUBSCRIPTION_BODIES:
        field = schemas[model]["properties"]["url"]
        for variant in field.get("anyOf", [field]):
            if variant.get("type") == "string":
                variant["pattern"] = pattern


def _event_operations(
    paths: dict[str, Any], events: EventCatalog, constants: Mapping[str, Any]
) -> None:
    """``POST /v1/events/{event_type}`` as one operation per type of the event family (rules
    derive notifications; posting one is refused), each with its payload schema."""
    generic = paths.pop(EVENTS_PATH)["post"]
    for event in sorted(events, key=lambda e: e.name):
        if event.family != "event":
            continue
        operation = copy.deepcopy(generic)
        operation["operationId"] = f"post_event_{event.name}"
        operation["summary"] = f"Post {event.name}"
        operation["parameters"] = [
            p for p in operation.get("parameters", []) if p["name"] != "event_type"
        ]
        body = operation["requestBody"]["content"]["application/json"]
        body["schema"] = _payload_schema(event, constants)
        paths[EVENTS_PATH.replace("{event_type}", event.name)] = {"post": operation}


def _payload_schema(event: EventType, constants: Mapping[str, Any]) -> dict[str, Any]:
    """The type's payload schema as a request body: the fields the project constants fill
    (``ClientId``, ``ApplicationId``) optional, texts without NUL, integers a store keeps."""
    schema = {k: v for k, v in copy.deepcopy(dict(event.schema)).items() if k != "$schema"}
    schema.pop("x-deltahook", None)
    filled = {name for name in DEFAULTED if name in constants}
    if "required" in schema:
        schema["required"] = [name for name in schema["required"] if name not in filled]
    for field in schema.get("properties", {}).values():
        if field.get("type") == "string" and "pattern" not in field and "enum" not in field:
            field["pattern"] = NO_NUL
        elif field.get("type") == "integer":
            field.setdefault("minimum", INTEGERS["minimum"])
            field.setdefault("maximum", INTEGERS["maximum"])
    return schema
