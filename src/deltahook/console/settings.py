"""The Event Settings tab: the rule settings that fire a type, read only, and Try it."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import anyio.to_thread
import orjson
from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from deltahook.api.deps import EngineDep
from deltahook.console.render import checked_form
from deltahook.console.types import event_type, type_page
from deltahook.engine import Engine
from deltahook.errors import DeltahookError
from deltahook.rules.model import Setting
from deltahook.rulestats import SettingStats, setting_stats
from deltahook.store.db import reading

router = APIRouter(prefix="/admin", include_in_schema=False)
SNIPPET_LINES = 60
SHOWN_FIELDS = 5
ANSWER_CACHE = "private, no-cache"
"""Try it's answer, kept in the browser's own cache (it holds no secret) so that Back to it
shows it again: with no-store, Chromium asks to post the form again (ERR_CACHE_MISS)."""


@router.get("/types/{name}/settings")
def settings_tab(request: Request, name: str, engine: EngineDep) -> Response:
    """Each setting with its file:line, what it watches and fills; an empty Try it form."""
    return _settings(request, engine, name, tried=None, form={})


@router.get("/types/{name}/try")
def try_it_again(name: str, engine: EngineDep) -> Response:
    """Try it's answer is at its form's address: opened again (a copied link, a restored
    tab), that address leads to the form."""
    event = event_type(engine, name)
    return RedirectResponse(f"/admin/types/{event.name}/settings#try", status_code=303)


@router.post("/types/{name}/try")
async def try_it(request: Request, name: str, engine: EngineDep) -> Response:
    """What changing one entity from before to after would notify, and the near misses: the
    preview the API serves (``POST /v1/preview/{kind}/pair?explain=true``)."""
    fields = await checked_form(request)
    tried = await anyio.to_thread.run_sync(lambda: _preview(engine, fields))
    answer = await anyio.to_thread.run_sync(
        lambda: _settings(request, engine, name, tried=tried, form=fields)
    )
    answer.headers["Cache-Control"] = ANSWER_CACHE
    return answer


def _preview(engine: Engine, fields: dict[str, str]) -> dict[str, Any]:
    kind = fields.get("kind", "")
    try:
        text = fields.get("before", "")
        before = _record(text, "before") if text.strip() else None  # empty: a new entity
        after = _record(fields.get("after", ""), "after")
        if kind not in engine.catalog:
            return {"error": f"unknown entity kind {kind!r}"}
        result = engine.preview_pair(kind, before=before, after=after, explain=True)
    except (ValueError, DeltahookError) as exc:
        return {"error": str(exc)}
    problems = [f"line {r.line}: {r.reason}" for r in result.rejects]
    if problems:
        return {"error": "; ".join(problems)}
    return {
        "notifications": [n.to_json() for n in result.notifications],
        "near_misses": result.near_misses,
    }


def _record(text: str, label: str) -> dict[str, Any]:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"{label}: not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise ValueError(f"{label}: a JSON object is needed, not {type(value).__name__}")
    return value


def _settings(
    request: Request,
    engine: Engine,
    name: str,
    *,
    tried: dict[str, Any] | None,
    form: dict[str, str],
) -> Response:
    event = event_type(engine, name)
    firing = [s for s in engine.rules or () if s.type == name]
    kinds = sorted({s.kind for s in firing}) + sorted(
        k.name for k in engine.catalog if k.name not in {s.kind for s in firing}
    )
    with reading(engine.db) as conn:  # the query ``deltahook rules stats`` runs
        fired = {s.setting: s for s in setting_stats(conn, now=engine.clock(), type=name)}
    return type_page(
        request,
        "settings.html",
        event,
        tab="/settings",
        settings=[_described(s) | _fired(fired.get(s.uid)) for s in firing],
        kinds=kinds,
        tried=tried,
        form=form,
    )


def _described(setting: Setting) -> dict[str, Any]:
    return {
        "uid": setting.uid,
        "where": f"{Path(setting.path).name}:{setting.line}",
        "kind": setting.kind,
        "table": setting.table,
        "ops": sorted(str(op.value) for op in setting.ops),
        "watch": list(setting.watch),
        "filter": setting.filter.text if setting.filter else None,
        "threshold": setting.threshold.to_json() if setting.threshold else None,
        "breakpoint": setting.breakpoint.to_json() if setting.breakpoint else None,
        "payload": [target for target, _ in setting.payload.fields],
        "source": _snippet(setting),
    }


def _fired(stats: SettingStats | None) -> dict[str, Any]:
    """The notifications a setting fired in the last day and week and its top fields."""
    if stats is None:
        return {"fired_day": 0, "fired_week": 0, "fired_fields": []}
    return {
        "fired_day": stats.day,
        "fired_week": stats.week,
        "fired_fields": stats.fields.most_common(SHOWN_FIELDS),
    }


def _snippet(setting: Setting) -> str | None:
    """The setting as written in its rule file (None when the file cannot be read)."""
    try:
        lines = Path(setting.path).read_text().splitlines()
    except OSError:
        return None
    start = setting.line - 1
    if not 0 <= start < len(lines):
        return None
    indent = _indent(lines[start])  # the column of the setting's "- "
    taken = [lines[start]]
    for line in lines[start + 1 : start + SNIPPET_LINES]:
        if line.strip() and _indent(line) <= indent:
            break
        taken.append(line)
    return textwrap.dedent("\n".join(taken)).rstrip()


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))
