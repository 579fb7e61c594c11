"""Subscriptions made in the console (or over the API): create, edit, delete.

The same validation and writes as ``POST/PATCH/DELETE /v1/subscriptions``
(``deltahook.delivery.managed``). Header values and secrets are write-only: the forms never
show them; leaving those fields empty on an edit keeps what is stored. The edit form removes
a stored header by a tick beside its name, and keeps (a rotation) or removes the stored
secrets by a tick: the stored values are read to make the same whole ``headers`` and
``secrets`` a ``PATCH`` sends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request, Response
from pydantic import ValidationError

from deltahook.api.deps import EngineDep
from deltahook.api.routes.subscriptions import declared, known_types
from deltahook.console.render import checked_form, deliveries, page, redirect
from deltahook.delivery import managed
from deltahook.delivery import subscriptions as subs
from deltahook.engine import Engine
from deltahook.errors import DeltahookError, SubscriptionConflictError
from deltahook.store.db import reading

router = APIRouter(prefix="/admin", include_in_schema=False)
KEPT = ("name", "url", "event_types", "header_style", "keep_secrets", "remove_secrets")
"""The fields a refused form is filled with again (header values and secrets never are)."""
WRITE_ONLY = ("headers", "secrets")
REMOVE_HEADER = "remove_header:"
"""The edit form's tick beside a stored header's name, which removes that header."""
FIELDS = ("name", "url", "event_types", "headers", "secrets", "header_style")
"""The form's fields a problem can be shown beside."""
JARGON = "Value error, "
"""How pydantic starts a validator's own message: not the operator's business."""


@dataclass(frozen=True, slots=True)
class Problem:
    """What is wrong with a refused form, and the field it is shown beside ('' for none)."""

    field: str
    text: str

    @property
    def beside(self) -> str:
        """The text shown beside the field: without the field's name it starts with."""
        rest = self.text.removeprefix(self.field)
        if not self.field or rest == self.text:
            return self.text
        rest = rest.lstrip(".0123456789")  # event_types.0: the first type
        return rest.removeprefix(":").removeprefix(",").strip()


def form_page(
    request: Request,
    engine: Engine,
    *,
    sub: subs.Subscription | None,
    problems: list[Problem],
    given: dict[str, str] | None = None,
) -> Response:
    """The create form (``sub`` None) or the edit form of ``sub``, with what went wrong;
    a refused form keeps what was ``given`` but header values and secrets. A subscription of
    the config file has no form: it says where to change it."""
    status = 422 if problems else 200
    stored = (
        {"url": subs.shown_url(sub.url), "event_types": ",".join(sorted(sub.event_types))}
        if sub
        else {}
    )
    typed = {k: v for k, v in (given or {}).items() if k in KEPT or k.startswith(REMOVE_HEADER)}
    return page(
        request,
        "subscription_form.html",
        status=status,
        sub=sub.summary() | {"header_names": sorted(sub.headers)} if sub else None,
        values=stored | typed,
        retype=any((given or {}).get(k, "").strip() for k in WRITE_ONLY),
        types=sorted(known_types(engine)),
        problems=[p.text for p in problems],
        beside={f: [p.beside for p in problems if p.field == f] for f in FIELDS},
        first=next((p.field for p in problems if p.field), ""),
        owned=managed.owned_elsewhere(sub) if sub and sub.source != managed.FROM_API else None,
    )


@router.get("/subscriptions/new")
def new_form(request: Request, engine: EngineDep) -> Response:
    return form_page(request, engine, sub=None, problems=[])


@router.post("/subscriptions/new")
async def create(request: Request, engine: EngineDep) -> Response:
    """Validate and store a new subscription, as ``POST /v1/subscriptions`` does."""
    fields = await checked_form(request)

    def run() -> None:
        data = _settings(fields, keep_empty=False) | {"name": fields.get("name", "").strip()}
        settings = managed.validated(
            data, allow_private=engine.settings.allow_private_urls, known_types=known_types(engine)
        )
        with engine.db.begin() as conn:
            managed.create(conn, settings, declared=declared(engine), now=engine.clock())

    problems = await _attempt(run)
    if problems:
        return form_page(request, engine, sub=None, problems=problems, given=fields)
    notice = f"{fields.get('name', '').strip()} is created"
    return redirect(request, "/admin/subscriptions", notice=notice)


