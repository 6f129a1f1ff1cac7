"""The pages of every role's day (issue 17): find anything, handing tasks to people, and the
bulk work of the inbox and the warehouse. Thin like the rest: read and act through the services
the API calls."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from shopflow.api.auth import User
from shopflow.api.errors import ApiError
from shopflow.api.pages import render_page
from shopflow.models.order_schemas import CheckIn, Provider, SettleIn, TransferPaidIn
from shopflow.services import (
    bank_details,
    invoices,
    people,
    reconciliation,
    reports,
    steps,
    tasks,
)
from shopflow.services import bulk as bulk_work
from shopflow.services import search as finder
from shopflow.services.errors import Refused
from shopflow.ui.pages import (
    PageRoute,
    checked_form,
    form_errors,
    redirect,
    render,
    safe_next,
    signed_in,
    svc_of,
    with_note,
)
from shopflow.ui.queries import Paged
from shopflow.workflows.shared import Actor
from shopflow.workflows.vocab import CaseKind

router = APIRouter(prefix="/ui", route_class=PageRoute, include_in_schema=False)
PAGE_SIZE = 50
PageNo = Annotated[int, Query(ge=1, le=100000)]
M = TypeVar("M")


@router.get("/search")
async def search(request: Request, q: Annotated[str, Query(max_length=100)] = "",
                 page: PageNo = 1) -> Response:
    """The header's search box: customers, products and every case the person may read."""
    user = await signed_in(request)
    term = q.strip()
    svc = svc_of(request)
    found = (await svc.db(finder.search, svc.engine, user, term, page, PAGE_SIZE)
             if len(term) >= 2 else None)
    result = Paged(found["items"], found["total"], page, PAGE_SIZE) if found else None
    return render(request, "search.html", section="search", q=term, result=result,
                  filters={"q": term})


@router.post("/tasks/{task_id}/assign")
async def assign(request: Request, task_id: str) -> Response:
    """Ops, admin or the role's lead hands a task to a person (as POST /api/v1/tasks/{id}/assign):
    back to the inbox with a note saying how it went."""
    user = await signed_in(request)
    form = await checked_form(request)
    svc = svc_of(request)
    back = safe_next(form.get("next"), "/ui/inbox")
    try:
        await tasks.assign(svc.client(), svc.engine, svc.settings, task_id,
                           form.get("to", "").strip(), Actor(user.name, user.role))
    except Refused as err:
        if err.status not in (409, 422):
            raise
        return redirect(with_note(back, err.code))
    return redirect(with_note(back, "assigned"))


# --- bulk work in the inbox ---------------------------------------------------------------------

PICKERS = ("warehouse", "cs", "ops")  # as the single order's pick list
SHIPPERS = ("warehouse",)  # as POST /api/v1/shipments/batch (and admin)


@router.post("/tasks/bulk")
async def bulk(request: Request) -> Response:
    """The inbox's selected tasks: claim, release, assign, complete with one decision (each
    its own Update, each its own result on the page), or one pick list for their orders."""
    user = await signed_in(request)
    form = await checked_form(request)
    task_ids = [str(t) for t in (await request.form()).getlist("task")][:100]
    action = form.get("action", "")
    svc = svc_of(request)
    actor = Actor(user.name, user.role)
    back = safe_next(form.get("next"), "/ui/inbox")
    if action == "pick_list":
        if not user.has(*PICKERS):
            raise ApiError(403, "forbidden", f"role {user.role} may not print pick lists")
        order_nos = await svc.db(bulk_work.order_nos_of, svc.engine, task_ids, actor)
        pick = await svc.db(bulk_work.pick_list, svc.engine, order_nos)
        response = render_page(request, "orders_pick_list.html", pick=pick)
        response.headers["Cache-Control"] = "no-store"
        return response
    error = None
    results: list[dict[str, Any]] = []
    if action not in bulk_work.ACTIONS:
        error = "请选择操作 Choose an action."
    elif not task_ids:
        error = "请先勾选任务 Tick the tasks to act on first."
    elif (data := _json_object(form.get("data", ""))) is None:
        error = "附加数据须为 JSON 对象 Data must be a JSON object, e.g. {\"reason\": \"…\"}."
    else:
        try:
            results = await bulk_work.run(
                svc.client, svc.engine, svc.settings, actor, action, task_ids,
                decision=form.get("decision", "").strip() or None, data=data,
                comment=form.get("comment", "").strip(), to=form.get("to", "").strip() or None,
                user=user if user.scoped else None)
        except Refused as err:
            if err.status != 422:
                raise
            error = err.message
    # Each task's own result shows where the action was taken: on the inbox (its filters as
    # they were), which goes on updating itself.
    from shopflow.ui.routes import render_inbox

    query = dict(parse_qsl(urlsplit(back).query))
    view = query.get("view", "all")
    page = query.get("page", "1")
    return await render_inbox(
        request, user, back, 422 if error else 200, kind=query.get("kind") or None,
        role=query.get("role") or None, view=view if view in tasks.VIEWS else "all",
        assignee=query.get("assignee") or None, page=int(page) if page.isdigit() else 1,
        bulk={"action": action, "results": results, "error": error,
              "done": sum(1 for r in results if r["ok"])})


