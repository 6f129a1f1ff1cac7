"""Business rejections raised by activities (defined with the services' refusals)."""

from shopflow.services.errors import business_error, insufficient_stock

__all__ = ["business_error", "insufficient_stock"]
