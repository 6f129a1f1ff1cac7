"""Business rejections raised by activities: defined with the services (services/errors.py)."""

from shopflow.services.errors import business_error, insufficient_stock

__all__ = ["business_error", "insufficient_stock"]
