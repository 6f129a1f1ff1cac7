"""The web pages under /ui/: sign-in, inbox, task, cases, case, documents, dashboard.

Thin like the API: read through ``ui.queries``, act through the services the API calls (task
completion, claims, sample requests …) so that a page and an API call can never disagree.
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, Response
from pydantic import ValidationError

from shopflow.api import keyed
from shopflow.api.auth import User
from shopflow.api.errors import ApiError, ascii_int
from shopflow.db import session_scope
from shopflow.models import Case
from shopflow.models.schemas import TaskComplete
from shopflow.security.links import LINK_ROLES, present_feedback
from shopflow.services import inbound_mail, sample_documents, tasks
from shopflow.services.cases import temporal_url
from shopflow.services.customers import READ_ROLES as CUSTOMER_READ_ROLES
from shopflow.services.customers import customer_view
from shopflow.services.errors import Refused
from shopflow.services.proposals import PROPOSAL_ROLES, open_proposals
from shopflow.services.scoping import case_filter, visible
from shopflow.ui import actions, decisions, documents, i18n, live, queries, sample_docs
from shopflow.ui.charts import kpi_bars, throughput
from shopflow.ui.pages import (
    STATIC_DIR,
    PageRoute,
    checked_form,
    current,
    error_page,
    form_errors,
    invalid_fields,
    redirect,
    render,
    replace_session,
    safe_next,
    session_of,
    signed_in,
    svc_of,
    ui,
    with_note,
)
from shopflow.ui.session import close_session, open_session, remember_language, token_user
from shopflow.workflows.shared import Actor
from shopflow.workflows.vocab import READ_ROLES, CaseKind

router = APIRouter(prefix="/ui", route_class=PageRoute, include_in_schema=False)
CUSTOMER_READERS = CUSTOMER_READ_ROLES  # who sees credit rating and purchase history
PROFILE_ONLY = ("credit_rating", "purchase_history")


def _proposals(engine: Any, customer_id: str) -> list[dict[str, Any]]:
    with session_scope(engine, write=False) as session:
        return open_proposals(session, customer_id)

PAGE_SIZE = 20
DASHBOARD_ROLES = ("ops",)  # and admin
CREATE_SAMPLE_ROLES = ("channel", "cs")
CREATE_ORDER_ROLES = ("channel", "cs")  # as POST /api/v1/orders (cs: phone and e-mail orders)
# Who may read a case page, per process (admin always): the roles of the API's reads. A process
# missing here: every role.
CASE_READERS = READ_ROLES
PageNo = Annotated[int, Query(ge=1, le=100000)]
Filter = Annotated[str | None, Query(max_length=80)]


def _actor(user: User) -> Actor:
    return Actor(user.name, user.role)


def _forbidden(message: str) -> ApiError:
    return ApiError(403, "forbidden", message)


# --- sign-in ----------------------------------------------------------------------------------

@router.get("/")
async def home(request: Request) -> Response:
    user = await current(request)
    return redirect("/ui/inbox" if user else "/ui/login")


@router.get("/login")
async def login_form(request: Request, next: Filter = None) -> Response:
    if not ui(request).signer.enabled:
        return _no_secret(request)
    if await current(request) is not None:
        return redirect(safe_next(next))
    return render(request, "login.html", next=safe_next(next), error=None)


@router.post("/login")
async def login(request: Request) -> Response:
    if not ui(request).signer.enabled:
        return _no_secret(request)
    form = await checked_form(request)
    target = safe_next(form.get("next"))
    token = form.get("token", "").strip()
    svc = svc_of(request)
    found = await svc.db(token_user, svc.engine, token, svc.settings.is_dev) if token else None
    if found is None:
        return render(request, "login.html", 401, next=target,
                      error="令牌无效或已吊销 This token is not valid (or was revoked).")
    user, token_hash = found
    # new session, new CSRF; the language chosen before signing in goes along
    fresh = ui(request).signer.new(user, token_hash, session_of(request).language)
    await svc.db(open_session, svc.engine, fresh)
    replace_session(request, fresh)
    return redirect(target)


@router.post("/logout")
async def logout(request: Request) -> Response:
    if await current(request) is None:  # signed out already (or the token was revoked)
        return redirect("/ui/login")
    await checked_form(request)
    svc = svc_of(request)
    await svc.db(close_session, svc.engine, session_of(request))
    replace_session(request, ui(request).signer.new(language=i18n.language()))
    return redirect("/ui/login?note=signed_out")


@router.post("/language")
async def choose_language(request: Request) -> Response:
    """The switch on every page: zh-CN or en from now on, for the signed-in person (their
    preferences' locale, whatever browser they use next; /ui/me sets the same) or this browser
    (the cookie)."""
    form = await checked_form(request)
    language = form.get("language", "")
    if language not in i18n.LANGUAGES:
        raise Refused(422, "invalid_input", f"language: one of {', '.join(i18n.LANGUAGES)}",
                      {"loc": ["body", "language"]})
    user = await current(request)
    if user is not None:
        svc = svc_of(request)
        await svc.db(remember_language, svc.engine, user.name, language)
    s = session_of(request)
    s.language, s.fresh = language, True
    return redirect(safe_next(form.get("next")))


def _no_secret(request: Request) -> Response:
    return error_page(request, 503, "ui_disabled",
                      "网页界面未启用:请设置 SHOPFLOW_UI_SECRET。 The web pages need a signing key: "
                      "set SHOPFLOW_UI_SECRET (any long random string) and restart.")


# --- inbox ------------------------------------------------------------------------------------

@router.get("/inbox")
async def inbox(request: Request, kind: Filter = None, role: Filter = None,
                view: Annotated[str, Query(pattern=f"^({'|'.join(tasks.VIEWS)})$")] = "all",
                assignee: Annotated[str | None, Query(max_length=120)] = None,
                page: PageNo = 1) -> Response:
    """The inbox: the filters (kind, role, view) live in the URL, so a view is a bookmark."""
    user = await signed_in(request)
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return await render_inbox(request, user, here, kind=kind, role=role, view=view,
                              assignee=assignee, page=page)


async def render_inbox(request: Request, user: User, here: str, status: int = 200, *,
                       kind: str | None = None, role: str | None = None, view: str = "all",
                       assignee: str | None = None, page: int = 1, **extra: Any) -> Response:
    """The inbox at ``here`` (its filters); ``extra``: a bulk action's results, shown on it."""
    svc = svc_of(request)
    role = role if user.role in queries.SEES_ALL else None
    mark = await svc.db(live.inbox_mark, svc.engine, _actor(user))  # before the rows: none missed
    data = await svc.db(queries.inbox, svc.engine, user, kind=kind, role=role, view=view,
                        assignee=assignee, page=page, page_size=PAGE_SIZE)
    filters = {"kind": kind, "role": role, "view": None if view == "all" else view,
               "assignee": assignee}
    leads = svc.settings.role_leads
    assigns = user.role in queries.SEES_ALL or tasks.is_lead(leads, _actor(user))
    team = (await svc.db(tasks.people, svc.engine, svc.settings.is_dev,
                         queries.TEAM_ROLES if user.role in queries.SEES_ALL else [user.role])
            if assigns else [])
    # Filtered to one kind, the bulk bar offers that kind's decisions (one fits all).
    bulk_decisions = [(d.value, d.caption) for d in decisions.form_for(kind).decisions] \
        if kind else []
    # Customers' e-mails that matched no complaint wait for cs beside the tasks (issue 18).
    unmatched_mail = (await svc.db(inbound_mail.count_unmatched, svc.engine)
                      if user.has("cs", "ops") else 0)
    return render(request, "inbox.html", status, section="inbox", filters=filters, here=here,
                  unmatched_mail=unmatched_mail,
                  sees_all=user.role in queries.SEES_ALL, view=view, views=tasks.VIEWS,
                  assigns=assigns, team=team, bulk_decisions=bulk_decisions,
                  live=f"/ui/inbox/events?since={mark}", **{"bulk": None, **extra}, **data)


@router.post("/tasks/{task_id}/claim")
async def claim(request: Request, task_id: str) -> Response:
    return await _claim(request, task_id, True)


@router.post("/tasks/{task_id}/release")
async def release(request: Request, task_id: str) -> Response:
    return await _claim(request, task_id, False)


async def _claim(request: Request, task_id: str, claim: bool) -> Response:
    user = await signed_in(request)
    form = await checked_form(request)
    svc = svc_of(request)
    back = safe_next(form.get("next"), f"/ui/tasks/{task_id}")
    try:
        await svc.db(tasks.set_claim, svc.engine, task_id, _actor(user), claim)
    except Refused as err:
        if err.status != 409:
            raise
        return redirect(with_note(back, err.code))
    return redirect(with_note(back, "claimed" if claim else "released"))


# --- one task ---------------------------------------------------------------------------------

@router.get("/tasks/{task_id}")
async def task_page(request: Request, task_id: str) -> Response:
    user = await signed_in(request)
    return await _task(request, user, task_id)


@router.post("/tasks/{task_id}")
async def complete(request: Request, task_id: str) -> Response:
    user = await signed_in(request)
    form = await checked_form(request)
    svc = svc_of(request)
    task = await svc.db(tasks.load_task, svc.engine, task_id, _actor(user), acting=True)
    spec = decisions.form_for(task.kind)
    ctx = await svc.db(queries.form_context, svc.engine, task.context or {}, spec.needs)
    sub = decisions.read(spec, form, ctx)
    if sub.errors:
        return await _task(request, user, task_id, 422, values=form, errors=sub.errors)
    try:
        body = TaskComplete(decision=sub.decision, data=sub.data, comment=sub.comment)
    except ValidationError as err:
        messages = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                             for e in err.errors())
        return await _task(request, user, task_id, 422, values=form, errors={"": messages})
    try:
        outcome = await tasks.complete(svc.client(), task, _actor(user), body.decision, body.data,
                                       body.comment)
    except Refused as err:
        if err.status not in (404, 409, 422, 503):
            raise
        target = decisions.error_target(spec, sub, err.details, ctx, err.code)
        errors = {target: err.message}
        if target:
            errors[""] = "请修改标出的内容 Please correct the field marked below."
        return await _task(request, user, task_id, err.status, values=form, errors=errors,
                           error_code=err.code)
    # The result shows where the decision was made: the task page, live from here on.
    return await _task(request, user, task_id, outcome=outcome, submitted=body.data,
                       comment=body.comment)


