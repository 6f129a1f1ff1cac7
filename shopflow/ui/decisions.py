"""What the task page's form looks like for each task kind: the decisions, and the fields each
decision takes. The form turns into ``{decision, data, comment}``, exactly the body of
``POST /api/v1/tasks/{id}/complete``, and goes through the same code path; the workflow's Update
validator stays the one judge of what is valid, and its 422/409 shows next to the field it names
(``details.field``, or ``details.sku`` for a line of an items field).

To give a new task kind its form, add a ``TaskForm`` to ``TASK_FORMS`` below, or call
``register(TaskForm(...))`` from your own module (a later registration of a kind replaces the
earlier). A kind with no entry gets the generic form: a decision name and the data as JSON.

Field types: ``text``/``textarea``/``int``/``number``/``select`` (one value), ``checkbox``
(true/false), ``yesno`` (a select of true/false, left out when blank), ``json``, ``items`` (one
quantity input per line of a context list, blank lines left out) and ``lines`` (several inputs
per line of a context list, every line sent: ``[{item_key, column: value …}]``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from shopflow.ui.i18n import tr
from shopflow.ui.labels import label

FieldType = Literal["text", "textarea", "int", "number", "select", "checkbox", "yesno", "json",
                    "items", "lines"]
YES_NO = (("", "—"), ("true", "是 Yes"), ("false", "否 No"))
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
    keep_zero: bool = False  # items: "0" is a value (a count), only a blank line is left out
    stock_columns: bool = True  # items: show the stock at the task and now beside each line
    input_label: str = ""  # items: the heading of the input column (default: quantity_key)
    columns: tuple[FormField, ...] = ()  # lines: the inputs of each line
    default: str = ""  # what the input starts with ("1" checks a checkbox)
    default_from: str | None = None  # … or the task context's value under this key
    when: str | None = None  # on the form only when the (form) context has this key, non-empty


@dataclass(frozen=True)
class Decision:
    value: str
    fields: tuple[FormField, ...] = ()
    style: Literal["primary", "danger", "neutral"] = "primary"
    title: str | None = None  # defaults to the label of ``value``
    # Reshapes the data read from the inputs into the body the workflow takes (optional).
    shape: Callable[[dict[str, Any]], dict[str, Any]] | None = None

    @property
    def caption(self) -> str:
        return tr(self.title) if self.title else label(self.value)


@dataclass(frozen=True)
class TaskForm:
    kind: str
    decisions: tuple[Decision, ...]
    documents: tuple[str, ...] = ()  # documents of the case (see ui/documents.py) to link
    hint: str = ""  # what the person should check before deciding
    extra_json: bool = False  # also offer "more data (JSON)" merged into data
    generic: bool = False
    # An error of the workflow whose ``details.field`` or code is the key shows at this input.
    error_inputs: tuple[tuple[str, str], ...] = ()
    # Extra context the form needs beyond the task's (see ui/queries.py ``form_context``).
    needs: tuple[str, ...] = ()

    def decision(self, value: str) -> Decision | None:
        return next((d for d in self.decisions if d.value == value), None)


# --- the forms ---------------------------------------------------------------------------------

def _text(name: str, caption: str, *, required: bool = True, **kw: Any) -> FormField:
    return FormField(name, caption, "text", required, **kw)


def _area(name: str, caption: str, *, required: bool = True, **kw: Any) -> FormField:
    return FormField(name, caption, "textarea", required, **kw)


REASON = _area("reason", "原因 Reason")
COMPLAINT_CATEGORIES = (("quality", "质量 Quality"), ("delivery", "配送 Delivery"),
                        ("service", "服务 Service"), ("billing", "账单 Billing"),
                        ("other", "其他 Other"))


def _start_return(data: dict[str, Any]) -> dict[str, Any]:
    """complaint.handle resolve: a return kind and its quantities become ``start_return``."""
    kind = data.pop("return_kind", "")
    items = data.pop("return_items", [])
    if kind:
        data["start_return"] = {"kind": kind, "items": items}
    return data

SHIPPED = Decision("shipped", (
    _text("courier", "快递公司 Courier", suggestions=COURIERS),
    _text("tracking_no", "快递单号 Tracking number"),
), title="已发货 Shipped")
RESOLVED = Decision("resolved", (_area("resolution", "处理结果 Resolution"),))
TRACKING_ERRORS = (("invalid_tracking_no", "shipped.tracking_no"),
                   ("tracking_no_in_use", "shipped.tracking_no"))

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
        Decision("ask_product", (_area("question", "问题 Question to product development"),),
                 title="咨询产品开发 Ask product development", style="neutral"),
        Decision("reject", (REASON,), style="danger"),
    ), hint="核实资质文件、客户信用、采购历史、样品申请记录与库存;必要时咨询产品开发 Check the "
             "qualification documents, credit rating, purchase history, earlier sample requests "
             "and stock; ask product development when needed."),
    TaskForm("sample.product_question", (
        Decision("answered", (_area("answer", "答复 Answer"),), title="答复 Answer"),
    ), hint="审核员就样品申请咨询产品开发(样品是否适合客户用途、型号) The sample's reviewer "
            "asks product development: whether the samples suit the customer's use, which "
            "model. The answer goes back to the review."),
    TaskForm("sample.dispatch", (SHIPPED,), documents=("slip",), error_inputs=TRACKING_ERRORS,
             hint="按发货单打包并发货 Pack as the slip says, then ship."),
    TaskForm("sample.feedback_problem", (RESOLVED,),
             hint="低分、不满意或反馈了问题：联系客户 A low score, \"not satisfied\" or a "
                  "problem: contact the customer."),
    TaskForm("sample.feedback_call", (
        Decision("reached", (_area("notes", "通话记录 Notes"),), title="已联系 Reached"),
        Decision("unreachable", (_area("notes", "情况说明 Notes"),),
                 title="联系不上 Unreachable", style="neutral"),
    ), hint="客户未填写反馈：电话联系，并用反馈链接（见上方 feedback.url）代为填写 No answer by "
            "the close: call the customer and fill in the form with them (feedback.url above)."),
    # Orders: the warehouse ships; a lost parcel is reshipped or refunded.
    TaskForm("order.fulfil", (SHIPPED,), documents=("pick_list", "packing_slip"),
             error_inputs=TRACKING_ERRORS,
             hint="按拣货单拣货、装箱后发货 Pick as the pick list says, pack with the packing slip, "
                  "then ship."),
    TaskForm("order.lost_parcel", (
        Decision("reship", title="重新发货 Reship (reserve the items again)"),
        Decision("refund", title="退款 Refund what was paid", style="danger"),
    ), hint="包裹丢失:选择重新发货或退款 The parcel is lost: reship or refund. A reship needs "
            "every item in stock now."),
    TaskForm("order.refund", (
        Decision("retry", title="重新退款 Ask the payment provider again"),
        Decision("settled", (_area("note", "如何退款 How it was paid back"),),
                 title="已另行退款 Paid back another way", style="neutral"),
    ), hint="支付机构拒绝了退款 The payment provider refused this refund: try again, or pay it "
            "back another way and say how."),
    # Returns (shopflow/workflows/return_handling.py validate_decision).
    TaskForm("return.review", (
        Decision("approve", title="批准退换货 Approve the return"),
        Decision("reject", (REASON,), style="danger"),
    ), hint="核对退货窗口、原因与证据 Check the return window, the reason and the evidence."),
    TaskForm("return.inspection", (
        Decision("pass", (FormField(
            "lines", "逐项检验 Each line", "lines", items_from="items",
            item_columns=("name", "quantity"), stock_columns=False,
            help="不合格的项须写明原因;可转售默认:质量问题为否,否则为是 A failed line needs "
                 "notes; resaleable defaults to no for a quality issue, yes otherwise.",
            columns=(
                FormField("result", "结果 Result", "select", default="pass",
                          options=(("pass", "合格 Pass"), ("fail", "不合格 Fail"))),
                FormField("resaleable", "可转售 Resaleable", "yesno", options=YES_NO),
                FormField("notes", "检验记录 Notes"),
            )),), title="检验通过 Passed (per line)"),
        Decision("fail", (_area("notes", "检验记录 Notes"),),
                 title="全部不合格 Failed (send back)", style="danger"),
    ), hint="核对收到的货品与退货单 Check the parcel's goods against the return's lines."),
    TaskForm("return.refund", (
        Decision("refunded", (FormField(
            "amount", "退款金额 Amount", "number", True, default_from="proposed",
            help="默认为建议金额;金额不同须在备注说明 Starts at the proposed amount; another "
                 "amount needs a comment."),), title="已退款 Refunded"),
    ), error_inputs=(("comment_required", "comment"), ("invalid_amount", "refunded.amount"),
                     ("amount_exceeds_refundable", "refunded.amount")),
        hint="按原支付方式退款 Refund to the original payment method."),
    TaskForm("return.out_of_stock", (
        Decision("wait", title="等待到货 Wait for stock"),
        Decision("refund", title="改为退款 Refund instead", style="danger"),
    )),
    TaskForm("return.repair", (
        Decision("repaired", (_area("notes", "维修记录 What was repaired", required=False),),
                 title="已修好 Repaired (the warehouse ships it back)"),
        Decision("unrepairable", (
            _area("notes", "无法修复的原因 Why it cannot be repaired"),
            FormField("remedy", "改为 Instead", "select", True,
                      options=(("refund", "退款 Refund"), ("exchange", "换货 Exchange"))),
        ), title="无法修复 Cannot be repaired", style="danger"),
    ), error_inputs=(("invalid_remedy", "unrepairable.remedy"),),
        hint="在到期时间前修好 Repair it by its due time (repair_due_at); the customer is told "
             "of every step."),
    TaskForm("return.send_back", (Decision("sent_back", (
        _text("courier", "快递公司 Courier", required=False, suggestions=COURIERS),
        _text("tracking_no", "快递单号 Tracking number", required=False),
        _area("note", "备注 Note", required=False),
    ), title="已寄回 Sent back"),)),
    # Complaints (shopflow/workflows/complaint.py).
    TaskForm("complaint.handle", (
        Decision("respond", (
            _area("message", "回复客户 Message to the customer"),
            FormField("await_reply", "等待客户回复(暂停计时) Wait for the customer's reply "
                      "(the clocks pause)", "checkbox", default="1"),
        ), title="回复客户 Respond"),
        Decision("resolve", (
            _area("resolution", "处理结果 Resolution"),
            FormField("return_kind", "同时发起退换货 Also start a return", "select",
                      options=(("", "否 No"), ("refund", "退款 Refund"),
                               ("exchange", "换货 Exchange")), when="order_items",
                      help="仅限与订单相关的质量投诉 Only for a quality complaint about an order."),
            FormField("return_items", "退换数量 Quantities to return", "items",
                      items_from="order_items", quantity_key="quantity",
                      item_columns=("name", "quantity"), stock_columns=False,
                      input_label="退换数量 To return"),
        ), title="解决 Resolve", shape=lambda data: _start_return(data)),
        Decision("escalate", (REASON,), title="升级 Escalate", style="danger"),
    ), needs=("order_items",), error_inputs=(
        ("start_return", "resolve.return_kind"), ("start_return.items", "resolve.return_items"),
        ("return_needs_quality_complaint", "resolve.return_kind"),
        ("no_order", "resolve.return_kind")),
        hint="先回复客户,解决后客户会收到满意度调查 Respond first; after the resolution the "
             "customer is asked whether they are satisfied."),
    # Follow-ups and scheduled care (feedback_follow_up.py, care.py).
    TaskForm("followup.problem", (
        RESOLVED,
        Decision("open_complaint", (
            FormField("category", "投诉类别 Category", "select", True, options=COMPLAINT_CATEGORIES),
            _area("description", "描述 Description", required=False,
                  help="留空则使用客户反馈的问题 Blank: the problem the customer reported."),
        ), title="转为正式投诉 Open a complaint", style="neutral"),
    ), hint="联系客户解决反馈的问题 Contact the customer about the problem they reported."),
    TaskForm("enquiry.answer", (
        Decision("answer", (_area("message", "答复 Answer"),), title="答复客户 Answer"),
        Decision("to_complaint", (
            FormField("category", "投诉类别 Category", "select", True, options=COMPLAINT_CATEGORIES),
            _area("description", "描述 Description", required=False,
                  help="留空则使用客户的问题 Blank: the customer's question."),
        ), title="转为投诉 Hand over to a complaint", style="neutral"),
        Decision("to_order", (
            FormField("order_no", "订单号 Order no.", required=True),
            _area("message", "答复 Answer", required=False),
        ), title="转为订单 Hand over to an order", style="neutral"),
    ), hint="首次响应时限内答复客户的咨询 Answer the customer's question within the first-response "
            "time, or hand it over."),
    TaskForm("customer.revisit", (
        Decision("done", (_area("notes", "回访记录 Notes"),), title="已回访 Done"),
        Decision("unreachable", (_area("notes", "情况说明 Notes"),),
                 title="联系不上 Unreachable", style="neutral"),
    ), hint="大客户定期回访 Key-account revisit: call the customer and note what they said."),
    TaskForm("inventory.stocktake", (
        Decision("counted", (FormField(
            "counts", "实盘数量 Counted quantities", "items", items_from="lines",
            quantity_key="counted", item_columns=("name", "on_hand", "reserved", "damaged"),
            keep_zero=True, stock_columns=False, input_label="实盘 Counted",
            help="留空的 SKU 保持账面数量 A SKU left blank stays as booked."),),
            title="盘点完成 Counted"),
    ), hint="逐个 SKU 清点货架,填写实际数量 Count each SKU on the shelf and enter what is there."),
    # Promotion plans and overstock (promotion.py, seed 003 第八条, 第九条).
    TaskForm("promotion.review", (
        Decision("pass", (_area("note", "审核意见 Note", required=False),),
                 title="审核通过 Pass to approval"),
        Decision("reject", (REASON,), style="danger"),
    ), hint="核对商品、折扣与毛利、目标客户和时间 Check the products, the discount against the "
            "margin, the customers it targets and the dates."),
    TaskForm("promotion.approve", (
        Decision("approve", (_area("note", "批示 Note", required=False),),
                 title="批准 Approve (it starts and ends by itself)"),
        Decision("reject", (REASON,), style="danger"),
    ), hint="批准后按时开始、结束并通知目标客户 Approved, it starts and ends on time and its "
            "customers are told at the start."),
    TaskForm("inventory.overstock", (
        Decision("promote", (
            _text("name", "促销名称 Promotion name", required=False,
                  help="留空为「<SKU> clearance」 Blank: \"<SKU> clearance\"."),
            FormField("discount_percent", "折扣 Discount %", "int", True),
            _text("start_at", "开始 Starts at", help="ISO 8601, e.g. 2026-12-07T00:00:00+08:00"),
            _text("end_at", "结束 Ends at", help="ISO 8601, e.g. 2026-12-14T00:00:00+08:00"),
            _text("target_tag", "客户标签 Customers tagged", required=False),
            FormField("segment", "客户范围 Customers", "select",
                      options=(("all", "全部 All"), ("buyers", "买过该商品的 Who bought it"))),
        ), title="做促销 Propose a promotion"),
        Decision("return_to_supplier", (
            FormField("quantity", "退回数量 Quantity", "int", True, default_from="available"),
            _area("note", "备注 Note", required=False),
        ), title="退回供应商 Return to the supplier", style="neutral"),
        Decision("keep", (_area("note", "原因 Why"),), title="保留 Keep", style="neutral"),
    ), hint="该商品长期未动销 This stock has not moved: propose a promotion (it goes to review "
            "and approval) or return it to the supplier."),
    TaskForm("finance.reconciliation_difference", (
        Decision("accept_provider", (_area("note", "说明 Why", required=False),),
                 title="以服务商为准 Accept the provider's figure (adjustment line)"),
        Decision("fix_books", (_area("note", "更正了什么 What was corrected"),),
                 title="已更正账面 The books are fixed", style="neutral"),
        Decision("raise_with_provider", (_area("note", "异议及其编号 The claim and its reference"),),
                 title="向服务商提出异议 Raise with the provider", style="neutral"),
    ), hint="核对账面与支付服务商日报的差异 Look into the difference between the books and the "
            "payment provider's daily report, then decide."),
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


def shown(f: FormField, context: Mapping[str, Any]) -> bool:
    """A field is on the form unless it offers lines and the context has none, or it is only
    for a context that has something under ``when``."""
    if f.when is not None and not context.get(f.when):
        return False
    return f.type not in ("items", "lines") or bool(lines_of(f, context))


def initial_values(spec: TaskForm, context: Mapping[str, Any]) -> dict[str, str]:
    """What the inputs start with on a fresh form (by input name)."""
    values: dict[str, str] = {}
    for d in spec.decisions:
        for f in d.fields:
            if f.type == "lines":
                for i, _ in enumerate(lines_of(f, context)):
                    for c in f.columns:
                        if c.default:
                            values[line_input(d.value, f, i, c)] = c.default
                continue
            start = f.default
            if f.default_from is not None:
                found = context.get(f.default_from)
                if isinstance(found, str | int | float) and not isinstance(found, bool):
                    start = str(found)
            if start:
                values[input_name(d.value, f)] = start
    return values


def line_input(decision: str, f: FormField, line: int, column: FormField) -> str:
    return f"{decision}.{f.name}.{line}.{column.name}"


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
        if not shown(f, context):
            continue
        if f.type == "items":
            picked = []
            for i, line in enumerate(lines_of(f, context)):
                raw = str(form.get(input_name(decision, f, i)) or "").strip()
                if raw == "" or (raw == "0" and not f.keep_zero):
                    continue
                picked.append({f.item_key: line.get(f.item_key), f.quantity_key: _convert(raw, "int")})
            sub.data[f.name] = picked
            continue
        if f.type == "lines":
            rows = []
            for i, line in enumerate(lines_of(f, context)):
                row: dict[str, Any] = {f.item_key: line.get(f.item_key)}
                for c in f.columns:
                    raw = str(form.get(line_input(decision, f, i, c)) or "").strip()
                    if c.type == "checkbox":
                        row[c.name] = line_input(decision, f, i, c) in form
                    elif raw or c.required:
                        row[c.name] = _convert(raw, c.type)
                rows.append(row)
            sub.data[f.name] = rows
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
    if chosen is not None and chosen.shape is not None and not sub.errors:
        sub.data = chosen.shape(sub.data)
    return sub


def json_input(spec: TaskForm, decision: str) -> str:
    """The name of the free JSON data input: one for the generic form, one per decision."""
    return JSON_DATA if spec.generic else f"{decision}.{JSON_DATA}"


def _convert(raw: str, type_: str) -> Any:
    if type_ == "int" and _INT.match(raw):
        return int(raw)
    if type_ == "number" and _NUMBER.match(raw):
        return float(raw)
    if type_ == "yesno" and raw in ("true", "false"):
        return raw == "true"
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
                 context: Mapping[str, Any], code: str | None = None) -> str:
    """The input an error from the workflow belongs to ("" for the form as a whole): the one
    ``details.field`` names, the line ``details.sku`` names, or the form's own mapping of a
    field or an error code (``TaskForm.error_inputs``)."""
    details = details if isinstance(details, dict) else {}
    chosen = spec.decision(sub.decision)
    fields = chosen.fields if chosen else ()
    named = details.get("field")
    for f in fields:
        if f.name == named and shown(f, context):
            return input_name(sub.decision, f)
    mapped = dict(spec.error_inputs)
    for key in (named, code):
        target = mapped.get(key) if isinstance(key, str) else None
        if target is not None and (target == "comment" or target.startswith(f"{sub.decision}.")):
            return target
    sku = details.get("sku")
    if sku is not None:
        for f in fields:
            if f.type in ("items", "lines"):
                for i, line in enumerate(lines_of(f, context)):
                    if line.get(f.item_key) == sku:
                        return input_name(sub.decision, f, i)
    return ""