def _json_object(text: str) -> dict[str, Any] | None:
    """The form's optional data: empty, or a JSON object (None: neither)."""
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


@router.get("/ship")
async def ship_form(request: Request) -> Response:
    user = await signed_in(request)
    if not user.has(*SHIPPERS):
        raise ApiError(403, "forbidden", f"role {user.role} may not ship orders")
    return render(request, "ship.html", section="ship", results=None, error=None, text="")


@router.post("/ship")
async def ship(request: Request) -> Response:
    """Orders shipped from pasted or uploaded CSV lines ``order_no,courier,tracking_no``, each
    through its order's own fulfilment task; a result per line."""
    user = await signed_in(request)
    if not user.has(*SHIPPERS):
        raise ApiError(403, "forbidden", f"role {user.role} may not ship orders")
    form = await checked_form(request)
    text = form.get("csv", "")
    upload = (await request.form()).get("file")
    error = None
    if isinstance(upload, UploadFile) and upload.filename:
        try:
            text = (await upload.read()).decode("utf-8-sig")
        except UnicodeDecodeError:
            error = "文件须为 UTF-8 文本 The file must be UTF-8 text (CSV)."
    results = None
    if error is None:
        svc = svc_of(request)
        try:
            results = await bulk_work.ship(svc.client, svc.engine, Actor(user.name, user.role),
                                           text)
        except Refused as err:
            if err.status != 422:
                raise
            error = err.message
    return render(request, "ship.html", 422 if error else 200, section="ship", results=results,
                  error=error, text=text if error or not results else "")


# --- where cases wait (ops) ---------------------------------------------------------------------

STEP_MAP_ROLES = ("ops",)  # as GET /api/v1/reports/steps (and admin)
Channel = Annotated[str, Query(max_length=40, pattern=r"^[^\x00-\x1f]*$")]  # as the API


async def _step_map(request: Request, process: CaseKind | None, start: date | None,
                    end: date | None, channel: str) -> list[dict[str, Any]]:
    user = await signed_in(request)
    if not user.has(*STEP_MAP_ROLES):
        raise ApiError(403, "forbidden", "步骤图仅限运营 The step map is for operations (ops)")
    svc = svc_of(request)
    begin, finish = reports.period(svc.settings, start, end)
    found: list[dict[str, Any]] = await svc.db(
        steps.step_map, svc.engine, [process] if process else None, begin, finish,
        channel.strip() or None)
    return found


@router.get("/reports/steps")
async def step_map(request: Request, process: CaseKind | None = None,
                   start: Annotated[date | None, Query(alias="from")] = None,
                   end: Annotated[date | None, Query(alias="to")] = None,
                   channel: Channel = "") -> Response:
    """Where cases wait: a table per process (steps, task kinds, open cases per stage), the
    filters in the URL, and the same figures as CSV."""
    found = await _step_map(request, process, start, end, channel)
    filters = {"process": process or "", "from": start.isoformat() if start else "",
               "to": end.isoformat() if end else "", "channel": channel}
    return render(request, "steps.html", section="dashboard", processes=found, filters=filters,
                  kinds=list(CaseKind), csv_query=urlencode({k: v for k, v in filters.items() if v}))


