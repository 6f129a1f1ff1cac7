"""The keyed writes that an API route and its page share, each written once: the checks, the
Idempotency-Key (a page passes its form's one-time key), the write or the workflow start, and
the started-workflows metric. The same key answers the same, whichever door it came through."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi.responses import JSONResponse

from shopflow.api.auth import User
from shopflow.api.deps import Services
from shopflow.api.errors import ApiError
from shopflow.api.idempotency import body_hash, idempotent
from shopflow.api.metrics import WORKFLOWS_STARTED
from shopflow.api.scope import require_channel
from shopflow.models.complaint_schemas import ComplaintCreate
from shopflow.models.enquiry_schemas import EnquiryCreate
from shopflow.models.order_schemas import OrderCreate, PaymentIn, ShipmentEventIn
from shopflow.models.promotion_schemas import PromotionCreate
from shopflow.models.return_schemas import ReturnCreate, ReturnDifferencePaid, ReturnParcelIn
from shopflow.models.schemas import SampleCreate
from shopflow.services import (
    complaints,
    enquiries,
    orders,
    promotions,
    returns,
    samples,
    shipments,
)
from shopflow.services.scoping import visible

CS_ORDER_CHANNELS = ("phone", "email")  # the orders customer service keys in (seed 002 第四章)


async def create_order(svc: Services, user: User, body: OrderCreate,
                       key: str | None) -> JSONResponse:
    """``POST /orders``: one transaction (checks, number, order row, lines, case row), then
    the start, all or nothing. The same order again (same number, same content) answers 200
    with the first answer and starts nothing; the same number with other content is 409.
    Customer service keys in the orders that reach it (``CS_ORDER_CHANNELS``: phone, email)."""
    require_channel(user, body.channel)
    if user.role == "cs" and body.channel not in CS_ORDER_CHANNELS:
        raise ApiError(403, "channel_not_allowed", "customer service keys in phone and e-mail "
                       f"orders, not {body.channel}", {"loc": ["body", "channel"],
                                                       "channels": list(CS_ORDER_CHANNELS)})
    request = body.model_dump(mode="json")

    async def create(seed: str | None) -> tuple[int, dict[str, Any]]:
        new, order, lines = await svc.db(
            orders.intake, svc.engine, body, seed,
            lambda order_no: body_hash({**request, "order_no": order_no}), user.name)
        if await orders.start_taken_order(svc.client, svc.settings, svc.engine, new, order,
                                          lines):
            WORKFLOWS_STARTED.labels("order").inc()
        return (201 if new else 200), orders.created_answer(order)

    return await idempotent(svc, user, "POST /orders", key, request, create)


async def create_sample(svc: Services, user: User, body: SampleCreate,
                        key: str | None) -> JSONResponse:
    """``POST /samples``: checked before the key is used; customer service's details update
    the customer, a channel's become a proposal."""
    require_channel(user, body.channel)
    await svc.db(samples.check_application, svc.engine, body, svc.settings)

    async def create(seed: str | None) -> tuple[int, dict[str, Any]]:
        created, started = await samples.create(svc.client(), svc.settings, svc.engine, body,
                                                user.name, seed, user.has("cs"))
        if started:
            WORKFLOWS_STARTED.labels("sample").inc()
        return 201, created

    return await idempotent(svc, user, "POST /samples", key, body.model_dump(mode="json"),
                            create)


async def create_complaint(svc: Services, user: User, body: ComplaintCreate,
                           key: str | None) -> JSONResponse:
    """``POST /complaints``: the order (if named) is the customer's, checked before the key is
    used; customer service's details update the customer, a channel's become a proposal."""
    return await _customer_case(svc, user, body, key, "POST /complaints", "complaint",
                                complaints.create)


async def create_enquiry(svc: Services, user: User, body: EnquiryCreate,
                         key: str | None) -> JSONResponse:
    """``POST /enquiries``: as a complaint, the order (if named) is the customer's."""
    return await _customer_case(svc, user, body, key, "POST /enquiries", "enquiry",
                                enquiries.create)


