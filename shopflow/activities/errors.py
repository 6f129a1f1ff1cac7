"""Business rejections raised by activities: non-retryable, typed for the API's error mapping."""

from __future__ import annotations

from typing import Any

from temporalio.exceptions import ApplicationError

from shopflow.workflows.shared import ErrorType


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
