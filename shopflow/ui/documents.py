"""Printable documents of a case (slips, pick lists, dossiers, invoices) reachable from the pages.

The API serves them behind bearer tokens; a browser signed in with a cookie reaches them here, at
``/ui/cases/{kind}/{id}/docs/{name}``, from the same services and templates as the API (no
second copy of its logic). A process adds its documents with ``register(Document(...))``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from starlette.responses import Response

from shopflow.api.auth import User
from shopflow.api.deps import Services
from shopflow.api.pages import render_page
from shopflow.services import cases, orders, returns, samples
from shopflow.workflows.vocab import READ_ROLES, CaseKind

Render = Callable[[Request, Services, User, str], Awaitable[Response]]


@dataclass(frozen=True)
class Document:
    case_kind: str
    name: str
    label: str
    render: Render
    roles: tuple[str, ...] = ()  # who may open it (admin always); empty: whoever reads the case
    shown: Callable[[dict[str, Any]], bool] = lambda case: True  # link only when this holds


DOCUMENTS: dict[tuple[str, str], Document] = {}


def register(doc: Document) -> Document:
    DOCUMENTS[(doc.case_kind, doc.name)] = doc
    return doc


def of_case(case: dict[str, Any], user: User) -> list[Document]:
    return [d for (kind, _), d in DOCUMENTS.items()
            if kind == case.get("kind") and may_open(d, user) and d.shown(case)]


def may_open(doc: Document, user: User) -> bool:
    return not doc.roles or user.has(*doc.roles)


# --- samples ------------------------------------------------------------------------------------

async def _sample_slip(request: Request, svc: Services, user: User, case_id: str) -> Response:
    view, customer = await svc.db(samples.slip, svc.engine, svc.settings, case_id)
    return render_page(request, "sample_slip.html", case=view, customer=customer)


async def _sample_dossier(request: Request, svc: Services, user: User, case_id: str) -> Response:
    data = await svc.db(cases.dossier, svc.engine, CaseKind.SAMPLE, case_id)
    return render_page(request, "dossier.html", dossier=data)


_SAMPLE_READERS = READ_ROLES[CaseKind.SAMPLE]

register(Document("sample", "slip", "样品发货单 Sample shipping slip", _sample_slip, _SAMPLE_READERS,
                  shown=lambda case: any(i.get("approved_quantity")
                                         for i in case.get("items") or [] if isinstance(i, dict))))
register(Document("sample", "dossier", "样品档案 Sample dossier", _sample_dossier, _SAMPLE_READERS,
                  shown=lambda case: bool(case.get("closed_at"))))


# --- orders -------------------------------------------------------------------------------------

def _order_doc(name: str) -> Render:
    """The order's document as GET /api/v1/orders/{no}/<name> renders it."""
    async def render(request: Request, svc: Services, user: User, case_id: str) -> Response:
        load = orders.invoice if name == "invoice" else orders.document
        order = await svc.db(load, svc.engine, svc.settings, case_id)
        return render_page(request, f"order_{name}.html", order=order)

    return render


_PICKERS = ("warehouse", "cs", "ops")
register(Document("order", "pick_list", "拣货单 Pick list", _order_doc("pick_list"), _PICKERS,
                  shown=lambda case: not case.get("closed_at")))
register(Document("order", "packing_slip", "装箱单 Packing slip", _order_doc("packing_slip"),
                  _PICKERS, shown=lambda case: not case.get("closed_at")))
register(Document("order", "invoice", "发票 Invoice", _order_doc("invoice"),
                  ("channel", "cs", "finance", "ops"),
                  shown=lambda case: bool(case.get("invoice")) or (
                      isinstance(case.get("tax_invoice"), dict)
                      and case["tax_invoice"].get("status") == "issued")))


# --- returns ------------------------------------------------------------------------------------

async def _return_packing_slip(request: Request, svc: Services, user: User,
                               case_id: str) -> Response:
    slip = await svc.db(returns.packing_slip, svc.engine, svc.settings, case_id)
    return render_page(request, "return_packing_slip.html", ret=slip)


# An exchange's replacement (its order.fulfil task links it as the packing slip).
register(Document("return", "packing_slip", "换货拣货/装箱单 Replacement pick list and packing slip",
                  _return_packing_slip, _PICKERS,
                  shown=lambda case: case.get("stage") == "exchange" and not case.get("closed_at")))