@router.get("/subscriptions/{name}/edit")
def edit_form(request: Request, name: str, engine: EngineDep) -> Response:
    with reading(engine.db) as conn:
        sub = subs.get(conn, name)
    return form_page(request, engine, sub=sub, problems=[])


@router.post("/subscriptions/{name}/edit")
async def edit(request: Request, name: str, engine: EngineDep) -> Response:
    """Change URL, event types and (when given) headers and secrets, as ``PATCH`` does."""
    fields = await checked_form(request)

    def run() -> None:
        with engine.db.begin() as conn:
            managed.change(
                conn,
                name,
                _edits(fields, subs.get(conn, name)),
                allow_private=engine.settings.allow_private_urls,
                now=engine.clock(),
                known_types=known_types(engine),
            )

    problems = await _attempt(run)
    if problems:
        with reading(engine.db) as conn:
            sub = subs.get(conn, name)
        return form_page(request, engine, sub=sub, problems=problems, given=fields)
    return redirect(request, "/admin/subscriptions", notice=f"{name} is saved")


@router.post("/subscriptions/{name}/delete")
async def delete(request: Request, name: str, engine: EngineDep) -> Response:
    """Delete a subscription made here or over the API; its queued deliveries end as dead."""
    await checked_form(request)

    def run() -> int:
        with engine.db.begin() as conn:
            return managed.remove(conn, name, now=engine.clock())

    ended = await anyio.to_thread.run_sync(run)
    notice = f"{name} is deleted ({deliveries(ended, 'queued')} ended)"
    return redirect(request, "/admin/subscriptions", notice=notice)


def _settings(fields: dict[str, str], *, keep_empty: bool) -> dict[str, Any]:
    """The form's settings; with ``keep_empty``, empty headers and secrets are left out."""
    data: dict[str, Any] = {
        "url": fields.get("url", "").strip(),
        "event_types": [t.strip() for t in fields.get("event_types", "").split(",") if t.strip()],
    }
    headers = _headers(fields.get("headers", ""))
    secrets = [s for s in fields.get("secrets", "").split() if s]
    if headers or not keep_empty:
        data["headers"] = headers
    if secrets or not keep_empty:
        data["secrets"] = secrets
    if not keep_empty:
        data["header_style"] = fields.get("header_style") or "norce"
    return data


def _edits(fields: dict[str, str], current: subs.Subscription) -> dict[str, Any]:
    """The edit form's changes to ``current``: the headers ticked are removed (from those
    typed, else the stored ones); the stored secrets are kept beside those typed, or removed,
    as ticked."""
    data = _settings(fields, keep_empty=True)
    removed = {n for n in current.headers if fields.get(REMOVE_HEADER + n)}
    if removed:
        headers = data.get("headers", current.headers)
        data["headers"] = {k: v for k, v in headers.items() if k not in removed}
    keep, remove = fields.get("keep_secrets"), fields.get("remove_secrets")
    if keep and remove:
        raise ValueError("secrets: keep the stored ones or remove them, not both")
    if keep:
        data["secrets"] = list(dict.fromkeys([*data.get("secrets", []), *current.secrets]))
    if remove:
        data["secrets"] = data.get("secrets", [])
    return data


def _headers(text: str) -> dict[str, str]:
    """``Name: value`` lines; a line without a colon is a problem of its own."""
    headers = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        if not colon:
            raise ValueError(f"headers, line {number}: write it as 'Name: value'")
        headers[name.strip()] = value.strip()
    return headers


async def _attempt(run: Any) -> list[Problem]:
    """Run ``run`` in a worker thread; what went wrong, each beside its field, never with
    the values given."""
    try:
        await anyio.to_thread.run_sync(run)
    except ValidationError as exc:
        return [_problem(e["loc"], e["msg"]) for e in exc.errors()]
    except SubscriptionConflictError as exc:  # the name is taken (the only conflict a form meets)
        return [Problem("name", str(exc))]
    except (DeltahookError, ValueError) as exc:
        text = str(exc)  # "headers, line 2: ...", "secrets: ..."
        field = text.split(":", 1)[0].split(",", 1)[0]
        return [Problem(field if field in FIELDS else "", text)]
    return []


def _problem(loc: tuple[int | str, ...], message: str) -> Problem:
    field = str(loc[0]) if loc else ""
    text = f"{'.'.join(map(str, loc)) or 'value'}: {message.removeprefix(JARGON)}"
    return Problem(field if field in FIELDS else "", text)
