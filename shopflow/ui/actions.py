"""Actions on a case page besides tasks (answer a question for the customer, cancel …): each
checks its input with the API's request model and calls the service the API calls, so its rules
and errors are the API's. A process adds its own with
``register(CaseAction(...))``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from shopflow.api import keyed
from shopflow.api.auth import User
from shopflow.api.deps import Services
from shopflow.services import complaints, invoices, orders, promotions, returns, samples
from shopflow.ui.decisions import COURIERS, FormField
from shopflow.workflows.shared import Actor

# (services, user, case id, the form's values by field name; "_key": a one-time key per form,
# for Idempotency-Key) -> a note code for the page it redirects to
Run = Callable[[Services, User, str, dict[str, str]], Awaitable[str]]


@dataclass(frozen=True)
class CaseAction:
    case_kind: str
    name: str
    title: str
    roles: tuple[str, ...]  # admin always
    fields: tuple[FormField, ...]
    run: Run
    shown: Callable[[dict[str, Any]], bool] = lambda case: True
    style: str = "primary"
    fields_for: Callable[[dict[str, Any]], tuple[FormField, ...]] | None = None  # from the case

    def input(self, f: FormField) -> str:
        return f"{self.name}.{f.name}"

    def form_fields(self, case: dict[str, Any]) -> tuple[FormField, ...]:
        return self.fields_for(case) if self.fields_for else self.fields


ACTIONS: dict[tuple[str, str], CaseAction] = {}


def register(action: CaseAction) -> CaseAction:
    ACTIONS[(action.case_kind, action.name)] = action
    return action


def of_case(case: dict[str, Any], user: User) -> list[CaseAction]:
    return [a for (kind, _), a in ACTIONS.items()
            if kind == case.get("kind") and user.has(*a.roles) and a.shown(case)]


# --- samples ----------------------------------------------------------------------------------

async def _sample_info(svc: Services, user: User, case_id: str, values: dict[str, str]) -> str:
    from shopflow.models.schemas import InfoAnswer

    body = InfoAnswer(text=values.get("text", ""))  # the API's own checks
    await samples.answer_info(svc.client(), svc.engine, case_id, body.text, user.name)
    return "info_sent"


async def _sample_cancel(svc: Services, user: User, case_id: str, values: dict[str, str]) -> str:
    from shopflow.models.schemas import CancelRequest

    body = CancelRequest(reason=values.get("reason", ""))
    await samples.cancel(svc.client(), svc.engine, case_id, body.reason,
                         Actor(user.name, user.role))
    return "cancelled"


register(CaseAction(
    "sample", "info", "提交客户补充信息 Answer for the customer", ("channel", "cs"),
    (FormField("text", "客户的回答 The customer's answer", "textarea", True),), _sample_info,
    shown=lambda case: case.get("status") == "waiting_info"))
register(CaseAction(
    "sample", "cancel", "取消样品申请 Cancel the sample request", ("cs", "ops"),
    (FormField("reason", "原因 Reason", "textarea"),), _sample_cancel,
    shown=lambda case: not case.get("closed_at") and not case.get("shipment")
    and case.get("stage") in ("preliminary_review", "review", "dispatch"), style="danger"))


# --- orders -----------------------------------------------------------------------------------

async def _order_payment(svc: Services, user: User, case_id: str, values: dict[str, str]) -> str:
    from shopflow.models.order_schemas import PaymentIn

    body = PaymentIn(transaction_id=values.get("transaction_id", ""),
                     amount=values.get("amount", "") or "0")  # type: ignore[arg-type]
    # As POST /api/v1/orders/{no}/payments, with the form's one-time key.
    await keyed.record_payment(svc, user, case_id, body, values.get("_key") or None)
    return "payment_recorded"


async def _order_cancel(svc: Services, user: User, case_id: str, values: dict[str, str]) -> str:
    from shopflow.models.order_schemas import OrderCancel

    body = OrderCancel(reason=values.get("reason", ""))
    await orders.cancel(svc.client(), svc.engine, case_id, body.reason,
                        Actor(user.name, user.role))
    return "cancelled"


async def _shipment_event(svc: Services, user: User, case_id: str, values: dict[str, str]) -> str:
    from shopflow.models.order_schemas import ShipmentEventIn

    body = ShipmentEventIn(type=values.get("type", ""), note=values.get("note", ""))  # type: ignore[arg-type]
    # As POST /api/v1/shipments/{tracking_no}/events, with the form's one-time key.
    await keyed.shipment_event(svc, user, values.get("tracking_no", ""), body,
                               values.get("_key") or None)
    return "shipment_event"


def _open_shipments(case: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in case.get("shipments") or [] if isinstance(s, dict)
            and s.get("tracking_no") and s.get("status") not in ("delivered", "lost")]


def _shipment_fields(case: dict[str, Any]) -> tuple[FormField, ...]:
    parcels = tuple((s["tracking_no"], f"{s.get('courier', '')} {s['tracking_no']}")
                    for s in _open_shipments(case))
    return (FormField("tracking_no", "包裹 Parcel", "select", True, options=parcels),
            FormField("type", "事件 Event", "select", True, options=(
                ("in_transit", "运输中 In transit"), ("delivered", "已签收 Delivered"),
                ("delayed", "延误 Delayed"), ("lost", "丢失 Lost"))),
            FormField("note", "备注 Note"))


async def _order_invoice(svc: Services, user: User, case_id: str, values: dict[str, str]) -> str:
    from shopflow.models.order_schemas import InvoiceIn

    body = InvoiceIn(title=values.get("title", ""), tax_id=values.get("tax_id") or None)
    # As POST /api/v1/orders/{no}/invoice: the same request again changes nothing.
    await svc.db(invoices.request, svc.engine, svc.settings, case_id, body.title, body.tax_id,
                 Actor(user.name, user.role))
    return "invoice_requested"


def _may_ask_invoice(case: dict[str, Any]) -> bool:
    tax = case.get("tax_invoice")
    return case.get("status") != "cancelled" and not (isinstance(tax, dict)
                                                      and tax.get("status") == "issued")


register(CaseAction(
    "order", "invoice", "开具发票 The customer asks for an invoice", ("channel", "cs", "finance"),
    (FormField("title", "发票抬头 Title (company or person)", required=True),
     FormField("tax_id", "纳税人识别号 Tax ID (统一社会信用代码, 18; none for a person)")),
    _order_invoice, shown=_may_ask_invoice))
register(CaseAction(
    "order", "payment", "登记付款 Record the payment", ("channel", "finance"),
    (FormField("transaction_id", "交易号 Transaction ID", required=True),
     FormField("amount", "金额 Amount", "number", True)), _order_payment,
    shown=lambda case: case.get("payment_method") == "online" and not case.get("payments")
    and not case.get("closed_at") and not case.get("shipments")))
register(CaseAction(
    "order", "shipment", "物流事件 Parcel event", ("warehouse", "channel"), (), _shipment_event,
    shown=lambda case: bool(_open_shipments(case)) and not case.get("closed_at"),
    fields_for=_shipment_fields))
register(CaseAction(
    "order", "cancel", "取消订单 Cancel the order", ("cs", "ops"),
    (FormField("reason", "原因 Reason", "textarea", True),), _order_cancel,
    shown=lambda case: not case.get("closed_at") and not case.get("shipments"), style="danger"))


# --- returns ----------------------------------------------------------------------------------

RETURN_OPEN_STAGES = ("review", "awaiting_parcel")  # the workflow's CANCELLABLE_STAGES


async def _return_parcel(svc: Services, user: User, case_id: str, values: dict[str, str]) -> str:
    from shopflow.models.return_schemas import ReturnParcelIn

    body = ReturnParcelIn(courier=values.get("courier", ""),
                          tracking_no=values.get("tracking_no", ""))
    # As POST /api/v1/returns/{id}/shipment, with the form's one-time key.
    await keyed.return_parcel(svc, user, case_id, body, values.get("_key") or None)
    return "parcel_recorded"


async def _return_received(svc: Services, user: User, case_id: str,
                           values: dict[str, str]) -> str:
    from shopflow.models.return_schemas import ReturnReceivedIn

    body = ReturnReceivedIn(note=values.get("note", ""))
    await returns.book_in(svc.client(), svc.engine, case_id, user.name, body.note)
    return "parcel_booked_in"


async def _return_cancel(svc: Services, user: User, case_id: str, values: dict[str, str]) -> str:
    from shopflow.models.return_schemas import ReturnCancelIn

    body = ReturnCancelIn(reason=values.get("reason", ""))
    await returns.cancel(svc.client(), svc.engine, case_id, body.reason,
                         Actor(user.name, user.role))
    return "cancelled"


async def _return_difference(svc: Services, user: User, case_id: str,
                             values: dict[str, str]) -> str:
    from shopflow.models.return_schemas import ReturnDifferencePaid

    body = ReturnDifferencePaid(transaction_id=values.get("transaction_id", ""),
                                amount=values.get("amount", "") or "0")  # type: ignore[arg-type]
    # As POST /api/v1/returns/{id}/payments, with the form's one-time key.
    await keyed.return_difference(svc, user, case_id, body, values.get("_key") or None)
    return "payment_recorded"


def _difference_due(case: dict[str, Any]) -> bool:
    difference = case.get("difference")
    return isinstance(difference, dict) and difference.get("status") == "due"


def _difference_fields(case: dict[str, Any]) -> tuple[FormField, ...]:
    due = str((case.get("difference") or {}).get("amount", ""))
    return (FormField("transaction_id", "交易号 Transaction id", required=True),
            FormField("amount", f"金额 Amount (差价 the difference: {due})", "number", True,
                      default=due))


def _return_parcels(case: dict[str, Any]) -> list[dict[str, Any]]:
    """The customer's parcel, the replacement of an exchange and a repaired item on its way
    back, while still on their way."""
    repair = case.get("repair") if isinstance(case.get("repair"), dict) else {}
    return [p for p in (case.get("parcel"), case.get("exchange"), (repair or {}).get("parcel"))
            if isinstance(p, dict) and p.get("tracking_no")
            and p.get("status") not in ("delivered", "lost")]


def _return_shipment_fields(case: dict[str, Any]) -> tuple[FormField, ...]:
    return _shipment_fields({"shipments": _return_parcels(case)})


def _awaiting_parcel(case: dict[str, Any]) -> bool:
    return case.get("stage") == "awaiting_parcel" and not case.get("closed_at")


register(CaseAction(
    "return", "parcel", "登记客户寄回的包裹 Record the customer's parcel", ("channel", "cs"),
    (FormField("courier", "快递公司 Courier", required=True, suggestions=COURIERS),
     FormField("tracking_no", "快递单号 Tracking number", required=True)), _return_parcel,
    shown=lambda case: _awaiting_parcel(case) and not case.get("parcel")))
register(CaseAction(
    "return", "received", "仓库签收退货 Book the parcel in", ("warehouse",),
    (FormField("note", "备注 Note"),), _return_received, shown=_awaiting_parcel))
register(CaseAction(
    "return", "shipment", "物流事件 Parcel event", ("warehouse", "channel"), (), _shipment_event,
    shown=lambda case: bool(_return_parcels(case)) and not case.get("closed_at"),
    fields_for=_return_shipment_fields))
register(CaseAction(
    "return", "difference", "登记差价付款 Record the payment of the difference",
    ("channel", "cs", "finance"), (), _return_difference, shown=_difference_due,
    fields_for=_difference_fields))
register(CaseAction(
    "return", "cancel", "取消退换货 Cancel the return", ("channel", "cs", "ops"),
    (FormField("reason", "原因 Reason", "textarea"),), _return_cancel,
    shown=lambda case: not case.get("closed_at") and case.get("stage") in RETURN_OPEN_STAGES
    and not (isinstance(case.get("parcel"), dict)
             and case["parcel"].get("status") == "delivered"), style="danger"))


# --- complaints -------------------------------------------------------------------------------

async def _complaint_message(svc: Services, user: User, case_id: str,
                             values: dict[str, str]) -> str:
    from shopflow.models.complaint_schemas import MessageIn

    body = MessageIn(text=values.get("text", ""))  # the API's own checks
    await complaints.customer_message(svc.client(), svc.engine, case_id, body.text,
                                      f"customer via {user.name}")
    return "message_recorded"


async def _complaint_escalate(svc: Services, user: User, case_id: str,
                              values: dict[str, str]) -> str:
    from shopflow.models.complaint_schemas import EscalateIn

    body = EscalateIn(reason=values.get("reason", ""))
    await complaints.customer_escalate(svc.client(), svc.engine, case_id, body.reason,
                                       f"customer via {user.name}")
    return "escalated"


register(CaseAction(
    "complaint", "message", "记录客户留言 Record the customer's message", ("channel", "cs"),
    (FormField("text", "客户的话 What the customer wrote or said", "textarea", True),),
    _complaint_message, shown=lambda case: case.get("status") != "closed"
    and not case.get("closed_at")))
register(CaseAction(
    "complaint", "escalate", "客户申请升级 The customer escalates", ("channel", "cs"),
    (FormField("reason", "原因 Reason", "textarea", True),), _complaint_escalate,
    # While handled, the workflow takes it once the first-response time has passed (seed 003
    # case 6) and says from when otherwise.
    shown=lambda case: not case.get("closed_at") and case.get("status") != "closed",
    style="danger"))


# --- promotion plans (seed 003 第九条) -----------------------------------------------------------

async def _promotion_cancel(svc: Services, user: User, case_id: str,
                            values: dict[str, str]) -> str:
    from shopflow.models.promotion_schemas import CancelPlan

    body = CancelPlan(reason=values.get("reason", ""))  # as POST /promotions/{id}/cancel
    await promotions.cancel(svc.client(), svc.engine, case_id, body.reason,
                            Actor(user.name, user.role))
    return "promotion_cancelled"


register(CaseAction(
    "promotion", "cancel", "取消促销方案 Cancel the plan (before its start)", ("cs", "ops"),
    (FormField("reason", "原因 Reason", "textarea", True),), _promotion_cancel,
    shown=lambda case: case.get("stage") in ("review", "approval", "scheduled")
    and not case.get("closed_at"), style="danger"))