async def _customer_case(svc: Services, user: User, body: ComplaintCreate | EnquiryCreate,
                         key: str | None, route: str, kind: str,
                         start: Callable[..., Awaitable[tuple[dict[str, Any], bool]]],
                         ) -> JSONResponse:
    """A case a customer opens through a channel or customer service (a complaint, an
    enquiry): the channel is the caller's, the order (if named) the customer's, then the keyed
    create."""
    require_channel(user, body.channel)
    await svc.db(complaints.check_order, svc.engine, body.order_no, body.customer.id)

    async def create(seed: str | None) -> tuple[int, dict[str, Any]]:
        created, started = await start(
            svc.client(), svc.settings, svc.engine, body, user.name, seed,
            may_update_customer=user.has("cs"))
        if started:
            WORKFLOWS_STARTED.labels(kind).inc()
        return 201, created

    return await idempotent(svc, user, route, key, body.model_dump(mode="json"), create)


async def create_promotion(svc: Services, user: User, body: PromotionCreate,
                           key: str | None) -> JSONResponse:
    """``POST /promotions`` and the plan form: a plan into review, once per key."""

    async def create(seed: str | None) -> tuple[int, dict[str, Any]]:
        created, started = await promotions.create(svc.client(), svc.settings, svc.engine,
                                                   body, user.name, seed)
        if started:
            WORKFLOWS_STARTED.labels("promotion").inc()
        return 201, created

    return await idempotent(svc, user, "POST /promotions", key, body.model_dump(mode="json"),
                            create)


async def create_return(svc: Services, user: User, body: ReturnCreate,
                        key: str | None) -> JSONResponse:
    """``POST /returns``: another channel's order is unknown (422) before the key is used."""
    if not await svc.db(visible, svc.engine, user, "order", body.order_no):
        raise ApiError(422, "unknown_order", f"no order {body.order_no}")

    async def create(seed: str | None) -> tuple[int, dict[str, Any]]:
        created, new = await returns.create(svc.client(), svc.settings, svc.engine, body,
                                            user.name, seed)
        if new:
            WORKFLOWS_STARTED.labels("return").inc()
        return 201, created

    return await idempotent(svc, user, "POST /returns", key, body.model_dump(mode="json"),
                            create)


async def record_payment(svc: Services, user: User, order_no: str, body: PaymentIn,
                         key: str | None) -> JSONResponse:
    """``POST /orders/{order_no}/payments``: a transaction id is booked once."""
    order = await svc.db(orders.get_order, svc.engine, order_no)  # 404 before the key is used

    async def create(_: str | None) -> tuple[int, dict[str, Any]]:
        return await orders.record_payment(svc.client(), svc.engine, order,
                                           body.transaction_id, body.amount, user.name)

    return await idempotent(svc, user, f"POST /orders/{order_no}/payments", key,
                            body.model_dump(mode="json"), create)


async def shipment_event(svc: Services, user: User, tracking_no: str, body: ShipmentEventIn,
                         key: str | None) -> JSONResponse:
    """``POST /shipments/{tracking_no}/events``: the same event (type and time) once."""
    await svc.db(shipments.get_shipment, svc.engine, tracking_no)  # 404 before the key is used
    at = shipments.event_time(body.at)

    async def create(_: str | None) -> tuple[int, dict[str, Any]]:
        return await shipments.courier_event(svc.client(), svc.engine, tracking_no, body.type,
                                             at, body.note, user.name)

    return await idempotent(svc, user, f"POST /shipments/{tracking_no}/events", key,
                            {**body.model_dump(mode="json"), "at": at.isoformat()}, create)


async def return_difference(svc: Services, user: User, return_id: str,
                            body: ReturnDifferencePaid, key: str | None) -> JSONResponse:
    """``POST /returns/{return_id}/payments``: an exchange's price difference, once per
    transaction."""
    await svc.db(returns.get_return, svc.engine, return_id)  # 404 before the key is used

    async def create(_: str | None) -> tuple[int, dict[str, Any]]:
        return await returns.pay_difference(svc.client(), svc.engine, return_id,
                                            body.transaction_id,
                                            round(body.amount * 100), user.name)

    return await idempotent(svc, user, f"POST /returns/{return_id}/payments", key,
                            body.model_dump(mode="json"), create)


async def return_parcel(svc: Services, user: User, return_id: str, body: ReturnParcelIn,
                        key: str | None) -> JSONResponse:
    """``POST /returns/{return_id}/shipment``: the customer's parcel."""
    await svc.db(returns.get_return, svc.engine, return_id)  # 404 before the key is used

    async def create(_: str | None) -> tuple[int, dict[str, Any]]:
        return 200, await returns.record_parcel(svc.client(), svc.engine, return_id,
                                                body.courier, body.tracking_no, user.name)

    return await idempotent(svc, user, f"POST /returns/{return_id}/shipment", key,
                            body.model_dump(mode="json"), create)