async def _task(request: Request, user: User, task_id: str, status: int = 200, *,
                values: dict[str, str] | None = None, errors: dict[str, str] | None = None,
                error_code: str | None = None, outcome: Any = None,
                submitted: dict[str, Any] | None = None, comment: str = "") -> Response:
    svc = svc_of(request)
    task = await svc.db(tasks.load_task, svc.engine, task_id, _actor(user),
                        acting=False)  # 403 / 404 pages
    if not await svc.db(visible, svc.engine, user, "task", task_id):  # another channel's case
        raise ApiError(404, "not_found", f"no task {task_id}")
    # before the page: a move of the case from here on is news to it (its case's stream)
    mark = await svc.db(live.case_mark, svc.engine, task.case_kind, task.case_id)
    data = await svc.db(queries.task_page, svc.engine, task)
    if task.case_kind == CaseKind.SAMPLE:
        data.update(await sample_docs.documents_of(request, user, task.case_id),
                    documents_next=f"/ui/tasks/{task_id}")
    task.context = dict(task.context or {})
    tasks.present_context_links(task.context, svc.settings, user.has(*LINK_ROLES))
    if not user.has(*CUSTOMER_READERS):  # credit rating and purchase history: as the API
        data["customer"] = None
        task.context = {k: v for k, v in (task.context or {}).items() if k not in PROFILE_ONLY}
    spec = decisions.form_for(task.kind)
    form_ctx = await svc.db(queries.form_context, svc.engine, task.context or {}, spec.needs)
    case = data["case"] or {"kind": task.case_kind, "id": task.case_id}
    actor = tasks.may_act(_actor(user), task)
    held_by_other = (task.status == "claimed" and task.assignee != user.name
                     and user.role != "admin")
    return render(
        request, "task.html", status, section="inbox", spec=spec,
        docs=documents.of_case(case, user) if spec.documents else [],
        wanted_docs=spec.documents, may_act=actor, held_by_other=held_by_other,
        is_open=task.status in queries.ACTIVE, errors=errors or {},
        values=values if values is not None else decisions.initial_values(spec, form_ctx),
        error_code=error_code, temporal=temporal_url(svc.settings, task.workflow_id),
        json_input=decisions.json_input, input_name=decisions.input_name,
        lines_of=decisions.lines_of, prefill=decisions.prefill, shown=decisions.shown,
        line_input=decisions.line_input, form_ctx=form_ctx,
        case_path=f"/ui/cases/{task.case_kind}/{task.case_id}",
        outcome=outcome, submitted=submitted, comment=comment, here=f"/ui/tasks/{task_id}",
        live=(f"/ui/cases/{task.case_kind}/{task.case_id}/events?since={mark}"
              if status == 200 and mark else None),
        **data)


