"""Every error the API answers, as one JSON body: ``{"error": code, "message": ..., "details"}``.

Statuses: 400 malformed JSON or an unreadable body, 401 no valid API key, 404 unknown
resource, 408 the body stalled, 409 the request conflicts with the stored state, 413 the body
is too large, 415 a feed in a format the API does not read, 422 the request does not match its
schema, 503 the database cannot be reached or the server is busy (with ``Retry-After``).
Each deltahook error maps to one of those; a 500 is a bug, and the catch-all handler that
answers it is a last resort.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from deltahook.api.methods import allowed
from deltahook.api.models import JobRecord
from deltahook.errors import (
    CatalogError,
    ConflictError,
    DeltahookError,
    EventError,
    FeedError,
    IdempotencyConflictError,
    StoreError,
    SubscriptionConflictError,
    SweepRefusedError,
    UnknownSubscriptionError,
)
from deltahook.store.db import cannot_write

logger = logging.getLogger("deltahook.api")

CODES = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    431: "headers_too_large",
    500: "internal_error",
    503: "unavailable",
}


class ErrorBody(BaseModel):
    """What every error answer holds."""

    error: str = Field(description="A short code: " + ", ".join(sorted(set(CODES.values()))))
    message: str = Field(description="What went wrong, in words a person can act on.")
    details: list[dict[str, Any]] = Field(
        default_factory=list, description="Per-field problems (loc, msg, type) where known."
    )
    job: JobRecord | None = Field(
        default=None,
        description="A feed that failed after its job began: the job (failed) and what it "
        "applied before it stopped; absent otherwise.",
    )


def error_response(
    status: int,
    message: str,
    *,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    job: JobRecord | None = None,
) -> JSONResponse:
    body = ErrorBody(
        error=CODES.get(status, "error"), message=message, details=details or [], job=job
    )
    if job is not None:
        headers = {**(headers or {}), "Location": f"/v1/jobs/{job.job_id}"}
    content = body.model_dump(mode="json", exclude_none=job is None)
    return JSONResponse(content, status_code=status, headers=headers)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` entries for these error statuses."""
    return {status: {"model": ErrorBody, "description": CODES[status]} for status in statuses}


# Errors every authenticated operation may answer, besides its own (422: a parameter holds
# what no store can keep, a NUL).
COMMON = (401, 408, 413, 422, 503)
BUSY_RETRY_AFTER_S = 5


def status_of(exc: DeltahookError) -> int:
    """The HTTP status a deltahook error answers with (most specific class first)."""
    table: tuple[tuple[type[DeltahookError], int], ...] = (
        (UnknownSubscriptionError, 404),
        (CatalogError, 404),
        (IdempotencyConflictError, 409),
        (SubscriptionConflictError, 409),
        (ConflictError, 409),
        (SweepRefusedError, 409),
        (StoreError, 503),
        (EventError, 422),
        (FeedError, 400),
    )
    for cls, status in table:
        if isinstance(exc, cls):
            return status
    return 409  # DeliveryError and the rest: the stored state does not allow it now


def _details(errors: list[Any]) -> list[dict[str, Any]]:
    return [
        {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg")), "type": e.get("type")}
        for e in errors
    ]


async def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    message = exc.detail if isinstance(exc.detail, str) else CODES.get(exc.status_code, "error")
    headers = getattr(exc, "headers", None)
    if exc.status_code == 405:
        headers = {**(headers or {}), "Allow": allowed(request.app.router.routes, request.scope)}
    return error_response(exc.status_code, message, headers=headers)


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError | ValidationError)
    errors = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        first = next(e for e in errors if e.get("type") == "json_invalid")
        reason = (first.get("ctx") or {}).get("error", "invalid JSON")
        return error_response(400, f"the body is not valid JSON: {reason}")
    details = _details(errors)
    summary = "; ".join(f"{'.'.join(d['loc'])}: {d['msg']}" for d in details[:5])
    return error_response(422, f"the request does not match its schema: {summary}", details=details)


async def _deltahook(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DeltahookError)
    status = status_of(exc)
    if status == 503:
        logger.warning("%s %s: %s", request.method, request.url.path, exc)
    details = None
    if isinstance(exc, EventError) and exc.problems:
        details = [{"loc": ["body"], "msg": p, "type": "event_schema"} for p in exc.problems]
    return error_response(status, str(exc), details=details)


async def _database(request: Request, exc: Exception) -> JSONResponse:
    if (unwritable := cannot_write(exc)) is not None:  # reads still work: only writes get this
        logger.warning("%s %s: %s", request.method, request.url.path, unwritable)
        return error_response(503, unwritable)
    logger.error("%s %s: database error: %s", request.method, request.url.path, exc)
    return error_response(503, "the database cannot be used right now; try again shortly")


async def _busy(request: Request, exc: Exception) -> JSONResponse:
    logger.warning("%s %s: no database connection free: %s", request.method, request.url.path, exc)
    return error_response(
        503,
        "the server is busy: every database connection is in use; try again shortly",
        headers={"Retry-After": str(BUSY_RETRY_AFTER_S)},
    )


async def _disconnected(request: Request, exc: Exception) -> JSONResponse:
    logger.info(
        "%s %s: the client went away before the body ended", request.method, request.url.path
    )
    return error_response(400, "the request body ended before it was complete")


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("%s %s failed", request.method, request.url.path)
    return error_response(500, "internal error: this is a bug in deltahook; it has been logged")


Handler = Callable[[Request, Exception], Awaitable[JSONResponse]]


def _with_job(handler: Handler) -> Handler:
    """``handler``, whose answer also names the job a failed feed made (``request.state.job``)."""

    async def answer(request: Request, exc: Exception) -> JSONResponse:
        response = await handler(request, exc)
        job = getattr(request.state, "job", None)
        if not isinstance(job, JobRecord):
            return response
        body = ErrorBody.model_validate_json(bytes(response.body))
        headers = {k: v for k, v in response.headers.items() if k.lower() == "retry-after"}
        details = body.details
        return error_response(
            response.status_code, body.message, details=details, headers=headers, job=job
        )

    return answer


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into an ``ErrorBody`` answer."""
    handlers: tuple[tuple[type[Exception], Handler], ...] = (
        (HTTPException, _http),
        (RequestValidationError, _validation),
        (ValidationError, _validation),
        (DeltahookError, _deltahook),
        (DBAPIError, _database),
        (PoolTimeout, _busy),
        (ClientDisconnect, _disconnected),
        (Exception, _unexpected),
    )
    for cls, handler in handlers:
        app.add_exception_handler(cls, _with_job(handler))
