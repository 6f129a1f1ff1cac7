"""What the task page's form looks like for each task kind: the decisions, and the fields each
decision takes. The form turns into ``{decision, data, comment}``, exactly the body of
``POST /api/v1/tasks/{id}/complete``, and goes through the same code path; the workflow's Update
validator stays the one judge of what is valid, and its 422/409 shows next to the field it names
(``details.field``, or ``details.sku`` for a line of an items field).

To give a new task kind its form, add a ``TaskForm`` to ``TASK_FORMS`` below, or call
``register(TaskForm(...))`` from your own module (a later registration of a kind replaces the
earlier). A kind with no entry gets the generic form: a decision name and the data as JSON.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from shopflow.ui.labels import label

FieldType = Literal["text", "textarea", "int", "number", "select", "checkbox", "json", "items"]
COURIERS = ("顺丰速运 SF Express", "中通快递 ZTO", "圆通速递 YTO", "京东物流 JD Logistics",
            "EMS", "申通快递 STO", "韵达快递 Yunda")


@dataclass(frozen=True)
class FormField:
    name: str  # the key in ``data``
    label: str
    type: FieldType = "text"
    required: bool = False  # sent even when empty, so the workflow names what is missing
    help: str = ""
    options: tuple[tuple[str, str], ...] = ()  # select: (value, label)
    suggestions: tuple[str, ...] = ()  # text: offered values (a datalist)
    # items: one input per line of ``context[items_from]``; data[name] = [{item_key, quantity_key}]
    items_from: str = "items"
    item_key: str = "sku"
    quantity_key: str = "approved_quantity"
    item_columns: tuple[str, ...] = ("requested_quantity",)  # line fields shown beside the input
    prefill_from: str | None = None  # a line field to prefill the input with


@dataclass(frozen=True)
class Decision:
    value: str
    fields: tuple[FormField, ...] = ()
    style: Literal["primary", "danger", "neutral"] = "primary"
    title: str | None = None  # defaults to the label of ``value``

    @property
    def caption(self) -> str:
        return self.title or label(self.value)


@dataclass(frozen=True)
class TaskForm:
    kind: str
    decisions: tuple[Decision, ...]
    documents: tuple[str, ...] = ()  # documents of the case (see ui/documents.py) to link
    hint: str = ""  # what the person should check before deciding
    extra_json: bool = False  # also offer "more data (JSON)" merged into data
    generic: bool = False

    def decision(self, value: str) -> Decision | None:
        return next((d for d in self.decisions if d.value == value), None)


# --- the forms ---------------------------------------------------------------------------------

def _text(name: str, caption: str, *, required: bool = True, **kw: Any) -> FormField:
    return FormField(name, caption, "text", required, **kw)


def _area(name: str, caption: str, *, required: bool = True, **kw: Any) -> FormField:
    return FormField(name, caption, "textarea", required, **kw)


REASON = _area("reason", "原因 Reason")
SHIPPED = Decision("shipped", (
    _text("courier", "快递公司 Courier", suggestions=COURIERS),
    _text("tracking_no", "快递单号 Tracking number"),
), title="已发货 Shipped")
RESOLVED = Decision("resolved", (_area("resolution", "处理结果 Resolution"),))

TASK_FORMS: dict[str, TaskForm] = {}


def register(form: TaskForm) -> TaskForm:
    TASK_FORMS[form.kind] = form
    return form


for _form in (
    TaskForm("sample.preliminary_review", (
        Decision("approve", title="通过初审 Pass to review"),
        Decision("request_info", (_area("question", "问题 Question to the customer"),),
                 style="neutral"),
        Decision("reject", (REASON,), style="danger"),
    ), hint="确认客户资质、需求及样品可用性 Check the customer's qualification, the need and "
            "whether the samples can be provided."),
    TaskForm("sample.review", (
        Decision("approve", (FormField(
            "items", "批准数量 Approved quantity per item", "items",
            help="留空或 0 表示不批准该项 Blank or 0 approves none of that item.",
            item_columns=("requested_quantity",), prefill_from="requested_quantity"),)),
        Decision("reject", (REASON,), style="danger"),
    ), hint="核实客户信用、采购历史与库存 Check credit rating, purchase history and stock."),
    TaskForm("sample.dispatch", (SHIPPED,), documents=("slip",),
             hint="按发货单打包并发货 Pack as the slip says, then ship."),
    TaskForm("sample.feedback_problem", (RESOLVED,)),
    # The decisions of API.md for the other processes; their owners may refine these.
    TaskForm("order.fulfil", (SHIPPED,), documents=("pick_list", "packing_slip"),
             hint="按拣货单拣货、装箱后发货 Pick as the pick list says, pack with the packing slip, "
                  "then ship."),
    TaskForm("order.lost_parcel", (
        Decision("reship", title="重新发货 Reship (reserve the items again)"),
        Decision("refund", title="退款 Refund what was paid", style="danger"),
    ), hint="包裹丢失:选择重新发货或退款 The parcel is lost: reship or refund."),
    TaskForm("followup.problem", (RESOLVED,), extra_json=True),
    TaskForm("return.review", (Decision("approve"), Decision("reject", (REASON,), style="danger")),
             extra_json=True),
    TaskForm("return.inspection", (
        Decision("pass", (_area("notes", "检验记录 Notes", required=False),)),
        Decision("fail", (_area("notes", "检验记录 Notes"),), style="danger"),
    ), extra_json=True),
    TaskForm("return.refund", (
        Decision("refunded", (FormField("amount", "退款金额 Amount", "number", True),),
                 title="已退款 Refunded"),
    ), extra_json=True),
    TaskForm("return.out_of_stock", (
        Decision("wait", title="等待到货 Wait for stock"),
        Decision("refund", title="改为退款 Refund instead", style="danger"),
    ), extra_json=True),
    TaskForm("return.send_back", (Decision("sent_back", title="已寄回 Sent back"),),
             extra_json=True),
    TaskForm("complaint.handle", (
        Decision("respond", (_area("message", "回复客户 Message to the customer"),)),
        Decision("resolve", (_area("resolution", "处理结果 Resolution"),)),
        Decision("escalate", (REASON,), style="danger"),
    ), extra_json=True),
):
    register(_form)


def form_for(kind: str) -> TaskForm:
    return TASK_FORMS.get(kind) or TaskForm(kind, (), generic=True)


# --- reading a submitted form ----------------------------------------------------------------

@dataclass
class Submission:
    decision: str
    data: dict[str, Any]
    comment: str
    errors: dict[str, str] = field(default_factory=dict)  # input name -> message; "" = the form


JSON_DATA = "__data"
_INT = re.compile(r"^[+-]?\d{1,12}$")
_NUMBER = re.compile(r"^[+-]?(\d{1,12}(\.\d*)?|\.\d+)$")


def input_name(decision: str, f: FormField, line: int | None = None) -> str:
    return f"{decision}.{f.name}" if line is None else f"{decision}.{f.name}.{line}"


def lines_of(f: FormField, context: Mapping[str, Any]) -> list[dict[str, Any]]:
    lines = context.get(f.items_from)
    return [x for x in lines if isinstance(x, dict)] if isinstance(lines, list) else []


def prefill(f: FormField, line: Mapping[str, Any], context: Mapping[str, Any],
            stock_now: Mapping[str, int]) -> str:
    """What an items input starts with: the line's ``prefill_from`` value, no more than the stock
    available when the task opened nor the stock available now."""
    value = line.get(f.prefill_from) if f.prefill_from else None
    if not isinstance(value, int) or isinstance(value, bool):
        return ""
    key = line.get(f.item_key)
    snapshot = context.get("stock_available")
    for limit in ((snapshot or {}).get(key) if isinstance(snapshot, dict) else None,
                  stock_now.get(key) if isinstance(key, str) else None):
        if isinstance(limit, int):
            value = min(value, max(limit, 0))
    return str(value)


def read(spec: TaskForm, form: Mapping[str, Any], context: Mapping[str, Any]) -> Submission:
    """The decision, data and comment of a submitted form. Only the chosen decision's inputs
    count. Values are converted, never judged: a quantity that is not a number is passed on as
    typed and the workflow says what is wrong with it."""
    decision = str(form.get("decision") or "").strip()
    sub = Submission(decision, {}, str(form.get("comment") or "").strip())
    if not decision:
        sub.errors[""] = "请选择一个决定 Choose a decision."
        return sub
    chosen = spec.decision(decision)
    for f in chosen.fields if chosen else ():
        if f.type == "items":
            picked = []
            for i, line in enumerate(lines_of(f, context)):
                raw = str(form.get(input_name(decision, f, i)) or "").strip()
                if raw in ("", "0"):
                    continue
                picked.append({f.item_key: line.get(f.item_key), f.quantity_key: _convert(raw, "int")})
            sub.data[f.name] = picked
            continue
        name = input_name(decision, f)
        if f.type == "checkbox":
            sub.data[f.name] = name in form
            continue
        raw = str(form.get(name) or "").strip()
        if f.type == "json":
            _merge_json(sub, name, raw, f.name)
        elif raw or f.required:
            sub.data[f.name] = _convert(raw, f.type)
    if spec.generic or spec.extra_json:
        name = json_input(spec, decision)
        _merge_json(sub, name, str(form.get(name) or "").strip(), None)
    return sub


def json_input(spec: TaskForm, decision: str) -> str:
    """The name of the free JSON data input: one for the generic form, one per decision."""
    return JSON_DATA if spec.generic else f"{decision}.{JSON_DATA}"


def _convert(raw: str, type_: str) -> Any:
    if type_ == "int" and _INT.match(raw):
        return int(raw)
    if type_ == "number" and _NUMBER.match(raw):
        return float(raw)
    return raw


def _merge_json(sub: Submission, name: str, raw: str, key: str | None) -> None:
    if not raw:
        return
    try:
        value = json.loads(raw)
    except ValueError as err:
        sub.errors[name] = f"不是有效的 JSON Not valid JSON: {err.msg} (line {err.lineno})"
        return
    if key is not None:
        sub.data[key] = value
    elif isinstance(value, dict):
        sub.data.update(value)
    else:
        sub.errors[name] = "应为 JSON 对象 Must be a JSON object, like {\"reason\": \"…\"}"


def error_target(spec: TaskForm, sub: Submission, details: Any,
                 context: Mapping[str, Any]) -> str:
    """The input an error from the workflow belongs to ("" for the form as a whole)."""
    if not isinstance(details, dict):
        return ""
    chosen = spec.decision(sub.decision)
    fields = chosen.fields if chosen else ()
    named = details.get("field")
    for f in fields:
        if f.name == named and f.type != "items":
            return input_name(sub.decision, f)
    sku = details.get("sku")
    if sku is not None:
        for f in fields:
            if f.type == "items":
                for i, line in enumerate(lines_of(f, context)):
                    if line.get(f.item_key) == sku:
                        return input_name(sub.decision, f, i)
    return ""
