"""What services refuse, the business rejections activities raise, and the translation of
Temporal failures into refusals.

``Refused`` carries an HTTP-like status (404, 409, 422, 503) and a snake_case code; the API maps
it in its one error mapping (api/errors.py: ``ApiError`` is the same class), the web UI shows its
message. ``business_error`` is the non-retryable ``ApplicationError`` an activity raises for the
same kind of refusal inside a workflow (its type maps to the status). ``from_temporal`` is the one
place a rejected Update, a closed case or an outage becomes a ``Refused``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import structlog
from temporalio.client import WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from shopflow.workflows.shared import ErrorType

log = structlog.get_logger(__name__)

RETRY_AFTER_SECONDS = "5"

# The error types of non-retryable ApplicationErrors (workflows and activities) as statuses.
TYPE_STATUS = {
    ErrorType.INVALID: 422,
    ErrorType.INSUFFICIENT_STOCK: 422,
    ErrorType.CONFLICT: 409,
    ErrorType.NOT_FOUND: 404,
}


class Refused(Exception):
    def __init__(self, status: int, code: str, message: str, details: Any = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.details, self.headers = details, headers


def business_error(error_type: str, code: str, message: str, **details: Any) -> ApplicationError:
    return ApplicationError(
        message, {"code": code, "details": details or None}, type=error_type, non_retryable=True
    )


def insufficient_stock(sku: str, available: int, wanted: int) -> ApplicationError:
    return business_error(
        ErrorType.INVALID,
        "insufficient_stock",
        f"only {available} of {sku} available, {wanted} wanted",
        sku=sku,
        available=available,
        wanted=wanted,
    )


def not_found(message: str) -> Refused:
    return Refused(404, "not_found", message)


def forbidden(message: str, details: Any = None) -> Refused:
    return Refused(403, "forbidden", message, details)


class TemporalUnreachable(Refused):
    """Temporal could not be reached at all: the call was never taken (connection refused), so
    nothing was started and a create may undo what it wrote before."""


def unavailable(what: str) -> Refused:
    if what == "Temporal":
        return TemporalUnreachable(503, "unavailable", "Temporal is unreachable; try again "
                                   "shortly", headers={"Retry-After": RETRY_AFTER_SECONDS})
    return Refused(503, "unavailable", f"{what} is unreachable; try again shortly",
                   headers={"Retry-After": RETRY_AFTER_SECONDS})


def temporal_ambiguous() -> Refused:
    """Temporal took the call but gave no answer: it may have acted; a retry settles it."""
    return Refused(503, "unavailable", "Temporal did not answer in time; try again shortly",
                   headers={"Retry-After": RETRY_AFTER_SECONDS})


def never_reached_temporal(err: BaseException) -> bool:
    """True when a failed call surely did not reach Temporal (so it started nothing)."""
    if isinstance(err, TemporalUnreachable):
        return True
    if isinstance(err, RPCError):
        return err.status == RPCStatusCode.UNAVAILABLE
    return isinstance(err, RuntimeError) and "client connect" in str(err)


def from_temporal(err: BaseException) -> Refused:
    """Map a Temporal client failure (a rejected Update, a closed case, an outage)."""
    if isinstance(err, WorkflowUpdateFailedError):
        cause: BaseException | None = err.cause
        while isinstance(cause, ActivityError):
            cause = cause.cause
        if isinstance(cause, ApplicationError) and cause.type in TYPE_STATUS:
            info = cause.details[0] if cause.details else {}
            code = info.get("code", "rejected") if isinstance(info, dict) else "rejected"
            details = info.get("details") if isinstance(info, dict) else None
            return Refused(TYPE_STATUS[cause.type], code, cause.message, details)
        log.error("update failed", error=repr(cause))
        return Refused(409, "update_failed", "the case could not apply this change")
    if isinstance(err, RPCError):
        if err.status == RPCStatusCode.NOT_FOUND:
            return Refused(409, "case_closed", "the case is closed or no longer takes changes")
        if err.status == RPCStatusCode.UNAVAILABLE:
            return unavailable("Temporal")
        if err.status in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.UNKNOWN,
                          RPCStatusCode.CANCELLED):
            return temporal_ambiguous()
        if err.status == RPCStatusCode.INVALID_ARGUMENT:
            return Refused(422, "invalid_input", err.message)
    log.error("temporal call failed", error=repr(err))
    return temporal_ambiguous()


@contextmanager
def temporal_errors() -> Iterator[None]:
    """Around every call to Temporal: its failures become refusals."""
    try:
        yield
    except (WorkflowUpdateFailedError, RPCError) as err:
        raise from_temporal(err) from None
    except WorkflowFailureError as err:
        # A run the API waited for ended in failure: its answer, not an outage (never a 500).
        log.error("workflow failed", error=repr(err.cause))
        raise Refused(409, "run_failed", "the run failed; ops can see why in Temporal",
                      {"cause": str(err.cause)[:300]}) from None
    except RuntimeError as err:
        if "client connect" not in str(err):
            raise
        # A lazy client that cannot reach its server raises this on first use.
        raise unavailable("Temporal") from None
