"""One error format, and the one place that maps failures to HTTP.

Body: {"error": {"code": "<snake_case>", "message": "<human text>", "details": ...}}.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from shopflow.services.errors import Refused
from shopflow.workflows.shared import ErrorType

log = structlog.get_logger(__name__)

RETRY_AFTER_SECONDS = "5"

_TYPE_STATUS = {
    ErrorType.INVALID: 422,
    ErrorType.INSUFFICIENT_STOCK: 422,
    ErrorType.CONFLICT: 409,
    ErrorType.NOT_FOUND: 404,
}
_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 409: "conflict", 413: "payload_too_large",
               415: "unsupported_media_type", 422: "invalid_input", 503: "unavailable"}


class ApiError(Refused):
    """A refusal raised by the API itself; services raise ``Refused`` (the same shape)."""


def error_response(status: int, code: str, message: str, details: Any = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message, "details": details}},
        status_code=status, headers=headers,
    )


def unavailable(what: str) -> ApiError:
    return ApiError(503, "unavailable", f"{what} is unreachable; try again shortly",
                    headers={"Retry-After": RETRY_AFTER_SECONDS})


def from_temporal(err: BaseException) -> ApiError:
    """Map a Temporal client failure (a rejected Update, a closed case, an outage) to HTTP."""
    if isinstance(err, WorkflowUpdateFailedError):
        cause: BaseException | None = err.cause
        while isinstance(cause, ActivityError):
            cause = cause.cause
        if isinstance(cause, ApplicationError) and cause.type in _TYPE_STATUS:
            info = cause.details[0] if cause.details else {}
            code = info.get("code", "rejected") if isinstance(info, dict) else "rejected"
            details = info.get("details") if isinstance(info, dict) else None
            return ApiError(_TYPE_STATUS[cause.type], code, cause.message, details)
        log.error("update failed", error=repr(cause))
        return ApiError(409, "update_failed", "the case could not apply this change")
    if isinstance(err, RPCError):
        if err.status == RPCStatusCode.NOT_FOUND:
            return ApiError(409, "case_closed", "the case is closed or no longer takes changes")
        if err.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED,
                          RPCStatusCode.UNKNOWN, RPCStatusCode.CANCELLED):
            return unavailable("Temporal")
        if err.status == RPCStatusCode.INVALID_ARGUMENT:
            return ApiError(422, "invalid_input", err.message)
    log.error("temporal call failed", error=repr(err))
    return unavailable("Temporal")


@contextmanager
def temporal_errors() -> Iterator[None]:
    """Around every call to Temporal: its failures become the API's errors."""
    try:
        yield
    except (WorkflowUpdateFailedError, RPCError) as err:
        raise from_temporal(err) from None
    except RuntimeError as err:
        if "client connect" not in str(err):
            raise
        # A lazy client that cannot reach its server raises this on first use.
        raise unavailable("Temporal") from None


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
