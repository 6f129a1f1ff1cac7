"""The customer's status page (``/status/<token>``): where a sample, order, return or complaint
is, told the way the customer sees it, in the customer's language.

Only what the customer may know leaves here: the process, its reference, a customer-facing
stage and next step (the words below, never a status code, task, note or person), the dates,
and the courier's tracking link. The link's token is read in ``security.links``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import col, select

from shopflow.db import session_scope
from shopflow.models import Case, Customer, Shipment
from shopflow.notifications.render import pick_locale
from shopflow.security.links import link_key, status_case
from shopflow.services import invoices
from shopflow.settings import Settings

# (zh-CN, en) for each shown word.
Text = tuple[str, str]
KINDS: dict[str, Text] = {"sample": ("样品申请", "Sample request"), "order": ("订单", "Order"),
                          "return": ("退换货", "Return"), "complaint": ("投诉", "Complaint")}
# (kind, status or stage) -> (where it is, what happens next). Looked up by status, then stage.
STEPS: dict[tuple[str, str], tuple[Text, Text]] = {
    ("sample", "waiting_info"): (("需要您补充信息", "We need more information from you"),
                                 ("请按邮件中的说明回复我们", "Please answer as our message asks")),
    ("sample", "rejected"): (("未获批准", "Not approved"), ("无需操作", "Nothing to do")),
    ("sample", "cancelled"): (("已取消", "Cancelled"), ("无需操作", "Nothing to do")),
    ("sample", "archived"): (("已完成", "Completed"), ("感谢您的参与", "Thank you")),
    ("sample", "preliminary_review"): (("审核中", "Being reviewed"),
                                       ("审核后我们会通知您", "We will tell you the outcome")),
    ("sample", "review"): (("审核中", "Being reviewed"),
                           ("审核后我们会通知您", "We will tell you the outcome")),
    ("sample", "dispatch"): (("已批准，准备发货", "Approved, being packed"),
                             ("发货后您会收到快递单号", "You get the tracking number once sent")),
    ("sample", "awaiting_feedback"): (("已发货", "Sent"),
                                      ("试用后请填写反馈表", "Please tell us how it worked")),
    ("order", "received"): (("已收到订单", "Order received"),
                            ("我们正在处理", "We are preparing it")),
    ("order", "backordered"): (("等待到货", "Waiting for stock"),
                               ("到货后立即为您发货", "We send it as soon as stock arrives")),
    ("order", "awaiting_payment"): (("等待付款", "Waiting for payment"),
                                    ("请完成付款", "Please complete the payment")),
    ("order", "fulfilling"): (("备货中", "Being packed"),
                              ("发货后您会收到快递单号", "You get the tracking number once sent")),
    ("order", "shipped"): (("已发货", "On its way"),
                           ("请留意快递派送", "Watch for the courier's delivery")),
    ("order", "exception"): (("配送遇到问题", "A problem with the delivery"),
                             ("客服正在处理，会与您联系", "Customer service is on it and will contact you")),
    ("order", "completed"): (("已签收", "Delivered"), ("无需操作", "Nothing to do")),
    ("order", "refunded"): (("已退款", "Refunded"), ("无需操作", "Nothing to do")),
    ("order", "cancelled"): (("已取消", "Cancelled"), ("无需操作", "Nothing to do")),
    ("return", "requested"): (("申请审核中", "Request being reviewed"),
                              ("批准前请勿寄出商品", "Please send nothing before it is approved")),
    ("return", "approved"): (("已批准", "Approved"),
                             ("请按说明寄回商品", "Please send the items back as described")),
    ("return", "rejected"): (("未获批准", "Not approved"), ("无需操作", "Nothing to do")),
    ("return", "expired"): (("已过期", "Expired"), ("无需操作", "Nothing to do")),
    ("return", "parcel_sent"): (("商品寄回途中", "Your parcel is on its way to us"),
                                ("收到后我们会检验", "We inspect it when it arrives")),
    ("return", "received"): (("已收到退回商品", "We received your parcel"),
                             ("检验中", "It is being inspected")),
    ("return", "inspected"): (("已检验", "Inspected"),
                              ("正在办理退款或换货", "Your refund or exchange is being arranged")),
    ("return", "inspection_failed"): (("检验未通过", "Inspection not passed"),
                                      ("客服会与您联系", "Customer service will contact you")),
    ("return", "refund_pending"): (("退款办理中", "Refund being processed"),
                                   ("退款到账后我们会通知您", "We tell you once it is refunded")),
    ("return", "refunded"): (("已退款", "Refunded"), ("无需操作", "Nothing to do")),
    ("return", "exchange_pending"): (("换货办理中", "Exchange being prepared"),
                                     ("发货后您会收到快递单号", "You get the tracking number once sent")),
    ("return", "backordered"): (("换货等待到货", "Exchange waiting for stock"),
                                ("到货后立即为您发货", "We send it as soon as stock arrives")),
    ("return", "exchanged"): (("已换货", "Exchanged"), ("无需操作", "Nothing to do")),
    ("return", "cancelled"): (("已取消", "Cancelled"), ("无需操作", "Nothing to do")),
    # an exchange for a dearer SKU, its price difference not paid yet (no amount shown here)
    ("return", "difference_due"): (("等待补付差价", "Waiting for the price difference"),
                                   ("请按通知补付差价，付款后立即发货",
                                    "Please pay the difference as our message says; we send "
                                    "it once paid")),
    ("return", "repairing"): (("维修中", "Being repaired"),
                              ("修好后寄回给您，届时会通知您快递单号",
                               "We send it back repaired and tell you the tracking number")),
    ("return", "repaired"): (("已修好并寄回", "Repaired and sent back"),
                             ("请留意快递派送", "Watch for the courier's delivery")),
    ("complaint", "open"): (("处理中", "Being handled"),
                            ("客服会与您联系", "Customer service will contact you")),
    ("complaint", "waiting_customer"): (("等待您的回复", "Waiting for your reply"),
                                        ("请回复我们的消息", "Please answer our message")),
    ("complaint", "resolved"): (("已解决", "Resolved"),
                                ("请告诉我们您是否满意", "Please tell us whether you are satisfied")),
    ("complaint", "closed"): (("已关闭", "Closed"), ("无需操作", "Nothing to do")),
}
UNKNOWN_STEP: tuple[Text, Text] = (("处理中", "In progress"),
                                   ("我们会通知您下一步", "We will tell you the next step"))


def feedback_subject(engine: Engine, case_id: str, kind: str) -> dict[str, Any] | None:
    """What a feedback form is about, in both languages: the sample request, the order (a
    follow-up's survey) or the complaint, with its items; None when the case is gone."""
    with session_scope(engine, write=False) as session:
        case = session.get(Case, case_id)
    if case is None:
        return None
    order_no = case.data.get("order_no")
    if kind == "followup" and order_no:
        (zh, en), ref = KINDS["order"], str(order_no)
    else:
        (zh, en), ref = KINDS.get(kind, KINDS["sample"]), case.id
    items = [f"{i.get('name') or i.get('sku')} × {_quantity(i)}"
             for i in case.data.get("items") or [] if isinstance(i, dict) and i.get("sku")]
    return {"zh": f"{zh} {ref}", "en": f"{en} {ref}", "items": items,
            "complaint": kind == "complaint"}


def _quantity(item: dict[str, Any]) -> Any:
    return item.get("quantity") or item.get("approved_quantity") or item.get(
        "requested_quantity")


def case_for_token(settings: Settings, token: str, now: datetime) -> str | None:
    return status_case(link_key(settings), token, now)


def customer_status(engine: Engine, case_id: str) -> dict[str, Any] | None:
    """The page's view of a case in the customer's language, or None (no such case, or not a
    process with a status page)."""
    with session_scope(engine, write=False) as session:
        case = session.get(Case, case_id)
        if case is None or case.kind not in KINDS:
            return None
        customer = session.get(Customer, case.customer_id) if case.customer_id else None
        order_no = case.id if case.kind == "order" else case.data.get("order_no")
        invoice = (invoices.for_customer(session, order_no)
                   if case.kind in ("order", "return") and isinstance(order_no, str) else None)
        parcel = session.exec(
            select(Shipment).where(Shipment.case_id == case_id,
                                   Shipment.direction == "outbound")
            .order_by(col(Shipment.shipped_at).desc())).first()
    locale = pick_locale(customer.locale if customer else None)
    lang = 0 if locale == "zh-CN" else 1
    difference = case.data.get("difference")
    due = isinstance(difference, dict) and difference.get("status") == "due"
    stage, step = (due and STEPS.get((case.kind, "difference_due"))) or STEPS.get(
        (case.kind, case.status)) or STEPS.get((case.kind, case.stage), UNKNOWN_STEP)
    return {
        "locale": locale, "kind": KINDS[case.kind][lang], "ref": case.id,
        "stage": stage[lang], "next_step": step[lang],
        "created": case.created_at.date().isoformat(),
        "updated": case.updated_at.date().isoformat(),
        "closed": case.closed_at.date().isoformat() if case.closed_at else None,
        **_parcel(parcel, case.data.get("shipment")),
        "invoice": invoice,
        "order_no": order_no if invoice else None,
    }


def _parcel(row: Shipment | None, recorded: Any) -> dict[str, str | None]:
    """The outbound parcel: its courier row, else what the case recorded (a sample's)."""
    if row is not None:
        return {"courier": row.courier, "tracking_no": row.tracking_no,
                "tracking_url": row.tracking_url or None,
                "delivered": row.delivered_at.date().isoformat() if row.delivered_at else None}
    got = recorded if isinstance(recorded, dict) else {}
    shown = {key: str(got[key]) if got.get(key) else None
             for key in ("courier", "tracking_no", "tracking_url")}
    if not (shown["tracking_url"] or "").startswith(("https://", "http://")):
        shown["tracking_url"] = None  # a link the customer may follow, or none
    return shown | {"delivered": None}