# --- cases ------------------------------------------------------------------------------------

def _may_read(user: User, kind: str) -> bool:
    readers = CASE_READERS.get(kind)
    return readers is None or user.has(*readers)


@router.get("/cases")
async def cases(request: Request, kind: Filter = None, status: Filter = None,
                stage: Filter = None, q: Filter = None, open: bool = False,
                page: PageNo = 1) -> Response:
    user = await signed_in(request)
    svc = svc_of(request)
    kinds = [k for k in await svc.db(queries.case_kinds, svc.engine) if _may_read(user, k)]
    if kind and not _may_read(user, kind):
        raise _forbidden(f"role {user.role} may not read {kind} cases")
    q = q.strip() if q else None
    if not kind and len(kinds) == 1:
        kind = kinds[0]
    result = await svc.db(queries.cases, svc.engine, kind=kind or None, status=status,
                          stage=stage, q=q, open_only=open, page=page, page_size=PAGE_SIZE,
                          scope=case_filter(user, Case.id))
    if not kind:  # rows of processes this role may not read stay hidden
        result.items = [c for c in result.items if _may_read(user, c["kind"])]
    filters = {"kind": kind, "status": status, "stage": stage, "q": q,
               "open": "1" if open else None}
    return render(request, "cases.html", section="cases", kinds=kinds, filters=filters,
                  cases=result)


