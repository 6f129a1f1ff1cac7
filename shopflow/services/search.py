"""Find anything (issue 17.3): one query against customers (name, phone, e-mail, company, id),
products (SKU, name) and the cases of every process (case id, order no, tracking no, SKU, the
customer's cases, an order's returns, complaints and follow-up).

Scoped like the case lists: a case of a process the caller's role may not read
(``vocab.READ_ROLES``) or of another channel (``scoping.case_filter``) is never found; customer
profiles only for the roles that read them (``customers.READ_ROLES``, never a channel token).
Each source is one indexed query (or a LIKE over a few columns) with a LIMIT."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Engine, String, cast, func, or_
from sqlmodel import Session, col, select

from shopflow.db import session_scope
from shopflow.models import Case, Complaint, Customer, OrderLine, Product, Return, Shipment
from shopflow.services import customers
from shopflow.services.errors import Refused
from shopflow.services.scoping import case_filter, unreadable_kinds
from shopflow.workflows.vocab import Role

PER_SOURCE = 50  # rows each source may contribute
MAX_HITS = 200
# Below this length a term only matches whole ids (a 2-letter piece of a hex id means nothing).
CONTAINS_MIN = 4
TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]*")  # an SKU or tracking number, as stored
PHONE = re.compile(r"\+?[\d\s\-()]{4,}")


def _like(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _contains(column: Any, term: str) -> Any:
    return func.lower(column).like(_like(term.lower()), escape="\\")


def search(engine: Engine, user: Any, q: str, page: int = 1,
           page_size: int = 20) -> dict[str, Any]:
    """Hits for ``q`` (``user``: ``role``, and ``scoped``/``channels`` for a channel token):
    customers first, then products, then cases (newest first), each naming what matched."""
    term = q.strip()
    if len(term) < 2:
        raise Refused(422, "invalid_input", "say at least 2 characters to search for",
                      [{"loc": ["query", "q"], "msg": "at least 2 characters", "type": "too_short"}])
    with session_scope(engine, write=False) as session:
        found_customers = _customers(session, term)
        hits: list[dict[str, Any]] = []
        if user.role in (*customers.READ_ROLES, Role.ADMIN) and not getattr(user, "scoped", False):
            hits += [_customer_hit(c, matched) for c, matched in found_customers]
        products = _products(session, term)
        hits += [{"type": "product", "kind": "product", "id": p.sku, "title": p.name,
                  "status": None, "stage": None, "customer_id": None, "matched": ["sku"],
                  "updated_at": None} for p in products]
        case_ids = _case_sources(session, term, [c.id for c, _ in found_customers],
                                 is_sku=bool(products))
        hits += _cases(session, user, case_ids)
    hits = hits[:MAX_HITS]
    start = (page - 1) * page_size
    return {"items": hits[start:start + page_size], "total": len(hits), "page": page,
            "page_size": page_size}


def _customers(session: Session, term: str) -> list[tuple[Customer, list[str]]]:
    conds: list[Any] = [Customer.id == term]
    if len(term) >= 2:
        conds += [_contains(Customer.name, term), _contains(Customer.company, term),
                  _contains(Customer.email, term)]
    digits = re.sub(r"\D", "", term)
    if PHONE.fullmatch(term) and len(digits) >= CONTAINS_MIN:
        plain = func.replace(func.replace(col(Customer.phone), " ", ""), "-", "")
        conds.append(plain.like(_like(digits)))
    rows = session.exec(select(Customer).where(or_(*conds))
                        .order_by(col(Customer.updated_at).desc()).limit(PER_SOURCE)).all()
    lower = term.lower()
    out = []
    for c in rows:
        matched = [name for name in ("id", "name", "company", "email")
                   if (getattr(c, name) or "").lower() == lower
                   or (name != "id" and lower in (getattr(c, name) or "").lower())]
        if digits and len(digits) >= CONTAINS_MIN and digits in re.sub(r"\D", "", c.phone or ""):
            matched.append("phone")
        out.append((c, matched or ["customer"]))
    return out


def _customer_hit(c: Customer, matched: list[str]) -> dict[str, Any]:
    return {"type": "customer", "kind": "customer", "id": c.id, "title": c.name or c.id,
            "status": None, "stage": None, "customer_id": c.id, "matched": matched,
            "updated_at": c.updated_at, "company": c.company, "phone": c.phone,
            "email": c.email}


def _products(session: Session, term: str) -> list[Product]:
    conds = [func.lower(Product.sku) == term.lower()]
    if len(term) >= 2:
        conds += [_contains(Product.sku, term), _contains(Product.name, term)]
    return list(session.exec(select(Product).where(or_(*conds))
                             .order_by(col(Product.sku)).limit(PER_SOURCE)).all())


def _case_sources(session: Session, term: str, customer_ids: list[str],
                  is_sku: bool) -> dict[str, list[str]]:
    """Case id → what matched, from every source."""
    found: dict[str, list[str]] = {}

    def add(ids: Any, why: str) -> None:
        for case_id in ids:
            reasons = found.setdefault(str(case_id), [])
            if why not in reasons:
                reasons.append(why)

    lower = term.lower()
    long_enough = len(term) >= CONTAINS_MIN
    id_conds: list[Any] = [Case.id == term, Case.workflow_id == term]
    if long_enough:
        id_conds.append(_contains(Case.id, term))
    add(session.exec(select(Case.id).where(or_(*id_conds)).limit(PER_SOURCE)), "case_id")
    if customer_ids:
        add(session.exec(select(Case.id).where(col(Case.customer_id).in_(customer_ids))
                         .order_by(col(Case.updated_at).desc()).limit(PER_SOURCE)), "customer")
    # An order's other cases: its returns, complaints and follow-up.
    add(session.exec(select(Return.id).where(func.lower(Return.order_no) == lower)
                     .limit(PER_SOURCE)), "order_no")
    add(session.exec(select(Complaint.id).where(func.lower(Complaint.order_no) == lower)
                     .limit(PER_SOURCE)), "order_no")
    add(session.exec(select(Case.id).where(func.lower(Case.id) == f"followup-{lower}")), "order_no")
    if long_enough:
        add(session.exec(select(Shipment.case_id).where(_contains(Shipment.tracking_no, term))
                         .limit(PER_SOURCE)), "tracking_no")
    add(session.exec(select(OrderLine.order_no).where(func.lower(OrderLine.sku) == lower)
                     .distinct().limit(PER_SOURCE)), "sku")
    if TOKEN.fullmatch(term) and len(term) >= 2:
        # Samples and returns keep their SKUs and parcels in the case's data: the exact value,
        # quoted, as the JSON column holds it.
        text = cast(col(Case.data), String)
        quoted = [f'%"{t}"%' for t in {term, term.upper()}]
        add(session.exec(select(Case.id).where(or_(*(text.like(p) for p in quoted)))
                         .order_by(col(Case.updated_at).desc()).limit(PER_SOURCE)),
            "sku" if is_sku else "tracking_no")
    return found


def _cases(session: Session, user: Any, found: dict[str, list[str]]) -> list[dict[str, Any]]:
    if not found:
        return []
    conds: list[Any] = [col(Case.id).in_(list(found))]
    hidden = unreadable_kinds(user.role)
    if hidden:
        conds.append(col(Case.kind).not_in(hidden))
    scope = case_filter(user, Case.id)
    if scope is not None:
        conds.append(scope)
    rows = session.exec(select(Case).where(*conds)
                        .order_by(col(Case.updated_at).desc(), col(Case.id))).all()
    return [{"type": "case", "kind": c.kind, "id": c.id, "title": _customer_name(c.data),
             "status": c.status, "stage": c.stage, "customer_id": c.customer_id,
             "matched": found[c.id], "updated_at": c.updated_at} for c in rows]


def _customer_name(data: Any) -> str:
    customer = data.get("customer") if isinstance(data, dict) else None
    if isinstance(customer, dict):
        return " · ".join(str(x) for x in (customer.get("name"), customer.get("company")) if x)
    return ""