@router.get("/reports/steps.csv")
async def step_map_csv(request: Request, process: CaseKind | None = None,
                       start: Annotated[date | None, Query(alias="from")] = None,
                       end: Annotated[date | None, Query(alias="to")] = None,
                       channel: Channel = "") -> Response:
    found = await _step_map(request, process, start, end, channel)
    return Response(steps.render_csv(found), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="steps.csv"'})


# --- reconciliation (finance) -------------------------------------------------------------------

FINANCE_ROLES = ("finance", "ops")  # as GET /api/v1/reconciliation (and admin)


async def _reconciliation(request: Request, day: date | None,
                          provider: Provider | None) -> dict[str, Any]:
    user = await signed_in(request)
    if not user.has(*FINANCE_ROLES):
        raise ApiError(403, "forbidden", "对账仅限财务 Reconciliation is for finance")
    svc = svc_of(request)
    view: dict[str, Any] = await svc.db(reconciliation.day_view, svc.engine, svc.settings, day,
                                        provider)
    return view


@router.get("/reconciliation")
async def reconciliation_page(request: Request,
                              day: Annotated[date | None, Query(alias="date")] = None,
                              provider: Provider | None = None) -> Response:
    """A day's payments, refunds and COD transfer refunds per provider with totals, a settle
    form per provider not settled yet, and the CSV link."""
    view = await _reconciliation(request, day, provider)
    filters = {"date": view["date"], "provider": provider or ""}
    return render(request, "reconciliation.html", section="reconciliation", view=view,
                  filters=filters, providers=reconciliation.PROVIDERS,
                  csv_query=urlencode({k: v for k, v in filters.items() if v}))


@router.get("/reconciliation.csv")
async def reconciliation_csv(request: Request,
                             day: Annotated[date | None, Query(alias="date")] = None,
                             provider: Provider | None = None) -> Response:
    view = await _reconciliation(request, day, provider)
    return Response(reconciliation.render_csv(view), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition":
                             f'attachment; filename="reconciliation-{view["date"]}.csv"'})


async def _finance_form(request: Request, read: Callable[[Any], M]) -> tuple[User, M]:
    """A reconciliation form: finance (ops, admin) only, CSRF-checked, read into the API's
    request model; its refusals a 422 naming the fields."""
    user = await signed_in(request)
    if not user.has(*FINANCE_ROLES):
        raise ApiError(403, "forbidden", "对账仅限财务 Reconciliation is for finance")
    form = await checked_form(request)
    try:
        return user, read(form)
    except ValidationError as err:
        fields = ", ".join(str(e["loc"][0]) for e in err.errors() if e["loc"])
        raise ApiError(422, "invalid_input", f"无效 Invalid: {fields}") from None


@router.post("/reconciliation/settle")
async def settle(request: Request) -> Response:
    """The page's settle form (as POST /api/v1/reconciliation/settle): back to the day with a
    note; a second settle says it was settled already."""
    user, body = await _finance_form(request, lambda form: SettleIn(
        date=form.get("date", ""), provider=form.get("provider", ""), note=form.get("note", "")))
    svc = svc_of(request)
    back = f"/ui/reconciliation?{urlencode({'date': body.date.isoformat()})}"
    try:
        await svc.db(reconciliation.settle, svc.engine, svc.settings, body.date, body.provider,
                     body.note, Actor(user.name, user.role))
    except Refused as err:
        if err.status not in (409, 422):
            raise
        return redirect(with_note(back, err.code))
    return redirect(with_note(back, "settled"))


@router.post("/reconciliation/check")
async def check(request: Request) -> Response:
    """The page's "compare with the provider's report" (as POST /api/v1/reconciliation/check):
    back to the day, its differences listed, each with its finance task."""
    user, body = await _finance_form(request, lambda form: CheckIn(date=form.get("date", "")))
    svc = svc_of(request)
    back = f"/ui/reconciliation?{urlencode({'date': body.date.isoformat()})}"
    try:
        done, _ = await reconciliation.run_check(svc.client(), svc.settings, body.date,
                                                 Actor(user.name, user.role))
    except Refused as err:
        if err.status not in (409, 422, 503):
            raise
        return redirect(with_note(back, err.code))
    return redirect(with_note(back, "checked" if done else "check_running"))


ASK_REFUSALS = ("bank_details_requested", "bank_details_received", "no_transfer_due",
                "bank_details_missing", "transfer_paid")