@router.get("/cases/{kind}/{case_id}")
async def case_page(request: Request, kind: str, case_id: str) -> Response:
    user = await signed_in(request)
    return await _case(request, user, kind, case_id)


async def _case(request: Request, user: User, kind: str, case_id: str, status: int = 200,
                *, action_errors: dict[str, str] | None = None,
                values: dict[str, str] | None = None) -> Response:
    if not _may_read(user, kind):
        raise _forbidden(f"role {user.role} may not read {kind} cases")
    svc = svc_of(request)
    if not await svc.db(visible, svc.engine, user, kind, case_id):  # another channel's case
        raise ApiError(404, "not_found", f"no {kind} {case_id}")
    mark = await svc.db(live.case_mark, svc.engine, kind, case_id)  # before the page: none missed
    data = await svc.db(queries.case_page, svc.engine, kind, case_id)
    if data is None:
        raise ApiError(404, "not_found", f"no {kind} {case_id}")
    case = data["case"]
    present_feedback(svc.settings, user.has(*LINK_ROLES), case)  # the form link for cs/ops only
    if not user.has(*CUSTOMER_READERS):  # credit rating and purchase history: as the API
        data["customer"] = None
    data["proposals"] = (await svc.db(_proposals, svc.engine, data["customer"]["id"])
                         if data.get("customer") and user.has(*PROPOSAL_ROLES) else [])
    if kind == CaseKind.SAMPLE:
        data.update(await sample_docs.documents_of(request, user, case_id),
                    documents_next=f"/ui/cases/sample/{case_id}")
    shown = {"id", "kind", "workflow_id", "status", "stage", "customer_id", "created_at",
             "updated_at", "closed_at", "customer", "items", "shipment", "shipments", "feedback",
             "documents"}
    return render(request, "case.html", status, section="cases",
                  temporal=temporal_url(svc.settings, case["workflow_id"]),
                  docs=documents.of_case(case, user), case_actions=actions.of_case(case, user),
                  request_key=uuid.uuid4().hex,
                  action_errors=action_errors or {}, values=values or {},
                  # a page with a refused form's values stays as it is
                  live=f"/ui/cases/{kind}/{case_id}/events?since={mark}" if status == 200 else None,
                  other={k: v for k, v in case.items() if k not in shown and v not in (None, "", [], {})},
                  **data)


