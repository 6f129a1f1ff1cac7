"""Rendering and the request plumbing every page shares: the template environment, the session
cookie, sign-in checks, CSRF checks, and the route class that turns errors into HTML pages."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import structlog
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.service import RPCError

from shopflow.api.auth import User
from shopflow.api.deps import Services
from shopflow.api.errors import from_temporal
from shopflow.models.types import utcnow
from shopflow.services import customers
from shopflow.services.errors import Refused
from shopflow.ui import i18n
from shopflow.ui.kpis import KpiBoard
from shopflow.ui.labels import label
from shopflow.ui.session import COOKIE, CSRF_FIELD, Signer, UiSession, csrf_ok, still_valid

log = structlog.get_logger(__name__)
HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
STATIC_VERSION = str(int(max(p.stat().st_mtime for p in STATIC_DIR.iterdir())))
# The pages use no inline script or style, so a strict policy costs nothing.
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
NOTES = {  # ?note=… after a redirect: fixed texts only, never echoed input
    "signed_out": "已退出 You are signed out.",
    "document_added": "已上传资质文件 The document is stored.",
    "documents_not_stored": "申请已创建,但资质文件未能保存,请在本页重新上传 The request is filed "
                            "but its documents could not be stored: upload them again here.",
    "claimed": "已领取任务 Task claimed: it is yours now.",
    "released": "已释放任务 Task released back to the inbox.",
    "claimed_by_other": "该任务已被他人领取 Someone else has claimed this task.",
    "not_claimed_by_you": "只有领取人可以释放 Only the assignee can release this task.",
    "task_not_open": "该任务已关闭 This task is closed already.",
    "info_sent": "已提交客户的补充信息 The customer's answer was sent to the case.",
    "cancelled": "已取消 The case is cancelled.",
    "payment_recorded": "已登记付款 The payment is recorded.",
    "invoice_requested": "已登记开票申请 The invoice request is recorded (issued once paid).",
    "settled": "已结算 The day is marked settled.",
    "checked": "已与服务商日报核对 Compared with the provider's report: each difference has a finance task.",
    "check_running": "核对进行中 The comparison is still running: reload in a minute.",
    "open_differences": "有未处理的差异 Differences with the provider are still open: decide each first.",
    "already_settled": "该日已结算 This day was settled already.",
    "invalid_date": "日期无效 This day cannot be settled (it has not begun).",
    "bank_details_asked": "已向客户索取银行信息 The customer is asked for bank details: the "
                          "notice with the form's link is on its way.",
    "bank_details_requested": "已在等待客户的银行信息 The customer was asked already: the link "
                              "still works.",
    "bank_details_received": "客户已提交银行信息 The customer has sent the bank details already.",
    "no_transfer_due": "该退款无需转账 This refund is not a transfer still due.",
    "bank_details_missing": "客户尚未提交银行信息 The customer's bank details have not come yet.",
    "transfer_paid": "该转账已登记 This transfer was recorded as made already.",
    "transfer_marked_paid": "已登记转账 The transfer is recorded as made.",
    "unavailable": "服务暂不可用,请稍后再试 The service is unavailable: try again shortly.",
    "shipment_event": "已登记物流事件 The parcel event is recorded.",
    "created": "已创建 Created.",
    "parcel_recorded": "已登记客户寄回的包裹 The customer's parcel is recorded.",
    "parcel_booked_in": "已签收退货,等待检验 The parcel is booked in: inspection is next.",
    "message_recorded": "已记录客户留言 The customer's message is recorded.",
    "escalated": "已升级 The complaint is escalated.",
    "assigned": "已分配任务 The task is assigned.",
    "unknown_assignee": "没有这个人 No one of that name holds a token.",
    "assignee_cannot_act": "此人不能处理该任务 That person's role may not work on this task.",
    "mail_attached": "已加入投诉的留言 The e-mail is added to the complaint's messages.",
    "mail_dismissed": "已搁置该邮件 The e-mail is set aside.",
    "mail_not_unmatched": "该邮件已处理 This e-mail was handled already.",
    "complaint_closed": "该投诉已关闭 That complaint is closed.",
    "not_found": "没有这个投诉 No such complaint.",
    "invalid_input": "输入无效 Invalid input.",
    "promotion_cancelled": "促销已取消 The promotion is cancelled.",
    "preferences_saved": "已保存个人设置 Your preferences are saved.",
}


class SignInRequired(Exception):
    pass


class CsrfFailed(Exception):
    pass


class UiState:
    def __init__(self, signer: Signer, timezone: str = "UTC") -> None:
        self.signer = signer
        self.kpis = KpiBoard()
        self.closing = asyncio.Event()  # set on shutdown: the live pages' streams end at once
        self.env = Environment(loader=FileSystemLoader(HERE / "templates"),
                               autoescape=select_autoescape(default=True, default_for_string=True),
                               undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                               extensions=[i18n.Bilingual])
        self.env.globals.update(label=label, static=_static, qs=_qs, is_url=_is_url, is_iso=_is_iso,
                                ui_en=i18n.is_en, ui_t=i18n.t, languages=i18n.LANGUAGES)
        zone = ZoneInfo(timezone)  # SHOPFLOW_TIMEZONE: every time a page shows is local to it
        self.env.filters.update(dt=partial(_dt, zone=zone), due=_due, pretty=_pretty,
                                humankey=_humankey, tr=i18n.tr)


def ui(request: Request) -> UiState:
    return request.app.state.ui  # type: ignore[no-any-return]


def svc_of(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


# --- session ----------------------------------------------------------------------------------

def session_of(request: Request) -> UiSession:
    cached = getattr(request.state, "ui_session", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    signer = ui(request).signer
    s = signer.load(request.cookies.get(COOKIE)) if signer.enabled else None
    if s is None:
        s = signer.new() if signer.enabled else UiSession(csrf="", exp=0, fresh=False)
    request.state.ui_session = s
    return s


def replace_session(request: Request, s: UiSession) -> None:
    request.state.ui_session = s


async def current(request: Request) -> User | None:
    """The signed-in user, with the token behind the session checked again."""
    s = session_of(request)
    if s.user is None:
        return None
    svc = svc_of(request)
    user = await svc.db(still_valid, svc.engine, s, svc.settings.is_dev, ui(request).signer.idle)
    if user is None:
        replace_session(request, ui(request).signer.new(language=s.language))
    elif s.language:
        i18n.use(s.language)  # the person's own choice (read with the session's row)
    return user


async def signed_in(request: Request) -> User:
    user = await current(request)
    if user is None:
        raise SignInRequired()
    return user


async def checked_form(request: Request) -> dict[str, str]:
    """The POSTed form, once its CSRF token matched the session's."""
    form = await request.form()
    values = {k: v for k, v in form.multi_items() if isinstance(v, str)}
    if not csrf_ok(session_of(request), values.get(CSRF_FIELD)):
        raise CsrfFailed()
    return values


