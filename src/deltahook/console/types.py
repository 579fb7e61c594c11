"""One event type's page: the Configuration tab (switch on/off, test send), Event metadata."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from fastapi import APIRouter, HTTPException, Request, Response

from deltahook.api.deps import EngineDep
from deltahook.api.routes.catalog import events_of
from deltahook.catalog.events import EventType, unknown_type_message
from deltahook.console.render import back, checked_form, flash_fits, flashed, page, redirect
from deltahook.delivery import managed
from deltahook.delivery import subscriptions as subs
from deltahook.delivery.testsend import send_test
from deltahook.engine import Engine
from deltahook.store.db import reading

router = APIRouter(prefix="/admin", include_in_schema=False)
TABS = (
    ("", "Configuration"),
    ("/metadata", "Event metadata"),
    ("/settings", "Event Settings"),
    ("/log", "Log"),
)
SWITCH = {"on": True, "off": False}


def event_type(engine: Engine, name: str) -> EventType:
    events = events_of(engine)
    found = events.get(name)
    if found is None:
        raise HTTPException(404, unknown_type_message(name, events.names()))
    return found


def type_page(
    request: Request, template: str, event: EventType, *, tab: str, **context: Any
) -> Response:
    """A tab of the type's page (``tab`` is its path suffix): header and tabs, then
    ``template``."""
    here = f"/admin/types/{event.name}{tab}"
    return page(request, template, event=event, tabs=TABS, here=here, **context)


@router.get("/types/{name}")
def configuration(request: Request, name: str, engine: EngineDep) -> Response:
    """Each subscription receiving the type: its settings (no header value or secret), and
    the answer to a test send just made (``test_send``)."""
    tested = flashed(request).get("tested")
    return _configuration(request, engine, name, tested=tested if isinstance(tested, dict) else {})


def _configuration(
    request: Request, engine: Engine, name: str, *, tested: dict[str, dict[str, Any]]
) -> Response:
    event = event_type(engine, name)
    with reading(engine.db) as conn:
        receiving = [s for s in subs.load(conn) if s.wants(name)]
    cards = [_card(s) for s in receiving]
    return type_page(request, "configuration.html", event, tab="", cards=cards, tested=tested)


def _card(sub: subs.Subscription) -> dict[str, Any]:
    summary = sub.summary()
    schedule = ", ".join(_duration(d.total_seconds()) for d in sub.schedule)
    return summary | {"header_names": sorted(sub.headers), "schedule": schedule}


def _duration(seconds: float) -> str:
    for unit, size in (("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)} {unit}"
    return f"{seconds:g} s"


@router.post("/subscriptions/{name}/enabled")
async def switch(request: Request, name: str, engine: EngineDep) -> Response:
    """Switch a subscription on or off, persisted as ``deltahook subscriptions enable`` does."""
    fields = await checked_form(request)
    enabled = _switch_value(fields.get("enabled"))

    def change() -> None:
        with engine.db.begin() as conn:
            managed.change(
                conn,
                name,
                {"enabled": enabled},
                allow_private=engine.settings.allow_private_urls,
                now=engine.clock(),
            )

    await anyio.to_thread.run_sync(change)
    notice = f"{name} is now {'on' if enabled else 'off'}"
    return redirect(request, back(fields, "/admin/subscriptions"), notice=notice)


def _switch_value(value: str | None) -> bool:
    """``on`` or ``off``, as the switch posts them; anything else is refused, never read as off."""
    if value not in SWITCH:
        shown = "nothing" if value is None else repr(value[:40])
        raise HTTPException(422, f"enabled must be 'on' or 'off', not {shown}")
    return SWITCH[value]


@router.post("/types/{name}/test")
async def test_send(request: Request, name: str, engine: EngineDep) -> Response:
    """Send a TestEvent to one subscription, then show its answer on the Configuration tab
    (a 303 to it, so that reloading the page sends nothing again)."""
    fields = await checked_form(request)
    subscription = fields.get("subscription", "")
    event_type(engine, name)

    def find() -> subs.Subscription:
        with reading(engine.db) as conn:
            return subs.get(conn, subscription)

    sub = await anyio.to_thread.run_sync(find)
    report = await send_test(
        sub,
        constants=engine.settings.constants,
        now=engine.clock(),
        allow_private=engine.settings.allow_private_urls,
    )
    return redirect(request, f"/admin/types/{name}", tested=_fitted(request, subscription, report))


def _fitted(request: Request, name: str, report: dict[str, Any]) -> dict[str, Any]:
    """``{name: report}``, the report's response excerpt, then its error (both the receiver's
    words: a refused redirect names the host it led to), cut (marked ``…``) until it fits a
    flash cookie."""
    for key in ("response_excerpt", "error"):
        text = report.get(key) or ""
        while text and not flash_fits(request, {"tested": {name: report}}):
            text = text[: len(text) // 2]
            report = report | {key: f"{text} …" if text else None}
    return {name: report}


@router.get("/types/{name}/metadata")
def metadata(request: Request, name: str, engine: EngineDep) -> Response:
    """The payload schema as a table of properties, and an example payload that validates."""
    event = event_type(engine, name)
    schema = event.schema
    required = set(schema.get("required", ()))
    rows = [
        {
            "name": prop,
            "type": _type_of(spec),
            "required": prop in required,
            "description": spec.get("description", ""),
        }
        for prop, spec in schema.get("properties", {}).items()
    ]
    examples = [e for e in schema.get("examples", ()) if event.is_valid(e)]
    return type_page(
        request, "metadata.html", event, tab="/metadata", rows=rows, example=examples[:1]
    )


def _type_of(spec: dict[str, Any]) -> str:
    kind = spec.get("type", "any")
    text = " or ".join(kind) if isinstance(kind, list) else str(kind)
    if "enum" in spec:
        text += " (" + ", ".join(map(str, spec["enum"])) + ")"
    if kind == "array" and isinstance(spec.get("items"), dict):
        text += " of " + _type_of(spec["items"])
    return text