@router.post("/cases/{kind}/{case_id}/actions/{name}")
async def case_action(request: Request, kind: str, case_id: str, name: str) -> Response:
    user = await signed_in(request)
    form = await checked_form(request)
    action = actions.ACTIONS.get((kind, name))
    if action is None:
        raise ApiError(404, "not_found", f"no action {name} for {kind} cases")
    if not user.has(*action.roles):
        raise _forbidden(f"role {user.role} may not do this")
    prefix = f"{name}."
    values = {k[len(prefix):]: v.strip() for k, v in form.items() if k.startswith(prefix)}
    values["_key"] = form.get("request_key", "")
    svc = svc_of(request)
    if not await svc.db(visible, svc.engine, user, kind, case_id):  # another channel's case
        raise ApiError(404, "not_found", f"no {kind} {case_id}")
    try:
        note = await action.run(svc, user, case_id, values)
    except ValidationError as err:
        msg = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors())
        return await _case(request, user, kind, case_id, 422, action_errors={name: msg},
                           values=form)
    except Refused as err:
        if err.status not in (404, 409, 422, 503):
            raise
        return await _case(request, user, kind, case_id, err.status,
                           action_errors={name: err.message}, values=form)
    return redirect(f"/ui/cases/{kind}/{case_id}?note={note}")


@router.get("/cases/{kind}/{case_id}/docs/{name}")
async def case_document(request: Request, kind: str, case_id: str, name: str) -> Response:
    user = await signed_in(request)
    doc = documents.DOCUMENTS.get((kind, name))
    if doc is None:
        raise ApiError(404, "not_found", f"no document {name} for {kind} cases")
    if not documents.may_open(doc, user):
        raise _forbidden(f"role {user.role} may not open this document")
    response = await doc.render(request, svc_of(request), user, case_id)
    response.headers["Cache-Control"] = "no-store"
    return response


# --- new sample request (customer service records a request from the phone or email) -----------

@router.get("/samples/new")
async def new_sample(request: Request, customer: Filter = None) -> Response:
    """``?customer=<id>`` (from the customer's page): the form starts with their profile."""
    user = await signed_in(request)
    if not user.has(*CREATE_SAMPLE_ROLES):
        raise _forbidden(f"role {user.role} may not file sample requests")
    values = None
    if customer and user.has(*CUSTOMER_READERS):
        svc = svc_of(request)
        profile = await svc.db(customer_view, svc.engine, customer)
        values = {"request_key": uuid.uuid4().hex, "channel": "phone",
                  **{f"customer.{k}": profile.get(k) or ""
                     for k in ("id", "name", "company", "email", "phone", "address")}}
    return await _sample_form(request, values=values)


async def _sample_form(request: Request, status: int = 200, *,
                       values: dict[str, str] | None = None,
                       errors: dict[str, str] | None = None) -> Response:
    svc = svc_of(request)
    products = await svc.db(_products, svc)
    return render(request, "sample_new.html", status, section="new", products=products,
                  values=values or {"request_key": uuid.uuid4().hex}, errors=errors or {},
                  lines=range(4), document_accept=sample_documents.ACCEPT)


def _products(svc: Any) -> list[dict[str, Any]]:
    from sqlmodel import col, select

    from shopflow.db import session_scope
    from shopflow.models import Product
    from shopflow.services.inventory import availability

    with session_scope(svc.engine, write=False) as session:
        rows = session.exec(select(Product).order_by(col(Product.sku)).limit(500)).all()
        stock = availability(session, [p.sku for p in rows]) if rows else {}
        return [{"sku": p.sku, "name": p.name, "sample_limit": p.sample_limit,
                 "available": stock.get(p.sku, 0), "price": p.price,
                 "specification": p.specification, "origin": p.origin} for p in rows]