def form_errors(fields: dict[str, str]) -> dict[str, str]:
    """A form's errors by field, and the line above the form that names them all."""
    return {**fields, "": i18n.Chosen(i18n.t("请修改以下内容:", "Please correct:") + " " + "; ".join(
        f"{k}: {m}" for k, m in fields.items()))}


def invalid_fields(err: ValidationError, depth: int | None = None) -> dict[str, str]:
    """The request model's refusals as form errors, by dotted field (its first ``depth``
    parts)."""
    return form_errors({".".join(str(p) for p in e["loc"][:depth]): e["msg"]
                        for e in err.errors()})


def safe_next(target: str | None, default: str = "/ui/") -> str:
    """Only pages of this site: never an absolute or protocol-relative URL."""
    if (not target or not target.startswith("/ui/") or target.startswith("//")
            or "\\" in target or any(c in target for c in "\r\n\t")):
        return default
    return target


# --- rendering --------------------------------------------------------------------------------

def page_language(request: Request) -> str:
    """Before the sign-in is checked: this browser's choice (the switch, in the cookie), else
    its Accept-Language; ``current`` then puts the signed-in person's own choice in force."""
    s = session_of(request)
    return s.language or i18n.from_header(request.headers.get("accept-language"))


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    s = session_of(request)
    note = NOTES.get(request.query_params.get("note", ""))
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    html = ui(request).env.get_template(template).render({
        "request": request, "user": s.user, "csrf": s.csrf, "csrf_field": CSRF_FIELD,
        "note": note, "now": utcnow(), "status": status, "section": None, "live": None,
        "lang": i18n.language(), "page_url": here, **context})
    response = HTMLResponse(html, status_code=status)
    response.headers["Content-Security-Policy"] = CSP
    return response


