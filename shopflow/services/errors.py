"""What services refuse, and the business rejections activities raise.

``Refused`` carries an HTTP-like status (404, 409, 422, 503) and a snake_case code; the API maps
it in its one error mapping (api/errors.py), the web UI shows its message. ``business_error`` is
the non-retryable ``ApplicationError`` an activity raises for the same kind of refusal inside a
workflow (its type maps to the status)."""

from __future__ import annotations

from typing import Any

from temporalio.exceptions import ApplicationError

from shopflow.workflows.shared import ErrorType


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