@router.post("/refunds/{refund_id}/bank-details-request")
async def ask_bank_details(request: Request,
                           refund_id: Annotated[int, Path(ge=1, le=2**31 - 1)]) -> Response:
    """The page's "ask for bank details" on a transfer due (as POST
    /api/v1/refunds/{id}/bank-details-request): back to the day with a note."""
    user, back = await _finance_form(request, lambda form: str(form.get("back", "")))
    svc = svc_of(request)
    back = back if back.startswith("/ui/reconciliation") else "/ui/reconciliation"
    try:
        await bank_details.ask(svc.client(), svc.engine, svc.settings, refund_id,
                               Actor(user.name, user.role))
    except Refused as err:
        if err.status not in (404, 409, 503):
            raise
        note = (err.code if err.code in ASK_REFUSALS else
                "no_transfer_due" if err.status == 404 else "unavailable")
        return redirect(with_note(back, note))
    return redirect(with_note(back, "bank_details_asked"))


@router.post("/refunds/{refund_id}/transfer-paid")
async def transfer_paid(request: Request,
                        refund_id: Annotated[int, Path(ge=1, le=2**31 - 1)]) -> Response:
    """The page's "Mark transferred" (as POST /api/v1/refunds/{id}/transfer-paid): back to the
    day with a note."""
    user, (back, body) = await _finance_form(request, lambda form: (
        str(form.get("back", "")), TransferPaidIn(reference=form.get("reference", ""))))
    svc = svc_of(request)
    back = back if back.startswith("/ui/reconciliation") else "/ui/reconciliation"
    try:
        await svc.db(bank_details.mark_paid, svc.engine, refund_id, body.reference,
                     Actor(user.name, user.role))
    except Refused as err:
        if err.status not in (404, 409):
            raise
        return redirect(with_note(back, err.code if err.code in ASK_REFUSALS
                                  else "no_transfer_due"))
    return redirect(with_note(back, "transfer_marked_paid"))


# --- my preferences (issue 17.4) ---------------------------------------------------------------

@router.get("/me")
async def my_preferences(request: Request) -> Response:
    """Your e-mail address, how you hear of new tasks and your language (as GET
    /api/v1/me/preferences)."""
    user = await signed_in(request)
    svc = svc_of(request)
    prefs = await svc.db(people.preferences, svc.engine, svc.settings, Actor(user.name, user.role))
    return render(request, "me.html", section="me", prefs=prefs, errors={})


@router.post("/me")
async def save_preferences(request: Request) -> Response:
    """The preferences form (as PUT /api/v1/me/preferences); a refusal shows at its field."""
    user = await signed_in(request)
    form = await checked_form(request)
    svc = svc_of(request)
    actor = Actor(user.name, user.role)
    values = {"email": form.get("email", "").strip() or None,
              "task_notices": form.get("task_notices", "off"),
              "locale": form.get("locale") or None}
    try:
        await svc.db(people.set_preferences, svc.engine, actor, **values)
    except Refused as err:
        if err.status != 422:
            raise
        field = str((err.details or {}).get("field", ""))
        prefs = {**people.view(svc.settings, actor, None), **values}
        return render(request, "me.html", status=422, section="me", prefs=prefs,
                      errors=form_errors({field: err.message}))
    return redirect(with_note("/ui/me", "preferences_saved"))


# --- invoices (finance) ---------------------------------------------------------------------

INVOICE_ROLES = ("finance", "cs", "ops")  # and admin
INVOICE_PAGE = 50


@router.get("/invoices")
async def invoices_page(request: Request,
                        status: Literal["requested", "issued"] | None = None,
                        kind: Literal["invoice", "credit_note"] | None = None,
                        page: PageNo = 1) -> Response:
    """Invoices and credit notes, newest first: the requests waiting for a payment and the
    numbers issued, each linked to its order and its printable invoice."""
    user = await signed_in(request)
    if not user.has(*INVOICE_ROLES):
        raise ApiError(403, "forbidden", "发票仅限财务与客服 Invoices are for finance and cs")
    svc = svc_of(request)
    total, items = await svc.db(invoices.list_invoices, svc.engine,
                                (page - 1) * INVOICE_PAGE, INVOICE_PAGE, status, kind)
    filters = {"status": status or "", "kind": kind or ""}
    return render(request, "invoices.html", section="invoices", filters=filters,
                  invoices=Paged(items, total, page, INVOICE_PAGE))
