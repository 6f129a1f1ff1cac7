"""The books equal what moved (issue 14.3): a refund's provider call and its ledger row carry
the same amount under the same key; a retry with another amount after a refusal is a new
attempt with a new key, never "provider moved 50, books say 80"; a refused attempt leaves no
pending row that blocks later refunds; another amount while one is in progress is a clear 409."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio.exceptions import ApplicationError

from shopflow.activities.payments import PaymentActivities
from shopflow.models import Order, Refund
from shopflow.providers import CourierSimulator, PaymentSimulator, Providers
from shopflow.providers.payments import ProviderError
from shopflow.workflows.shared import RefundRequest
from tests.helpers import eventually, make_product
from tests.scenes import pay, place

pytestmark = pytest.mark.asyncio


class Declining(PaymentSimulator):
    """Declines the next ``declines`` refunds (a final answer, not an outage)."""

    declines: int = 0

    def refund(self, transaction_id: str, amount_cents: int, idempotency_key: str,
               reason: str) -> Any:
        self.calls.append(f"refund:{idempotency_key}:{amount_cents}")
        if self.declines:
            self.declines -= 1
            raise ProviderError("declined by the bank", transient=False, code="declined")
        return super().refund(transaction_id, amount_cents, idempotency_key, reason)


@pytest.fixture
def providers() -> Providers:
    return Providers(payments=Declining(seed=7), courier=CourierSimulator(seed=7))


def req(cents: int, key: str = "order-WEB-1001:goodwill") -> RefundRequest:
    return RefundRequest(key, "WEB-1001", cents, "goodwill", "order", "WEB-1001",
                         datetime.now(UTC), "finance")


def books(engine: Engine) -> list[tuple[str, float, str]]:
    with Session(engine) as s:
        return [(r.key, r.amount, r.status) for r in s.exec(select(Refund).order_by(Refund.id))]


async def test_refused_refund_then_another_amount_moves_what_the_books_say(
        api: httpx.AsyncClient, engine: Engine, providers: Providers) -> None:
    await make_product(api, "TEA", stock=10)
    await make_product(api, "CUP", stock=5)
    no = await place(api)
    assert (await pay(api, no)).status_code == 201

    def paid() -> bool:
        with Session(engine) as s:
            order = s.get(Order, no)
            return order is not None and order.paid_amount == 161.5

    await eventually(paid)
    gateway = providers.payments
    assert isinstance(gateway, Declining)
    money = PaymentActivities(engine, gateway)

    gateway.declines = 1
    with pytest.raises(ApplicationError) as refused:
        money.refund(req(8000))
    assert refused.value.type is not None
    # the refused attempt is kept as refused and blocks nothing
    assert books(engine) == [("order-WEB-1001:goodwill", 80.0, "refused")]

    done = money.refund(req(5000))
    assert done.status == "succeeded" and done.amount == 50.0
    assert gateway.refunded_cents(["PAY-1"]) == 5000  # what moved ...
    assert sorted(books(engine)) == [("order-WEB-1001:goodwill", 50.0, "succeeded"),
                                     ("order-WEB-1001:goodwill~refused1", 80.0, "refused")]
    with Session(engine) as s:
        order = s.get(Order, no)
        assert order is not None and order.refunded_amount == 50.0  # ... is what the books say
    # the second attempt went to the provider under a new key
    assert [c for c in gateway.calls if c.startswith("refund:")] == [
        "refund:order-WEB-1001:goodwill:8000", "refund:order-WEB-1001:goodwill#2:5000"]

    # the same key again: the same refund, whatever is asked; another amount is a clear 409
    assert money.refund(req(5000)).amount == 50.0
    with pytest.raises(ApplicationError) as other:
        money.refund(req(3000))
    assert (other.value.details or [{}])[0].get("code") == "refund_in_progress"
    assert gateway.refunded_cents(["PAY-1"]) == 5000
    # the refused 80 did not use up what is refundable: the rest can still be given back
    rest = money.refund(req(16150 - 5000, key="order-WEB-1001:rest"))
    assert rest.status == "succeeded"
    assert gateway.refunded_cents(["PAY-1"]) == 16150


async def test_customer_is_told_refunded_only_after_the_refund_succeeded(
        api: httpx.AsyncClient, engine: Engine, providers: Providers) -> None:
    from shopflow.models import Notice
    from tests.helpers import complete, open_task
    from tests.scenes import event, ship, wait_order

    await make_product(api, "TEA", stock=10)
    await make_product(api, "CUP", stock=5)
    no = await place(api)
    assert (await pay(api, no)).status_code == 201
    await ship(api, no, tracking="SF9")
    assert (await event(api, "SF9", "lost")).status_code == 201
    task = await open_task(api, no, "order.lost_parcel")
    gateway = providers.payments
    assert isinstance(gateway, Declining)
    gateway.declines = 1
    r = await complete(api, task, "refund")
    assert r.status_code == 200, r.text
    await wait_order(api, no, "refunded")

    def told() -> list[Notice]:
        with Session(engine) as s:
            return list(s.exec(select(Notice).where(Notice.case_id == no,
                                                    Notice.kind.in_(  # type: ignore[attr-defined]
                                                        ["order_refunded",
                                                         "order_refund_failed"]))))

    notices = await eventually(lambda: len(told()) == 2 and told())
    by_kind = {n.kind: n for n in notices}
    customer = by_kind["order_refunded"]
    assert "being processed" in customer.body_text or "正在处理" in customer.body_text
    assert "已为您退款" not in customer.body_text and "We have refunded" not in customer.body_text
    assert gateway.refunded_cents(["PAY-1"]) == 0
    assert books(engine) == [(f"order-{no}:lost:SF9", 161.5, "refused")]


async def test_a_refused_refund_is_finances_task_and_the_customer_hears_when_it_is_done(
        api: httpx.AsyncClient, engine: Engine, providers: Providers) -> None:
    """Issue 14.3: refused, the customer is told "being processed" and finance gets a task on
    the order to retry it (refused again: 422, the task stays open) or settle it; once done
    the customer hears "refunded"; the provider moved the amount once."""
    from shopflow.models import Notice
    from tests.helpers import complete, open_task
    from tests.scenes import event, ship, wait_order

    await make_product(api, "TEA", stock=10)
    await make_product(api, "CUP", stock=5)
    no = await place(api)
    assert (await pay(api, no)).status_code == 201
    await ship(api, no, tracking="SF9")
    assert (await event(api, "SF9", "lost")).status_code == 201
    gateway = providers.payments
    assert isinstance(gateway, Declining)
    gateway.declines = 2
    lost = await open_task(api, no, "order.lost_parcel")
    assert (await complete(api, lost, "refund")).status_code == 200
    await wait_order(api, no, "refunded")

    def refunded_notices() -> list[str]:
        with Session(engine) as s:
            return [n.body_text for n in s.exec(select(Notice).where(
                Notice.case_id == no, Notice.kind == "order_refunded").order_by(Notice.id))]

    first = await eventually(refunded_notices)
    assert "being processed" in first[0] or "正在处理" in first[0]
    task = await open_task(api, no, "order.refund", role="finance")
    assert task["role"] == "finance" and task["context"]["amount"] == "161.50"
    again = await complete(api, task, "retry")
    assert again.status_code == 422, again.text  # declined a second time: still finance's
    assert (await complete(api, task, "settled")).status_code == 422  # a note is required
    done = await complete(api, task, "retry")
    assert done.status_code == 200, done.text
    assert (await complete(api, task, "retry")).status_code == 409
    told = await eventually(lambda: len(refunded_notices()) == 2 and refunded_notices())
    assert "We have refunded" in told[1] or "已为您退款" in told[1]
    assert gateway.refunded_cents(["PAY-1"]) == 16150
    assert [s for _, _, s in books(engine)].count("succeeded") == 1
    order = await wait_order(api, no, "refunded")
    assert [(r["amount"], r["status"]) for r in order["refunds"]] == [
        (161.5, "refused"), (161.5, "refused"), (161.5, "succeeded")]


async def test_a_cancelled_orders_refused_refund_is_settled_by_finance_then_told(
        api: httpx.AsyncClient, engine: Engine, providers: Providers) -> None:
    """Cancelled after payment, the refund refused: the cancellation notice says the refund is
    being processed, finance settles it another way (with a note) and the customer is told."""
    from shopflow.models import Notice
    from tests.helpers import auth, complete, open_task
    from tests.scenes import wait_order

    await make_product(api, "TEA", stock=10)
    await make_product(api, "CUP", stock=5)
    no = await place(api)
    assert (await pay(api, no)).status_code == 201
    gateway = providers.payments
    assert isinstance(gateway, Declining)
    gateway.declines = 1
    r = await api.post(f"/api/v1/orders/{no}/cancel", headers=auth("cs"),
                       json={"reason": "customer changed their mind"})
    assert r.status_code == 200, r.text
    await wait_order(api, no, "cancelled")

    def told(kind: str) -> list[str]:
        with Session(engine) as s:
            return [n.body_text for n in s.exec(select(Notice).where(
                Notice.case_id == no, Notice.kind == kind))]

    cancelled = await eventually(lambda: told("order_cancelled"))
    assert "being processed" in cancelled[0] or "正在处理" in cancelled[0]
    task = await open_task(api, no, "order.refund", role="finance")
    assert task["context"]["refund_key"] == f"order-{no}:cancel"
    r = await complete(api, task, "settled", note="bank transfer BT-77 on 30 Nov")
    assert r.status_code == 200, r.text
    refunded = await eventually(lambda: told("order_refunded"))
    assert "We have refunded" in refunded[0] or "已为您退款" in refunded[0]
    assert gateway.refunded_cents(["PAY-1"]) == 0  # paid back outside the provider
    o = await wait_order(api, no, "cancelled")
    assert "refund_settled" in [e["type"] for e in o["timeline"]]