def with_note(url: str, note: str) -> str:
    """``url`` with ``?note=`` (one of ``NOTES``) in place of any note it had."""
    base = url.split("#")[0]
    parts = [p for p in (base.split("?", 1)[1] if "?" in base else "").split("&")
             if p and not p.startswith("note=")]
    path = base.split("?", 1)[0]
    return f"{path}?{'&'.join([*parts, f'note={note}'])}"


CUSTOMER_FORM_KEYS = ("id", "name", "company", "email", "phone")


async def customer_form_values(request: Request, user: User,
                               customer_id: str | None) -> dict[str, str]:
    """A blank create form taken on the phone (a complaint, an enquiry): its one-time key and,
    with ``?customer=<id>`` from the customer's page, their profile filled in (for those who may
    read profiles)."""
    values = {"request_key": uuid.uuid4().hex, "channel": "phone"}
    if customer_id and user.has(*customers.READ_ROLES):
        svc = svc_of(request)
        profile = await svc.db(customers.customer_view, svc.engine, customer_id)
        values |= {f"customer.{k}": profile.get(k) or "" for k in CUSTOMER_FORM_KEYS}
    return values


FormPage = Callable[..., Coroutine[Any, Any, Response]]
KeyedCreate = Callable[[Services, User, Any, str | None], Coroutine[Any, Any, Response]]


async def keyed_create_form(request: Request, user: User, *, model: Any,
                            fields: Callable[[Callable[[str], str | None]], dict[str, Any]],
                            create: KeyedCreate, form: FormPage, case_page: str) -> Response:
    """A create form posted (a complaint, an enquiry): the API's request model checks it (422
    on the form, naming the fields), the API route's keyed create makes it with the form's
    one-time key as the Idempotency-Key (a double submit answers with the first), a refusal
    shows on the form; on success the new case's page (``case_page`` with ``{id}``)."""
    posted = await checked_form(request)

    def val(name: str) -> str | None:
        return posted.get(name, "").strip() or None

    try:
        body = model.model_validate(fields(val))
    except ValidationError as err:
        return await form(request, 422, values=posted, errors=invalid_fields(err))
    try:
        response = await create(svc_of(request), user, body, val("request_key"))
    except Refused as err:
        if err.status not in (403, 404, 409, 422, 503):
            raise
        key = "order_no" if "order" in err.code else ""
        return await form(request, err.status, values=posted,
                          errors={key: err.message, "": err.message})
    created = json.loads(bytes(response.body))
    return redirect(case_page.format(id=created["id"]))


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def error_page(request: Request, status: int, code: str, message: str) -> HTMLResponse:
    titles = {401: "请登录 Please sign in", 403: "无权访问 Forbidden", 404: "未找到 Not found",
              409: "冲突 Conflict", 422: "输入无效 Invalid input",
              503: "暂时不可用 Temporarily unavailable"}
    response = render(request, "error.html", status, code=code, message=message,
                      title=titles.get(status, "出错了 Something went wrong"))
    if status == 503:
        response.headers["Retry-After"] = "5"
    return response


