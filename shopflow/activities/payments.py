"""Money activities: the payment provider called here, the books in services.refunds."""

from __future__ import annotations

from sqlalchemy import Engine
from temporalio import activity

from shopflow.providers.payments import PaymentProvider, ProviderError
from shopflow.services import refunds
from shopflow.services.errors import business_error
from shopflow.workflows.shared import (
    Act,
    ErrorType,
    PaymentCapture,
    PaymentView,
    RefundRequest,
    RefundView,
)

_CONFLICT_CODES = {"transaction_used", "idempotency_key_reused"}


def provider_failure(err: ProviderError) -> Exception:
    """Transient failures are retried by Temporal; answers become business rejections."""
    if err.transient:
        return err
    kind = ErrorType.CONFLICT if err.code in _CONFLICT_CODES else ErrorType.INVALID
    return business_error(kind, err.code, str(err))


class PaymentActivities:
    def __init__(self, engine: Engine, provider: PaymentProvider) -> None:
        self.engine = engine
        self.provider = provider

    @activity.defn(name=Act.PAYMENT_CAPTURE)
    def capture(self, req: PaymentCapture) -> PaymentView:
        """Confirm an online payment with the provider and book it on the order, once."""
        known = refunds.known_payment(self.engine, req)
        if known is not None:
            return PaymentView(**known)
        try:
            confirmed = self.provider.confirm(req.transaction_id, req.amount_cents, req.order_no)
        except ProviderError as err:
            raise provider_failure(err) from None
        return PaymentView(**refunds.book_payment(self.engine, req, "captured",
                                                  confirmed.provider_ref))

    @activity.defn(name=Act.PAYMENT_COLLECT_COD)
    def collect_cod(self, req: PaymentCapture) -> PaymentView:
        """The courier collected cash on delivery: book it on the order, once."""
        return PaymentView(**refunds.book_payment(self.engine, req, "collected", ""))

    @activity.defn(name=Act.PAYMENT_REFUND)
    def refund(self, req: RefundRequest) -> RefundView:
        view, transaction_id = refunds.open_refund(self.engine, req)
        if transaction_id is None:
            view.pop("provider_key", None)
            return RefundView(**view)
        # The books' amount under the attempt's key: what moves is what the books say.
        cents = round(view["amount"] * 100)
        try:
            result = self.provider.refund(transaction_id, cents, view["provider_key"],
                                          req.reason)
        except ProviderError as err:
            if not err.transient:
                refunds.refuse_refund(self.engine, req, str(err))
            raise provider_failure(err) from None
        return RefundView(**refunds.complete_refund(self.engine, req, result.refund_id))
