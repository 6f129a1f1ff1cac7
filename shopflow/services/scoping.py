"""Channel tokens see their own: a ``channel`` token bound to channels (``--channel web``) reads
and acts only on the cases created through those channels (samples, orders, returns,
complaints, follow-ups, and the tasks and parcels of those cases). Anything else answers 404,
as if it did not exist.

A case's channel is the ``channel`` of the request that created it (``case_channels``, written at
creation), else what the records say: an order's channel, a return's or follow-up's order, a
sample's or complaint's own channel."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, String, literal, or_
from sqlmodel import Session, col, select

from shopflow.db import insert_ignore, session_scope
from shopflow.models import Case, CaseChannel, Complaint, Order, Return, Shipment, Task
from shopflow.models.types import utcnow
from shopflow.workflows.vocab import READ_ROLES, Role


def unreadable_kinds(role: str) -> list[str]:
    """The processes whose cases this role may not read (``vocab.READ_ROLES``; admin reads
    all): lists and searches leave them out."""
    return [str(kind) for kind, roles in READ_ROLES.items()
            if role != Role.ADMIN and role not in roles]


def record_channel(engine: Engine, case_id: str, channel: str, created_by: str) -> None:
    with session_scope(engine) as session:
        insert_ignore(session, CaseChannel.__table__, [{  # type: ignore[attr-defined]
            "case_id": case_id, "channel": channel, "created_by": created_by,
            "created_at": utcnow()}], ["case_id"])


def channel_of(session: Session, kind: str, case_id: str, depth: int = 0) -> str | None:
    if depth > 3:
        return None
    if kind in ("sample", "order", "complaint", "return", "enquiry"):
        row = session.get(CaseChannel, case_id)
        if row is not None:
            return row.channel
    if kind == "order":
        order = session.get(Order, case_id)
        return order.channel if order else None
    if kind == "return":
        ret = session.get(Return, case_id)
        return channel_of(session, "order", ret.order_no, depth + 1) if ret else None
    if kind == "complaint":
        complaint = session.get(Complaint, case_id)
        return complaint.channel or None if complaint else None
    if kind == "shipment":
        parcel = session.get(Shipment, case_id)
        return channel_of(session, "order", parcel.order_no, depth + 1) if parcel else None
    if kind == "task":
        task = session.get(Task, case_id)
        return channel_of(session, task.case_kind, task.case_id, depth + 1) if task else None
    case = session.get(Case, case_id)
    if case is None:
        return None
    if kind == "followup" or case.kind == "followup":
        order_no = (case.data or {}).get("order_no")
        return channel_of(session, "order", order_no, depth + 1) if order_no else None
    return (case.data or {}).get("channel")


def visible(engine: Engine, user: Any, kind: str, case_id: str) -> bool:
    """Whether this caller may see the case at all (only bound channel tokens are limited)."""
    if not getattr(user, "scoped", False):
        return True
    with session_scope(engine, write=False) as session:
        return channel_of(session, kind, case_id) in user.channels


def case_filter(user: Any, id_column: Any) -> Any | None:
    """A WHERE clause limiting a list of cases to the caller's channels (None: no limit)."""
    if not getattr(user, "scoped", False):
        return None
    channels = list(user.channels)
    own = select(CaseChannel.case_id).where(col(CaseChannel.channel).in_(channels))
    orders = select(Order.order_no).where(col(Order.channel).in_(channels))
    followups = select(literal("followup-", String) + col(Order.order_no)).where(
        col(Order.channel).in_(channels))
    returns = select(Return.id).where(col(Return.order_no).in_(orders))
    return or_(col(id_column).in_(own), col(id_column).in_(orders),
               col(id_column).in_(followups), col(id_column).in_(returns))