@router.post("/samples/new")
async def create_sample(request: Request) -> Response:
    from shopflow.models.schemas import SampleCreate

    user = await signed_in(request)
    if not user.has(*CREATE_SAMPLE_ROLES):
        raise _forbidden(f"role {user.role} may not file sample requests")
    form = await checked_form(request)
    items = []
    for i in range(4):
        sku, qty = form.get(f"items.{i}.sku", "").strip(), form.get(f"items.{i}.quantity", "").strip()
        if sku:
            items.append({"sku": sku, "quantity": ascii_int(qty, qty or 0)})
    docs = [{"name": form.get("doc.name", "").strip(), "url": form.get("doc.url", "").strip()}]
    customer = {k: form.get(f"customer.{k}", "").strip() or None
                for k in ("id", "name", "company", "email", "phone", "address")}
    svc = svc_of(request)
    # The qualification documents (seed 000 1.2): at least one, each checked before anything
    # is filed; stored once the request exists (the same service as the API's upload).
    uploads = sample_docs.uploads_of(await request.form(), "documents")
    files = [(u, await u.read(svc.settings.document_max_bytes + 1)) for u in uploads]
    try:
        if not files:
            raise Refused(422, "missing_field", "至少上传一份资质文件 Upload at least one "
                          "qualification document (PDF, JPEG or PNG)")
        for upload, data in files:
            sample_documents.check_file(upload.filename or "", data,
                                        svc.settings.document_max_bytes)
    except Refused as err:
        return await _sample_form(request, 422, values=form, errors=form_errors(
            {"documents": err.message}))
    try:
        body = SampleCreate(customer=customer, channel=form.get("channel", ""), items=items,
                            purpose=form.get("purpose", ""),
                            qualification_docs=[d for d in docs if d["name"] or d["url"]])
    except ValidationError as err:
        errors = invalid_fields(err)
        return await _sample_form(request, 422, values=form, errors=errors)
    try:
        # As POST /api/v1/samples: the form's one-time key makes a double submit return the
        # first request.
        response = await keyed.create_sample(svc, user, body, form.get("request_key") or None)
    except Refused as err:
        if err.status not in (409, 422, 503):
            raise
        loc = (err.details or {}).get("loc") if isinstance(err.details, dict) else None
        key = ".".join(str(p) for p in loc) if loc else ""
        return await _sample_form(request, err.status, values=form, errors={key: err.message})
    created = json.loads(bytes(response.body))
    for upload in uploads:
        await upload.seek(0)
    problems = await sample_docs.add_uploads(request, user, created["id"], uploads)
    # Filed, but a document the store or Temporal refused just now: the case page says so and
    # takes it again (the review's approval waits for one).
    note = "created" if not problems else "documents_not_stored"
    return redirect(f"/ui/cases/sample/{created['id']}?note={note}")


# --- new order (a channel keys in an order its shop could not send; customer service a phone or
# e-mail order, from the customer's page) ------------------------------------------------------

ORDER_LINES = 5
CUSTOMER_KEYS = ("id", "name", "company", "email", "phone", "locale")
ADDRESS_KEYS = ("name", "phone", "line1", "line2", "city", "region", "postcode", "country")
ORDER_CHANNELS = ("web", "app", "phone", "email", "tmall", "jd", "wechat")
ORDER_ERROR_INPUTS = {"order_exists": "order_no", "duplicate_sku": "items"}


@router.get("/orders/new")
async def new_order(request: Request, customer: Annotated[str | None, Query(max_length=64)] = None
                    ) -> Response:
    """The order form; ``?customer=<id>`` (from the customer's page): customer service's phone
    order with the customer's profile, name and address filled in."""
    user = await signed_in(request)
    if not user.has(*CREATE_ORDER_ROLES):
        raise _forbidden(f"role {user.role} may not take orders")
    values = {"request_key": uuid.uuid4().hex, "payment_method": "online",
              "address.country": "CN", "channel": "web" if user.role == "channel" else "phone"}
    if customer and user.has(*CUSTOMER_READ_ROLES):
        svc = svc_of(request)
        profile = await svc.db(customer_view, svc.engine, customer)
        values |= {f"customer.{k}": profile.get(k) or "" for k in CUSTOMER_KEYS}
        values |= {"address.name": profile.get("name") or "",
                   "address.phone": profile.get("phone") or "",
                   "address.line1": profile.get("address") or ""}
    return await _order_form(request, user, values=values)


async def _order_form(request: Request, user: User, status: int = 200, *,
                      values: dict[str, str] | None = None,
                      errors: dict[str, str] | None = None) -> Response:
    svc = svc_of(request)
    products = await svc.db(_products, svc)
    return render(request, "order_new.html", status, section="new_order", products=products,
                  values=values or {}, errors=errors or {}, lines=range(ORDER_LINES),
                  channels=(keyed.CS_ORDER_CHANNELS if user.role == "cs" else ORDER_CHANNELS))


def order_body(form: dict[str, str]) -> dict[str, Any]:
    """The form as the body of POST /api/v1/orders (converted, not judged: the API's schema and
    checks say what is wrong)."""
    def val(name: str) -> str | None:
        return form.get(name, "").strip() or None

    items = []
    for i in range(ORDER_LINES):
        sku = val(f"items.{i}.sku")
        if sku:
            qty = val(f"items.{i}.quantity") or ""
            # no price: the catalogue's (the API takes it from the product)
            items.append({"sku": sku, "quantity": ascii_int(qty, qty),
                          "unit_price": val(f"items.{i}.unit_price")})
    address: dict[str, Any] = {k: val(f"address.{k}") for k in ADDRESS_KEYS}
    address["line1"] = address["line1"] or ""
    address["city"] = address["city"] or ""
    address["country"] = address["country"] or "CN"
    body: dict[str, Any] = {
        "order_no": val("order_no"), "channel": val("channel") or "",
        "customer": {k: val(f"customer.{k}") for k in CUSTOMER_KEYS},
        "items": items, "shipping_address": address,
        "payment_method": val("payment_method") or "",
    }
    if val("shipping_fee"):
        body["shipping_fee"] = val("shipping_fee")
    return body