class PageRoute(APIRoute):
    """Pages answer in HTML: errors become error pages, a missing sign-in a redirect to the
    sign-in page; every answer is private (no-store) and carries a new session cookie when the
    request got one."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            with i18n.speaking(page_language(request)):
                return await answer(request)

        async def answer(request: Request) -> Response:
            try:
                response = await original(request)
            except SignInRequired:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                response = redirect("/ui/login?" + urlencode(
                    {"next": target if request.method == "GET" else "/ui/"}))
            except CsrfFailed:
                response = error_page(request, 403, "csrf_failed",
                                      "表单已过期或来源不明,请刷新页面后重试。 The form has expired "
                                      "or did not come from this site: reload the page and try again.")
            except Refused as err:
                response = error_page(request, err.status, err.code, err.message)
            except RequestValidationError as err:
                fields = ", ".join(".".join(str(p) for p in e.get("loc", ())[1:]) or "?"
                                   for e in err.errors())
                response = error_page(request, 422, "invalid_input",
                                      f"请求参数无效 Invalid parameters: {fields}")
            except StarletteHTTPException as err:
                response = error_page(request, err.status_code, "error", str(err.detail))
            except RPCError as err:
                api_err = from_temporal(err)
                response = error_page(request, api_err.status, api_err.code, api_err.message)
            except DBAPIError as err:
                log.error("database error on a page", error=repr(err))
                response = error_page(request, 503, "unavailable",
                                      "数据库暂时不可用 The database is unreachable; try again shortly.")
            s = getattr(request.state, "ui_session", None)
            if s is not None and s.fresh:
                signer = ui(request).signer
                response.set_cookie(COOKIE, signer.dump(s), max_age=signer.ttl, path="/ui",
                                    httponly=True, samesite="lax", secure=signer.secure)
            response.headers.setdefault("Cache-Control", "no-store")
            response.headers.setdefault("X-Frame-Options", "DENY")
            response.headers.setdefault("X-Content-Type-Options", "nosniff")
            response.headers.setdefault("Referrer-Policy", "same-origin")
            return response

        return handler


# --- template helpers -------------------------------------------------------------------------

def _static(name: str) -> str:
    return f"/ui/static/{name}?v={STATIC_VERSION}"


def _qs(base: dict[str, Any], **changes: Any) -> str:
    merged = {**base, **changes}
    return urlencode({k: v for k, v in merged.items() if v not in (None, "", False)})


def _is_url(value: object) -> bool:
    return isinstance(value, str) and value.startswith(("https://", "http://"))


_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def _is_iso(value: object) -> bool:
    """An ISO 8601 timestamp (as the workflows write them), shown as a time."""
    return isinstance(value, str) and bool(_ISO.match(value)) and _as_dt(value) is not None


def _as_dt(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _dt(value: Any, zone: ZoneInfo = ZoneInfo("UTC")) -> Markup:
    """A <time> element in the business's time zone (``SHOPFLOW_TIMEZONE``, issue 17.5), the
    instant in UTC in its ``datetime`` and title."""
    at = _as_dt(value)
    if at is None:
        return Markup("—") if value in (None, "") else Markup.escape(str(value))
    utc = at.astimezone(UTC)
    return Markup('<time datetime="{}" title="{}">{}</time>').format(
        utc.isoformat(), utc.strftime("%Y-%m-%d %H:%M UTC"),
        at.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z"))


def _span(seconds: float) -> str:
    minutes = int(abs(seconds) // 60)
    if minutes < 60:
        return f"{minutes} 分钟 min"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} 小时 h"
    return f"{hours // 24} 天 d"


def _due(value: Any) -> str:
    at = _as_dt(value)
    if at is None:
        return ""
    left = (at - utcnow()).total_seconds()
    span = i18n.tr(_span(left))
    return i18n.t(f"逾期 {span}", f"overdue {span}") if left < 0 else i18n.t(
        f"剩余 {span}", f"due in {span}")


def _pretty(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, default=str)


def _humankey(key: object) -> str:
    known = {"customer": "客户 Customer", "items": "物品 Items", "purpose": "用途 Purpose",
             "channel": "渠道 Channel", "address": "地址 Address",
             "qualification_docs": "资质文件 Qualification documents",
             "info_answers": "补充信息 Information from the customer",
             "credit_rating": "信用等级 Credit rating", "purchase_history": "采购历史 Purchase history",
             "stock_available": "可用库存 Stock available", "tags": "标签 Tags",
             "feedback": "反馈 Feedback", "shipment": "发货 Shipment", "shipments": "发货 Shipments",
             "slip_url": "发货单 Slip", "sku": "SKU", "quantity": "数量 Quantity",
             "requested_quantity": "申请数量 Requested", "approved_quantity": "批准数量 Approved",
             "unit_price": "单价 Unit price", "courier": "快递公司 Courier",
             "tracking_no": "快递单号 Tracking number", "shipped_at": "发货时间 Shipped at",
             "shipped_by": "发货人 Shipped by", "orders_count": "订单数 Orders",
             "orders_value": "订单金额 Order value", "reason": "原因 Reason",
             "question": "问题 Question", "name": "名称 Name", "company": "公司 Company",
             "id": "ID", "text": "内容 Text", "at": "时间 At", "by": "提交人 By",
             "satisfaction": "满意度 Satisfaction", "usage": "使用情况 Usage",
             "suggestions": "建议 Suggestions", "problem": "问题 Problem", "status": "状态 Status"}
    k = str(key)
    return i18n.tr(known[k]) if k in known else k.replace("_", " ")
