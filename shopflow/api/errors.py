"""One error format, and the one place that maps failures to HTTP.

Body: {"error": {"code": "<snake_case>", "message": "<human text>", "details": ...}}.
"""

from __future__ import annotations

import re
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.client import RPCTimeoutOrCancelledError
from temporalio.service import RPCError

from shopflow.services.errors import (
    RETRY_AFTER_SECONDS,
    Refused,
    from_temporal,
    never_reached_temporal,
    temporal_errors,
    unavailable,
)

__all__ = ["RETRY_AFTER_SECONDS", "ApiError", "ascii_int", "error_response", "from_temporal",
           "install_error_handlers", "integrity_error", "never_reached_temporal",
           "temporal_errors", "unavailable"]

log = structlog.get_logger(__name__)

# The API's name for a refusal: one class, raised by services and routes alike.
ApiError = Refused

_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 409: "conflict", 413: "payload_too_large",
               415: "unsupported_media_type", 422: "invalid_input", 503: "unavailable"}


def ascii_int(raw: str, default: Any) -> Any:
    """A form's whole number: ASCII digits only ("²" and "٣" pass ``isdigit`` but are no
    number here); anything else gives ``default`` for the schema to refuse by name."""
    raw = raw.strip()
    if raw.isascii() and raw.isdigit() and len(raw) <= 18:
        return int(raw)
    return default


def error_response(status: int, code: str, message: str, details: Any = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message, "details": details}},
        status_code=status, headers=headers,
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(Refused)
    async def _api_error(_: Request, exc: Refused) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")}
            for e in exc.errors()
        ]
        return error_response(422, "invalid_input", "the request is not valid", details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "error")
        return error_response(exc.status_code, code, str(exc.detail),
                              headers=getattr(exc, "headers", None))

    @app.exception_handler(RPCError)
    async def _rpc(_: Request, exc: RPCError) -> JSONResponse:
        err = from_temporal(exc)
        return error_response(err.status, err.code, err.message, err.details, err.headers)

    @app.exception_handler(RPCTimeoutOrCancelledError)
    async def _temporal_timeout(_: Request, exc: RPCTimeoutOrCancelledError) -> JSONResponse:
        # An Update (or start) whose call timed out on a loaded server: it may yet apply, and a
        # repeat is safe (a decided task answers 409), so: try again.
        log.warning("temporal call timed out", error=repr(exc))
        err = unavailable("Temporal")
        return error_response(err.status, err.code, err.message, None, err.headers)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", error=repr(exc))
        return error_response(500, "internal_error", "an unexpected error occurred; it is logged")

    @app.exception_handler(OperationalError)
    @app.exception_handler(DBAPIError)
    async def _db(_: Request, exc: Exception) -> JSONResponse:
        log.error("database error", error=repr(exc))
        err = unavailable("the database")
        return error_response(err.status, err.code, err.message, None, err.headers)

    # A constraint the request broke is the caller's fault, not an outage: a 503 would tell the
    # client to retry the same request forever.
    @app.exception_handler(IntegrityError)
    async def _integrity(_: Request, exc: IntegrityError) -> JSONResponse:
        err = integrity_error(exc)
        return error_response(err.status, err.code, err.message, err.details)

    @app.exception_handler(DataError)
    async def _data(_: Request, exc: DataError) -> JSONResponse:
        log.warning("value refused by the database", error=repr(exc.orig))
        return error_response(422, "invalid_value",
                              "a value does not fit what the database stores (too long, too "
                              "large or malformed)", None)


def integrity_error(exc: IntegrityError) -> Refused:
    """409 for a duplicate, 422 for a missing or dangling value; names the column when the
    database says which."""
    text = str(exc.orig).lower()
    log.warning("constraint violated", error=str(exc.orig))
    column = _constraint_column(str(exc.orig))
    details = {"field": column} if column else None
    if "unique" in text or "duplicate" in text:
        return Refused(409, "conflict", "this conflicts with an existing record"
                       + (f" ({column})" if column else ""), details)
    if "not null" in text or "null value" in text:
        return Refused(422, "missing_value",
                       f"a value is required{f' for {column}' if column else ''}", details)
    if "foreign key" in text:
        return Refused(422, "unknown_reference", "a referenced record does not exist", details)
    return Refused(422, "constraint_violated", "the request breaks a rule of the stored data",
                   details)


def _constraint_column(message: str) -> str | None:
    # SQLite: "NOT NULL constraint failed: customers.name"; PostgreSQL: 'column "name"'.
    m = re.search(r"constraint failed: [\w]+\.(\w+)", message) or re.search(
        r'column "(\w+)"', message) or re.search(r"Key \((\w+)\)", message)
    return m.group(1) if m else None