def _order_input(loc: Any) -> str | None:
    """The form input a location of the API's errors names (None: an alternative of a union
    the form never sends, such as the address as one line)."""
    parts = [str(p) for p in (loc or ()) if p != "body"]
    if parts[:1] == ["shipping_address"]:
        if len(parts) > 1 and parts[1] != "ShippingAddressIn":
            return None
        parts = ["address", *parts[2:]]
    return ".".join(parts)


@router.post("/orders/new")
async def create_order(request: Request) -> Response:
    from shopflow.models.order_schemas import OrderCreate

    user = await signed_in(request)
    if not user.has(*CREATE_ORDER_ROLES):
        raise _forbidden(f"role {user.role} may not take orders")
    form = await checked_form(request)
    try:
        body = OrderCreate.model_validate(order_body(form))
    except ValidationError as err:
        errors: dict[str, str] = {}
        for e in err.errors():
            key = _order_input(e["loc"])
            if key is not None:
                errors.setdefault(key, e["msg"])
        return await _order_form(request, user, 422, values=form, errors=form_errors(errors))
    svc = svc_of(request)
    try:
        # As POST /api/v1/orders (all or nothing, the same order numbers), with the form's
        # one-time key as the Idempotency-Key: a double submit answers with the first order.
        response = await keyed.create_order(svc, user, body, form.get("request_key") or None)
    except Refused as err:
        if err.status not in (409, 422, 503):
            raise
        details = err.details if isinstance(err.details, dict) else {}
        key = (_order_input(details["loc"]) if details.get("loc")
               else ORDER_ERROR_INPUTS.get(err.code)) or ""
        errors = {key: err.message}
        if key:
            errors[""] = "请修改标出的内容 Please correct the field marked below."
        return await _order_form(request, user, err.status, values=form, errors=errors)
    created = json.loads(bytes(response.body))
    return redirect(f"/ui/cases/order/{created['order_no']}?note=created")


# --- dashboard --------------------------------------------------------------------------------

@router.get("/dashboard")
async def dashboard(request: Request,
                    days: Annotated[int, Query(ge=7, le=90)] = 14,
                    period: Annotated[int, Query(ge=1, le=366)] = 30) -> Response:
    user = await signed_in(request)
    if not user.has(*DASHBOARD_ROLES):
        raise _forbidden("看板仅限运营 The dashboard is for operations (ops)")
    svc = svc_of(request)
    data = await svc.db(queries.dashboard, svc.engine, days)
    data["workload"] = await svc.db(tasks.workload, svc.engine)
    figures = await ui(request).kpis.get(svc, period)
    return render(request, "dashboard.html", section="dashboard", period=period, days=days,
                  kpi=figures, throughput_svg=throughput(
                      data["day_labels"], data["created"], data["closed"],
                      f"每日开案与结案 Cases opened and closed per day (last {days} days)"),
                  kpi_svg=kpi_bars(figures["figures"] if figures else [],
                                   f"关键指标 Key figures, last {period} days"),
                  **data)


# --- static files (CSS, JS) of the package ------------------------------------------------------

STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                ".svg": "image/svg+xml"}


@router.get("/static/{name}")
async def static_file(name: str) -> Response:
    """The pages link these with ``?v=<mtime>``, so a browser may keep them for good."""
    path = STATIC_DIR / name
    if (not name or "/" in name or "\\" in name or name.startswith(".")
            or path.suffix not in STATIC_TYPES or not path.is_file()):
        raise ApiError(404, "not_found", f"no file {name}")
    return FileResponse(path, media_type=STATIC_TYPES[path.suffix],
                        headers={"Cache-Control": "public, max-age=31536000, immutable"})


# --- anything else under /ui/ -------------------------------------------------------------------

@router.get("/{rest:path}")
async def not_found(request: Request, rest: str) -> Response:
    session_of(request)
    return error_page(request, 404, "not_found", f"没有这个页面 No page at /ui/{rest}")

