"""KPIs computed from the records (orders, shipments, returns, complaints, samples, surveys,
tasks) for a period, and the stored periodic report (HTML and CSV) built from them.

Definitions (the period is [start, end), times in UTC):
- orders: received = orders created in the period; shipped = orders whose first shipment left
  in the period. Processing time = first shipment - intake, over the shipped orders (hours,
  median and p90 by nearest rank).
- on-time shipment rate: ``order.fulfil`` tasks completed (shipped) in the period by their due
  time / all completed in the period.
- error rate: (lost outbound parcels that left in the period + returns opened in the period
  in the categories wrong_item or missing_item) / orders shipped in the period.
- return rate by reason: returns opened in the period per reason category (``ReturnReason``:
  quality, wrong_item, missing_item, damaged_in_transit, no_reason; every one listed) / orders
  shipped in the period.
- return resolution time: returns settled (outcome refunded, exchanged or repaired) in the
  period, hours from the request to the close, median and p90, in all and per reason category
  (every category listed) under ``returns.resolution``.
- complaints (filed in the period): count, first-response time (hours, median and mean),
  resolution rate within SLA (resolved within the resolution clock in every round / resolved),
  escalations (ladder steps) and escalated complaints.
- complaint resolution time: complaints resolved in the period, hours from filing to the
  (last) resolution, median and p90, in all and per category (``complaints.resolution``) and per
  escalation level reached (``complaints.resolution_by_level``: "0" customer service, "1" ops …).
- sample conversion: samples shipped in the period whose customer placed an order (not
  cancelled) within 90 days after the shipment / samples shipped.
- satisfaction: survey links sent in the period; average score of the answers; response rate
  = answered / sent.
- per staff member: tasks they completed in the period, median handling time (opened to
  completed, minutes) and how many of those were completed after their due time.
- sales revenue (``revenue``, issue 18; amounts in the currency, cents inside): a sale counts
  when its order is delivered (``delivered_at`` in the period, as the sale line finance
  reconciles). gross = the delivered orders' totals (goods and shipping); refunded = refunds
  that moved in the period (succeeded, or owed by bank transfer for COD), whatever the order's
  delivery date; net = gross - refunded. By channel (the order's channel: orders, gross,
  refunded, net; every channel with a sale or a refund listed) and by product (the delivered
  lines per SKU: quantity and revenue, goods only, largest revenue first).
"""

from __future__ import annotations

import bisect
import csv
import io
import math
import statistics
import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast

from jinja2 import Environment, PackageLoader
from sqlalchemy import Engine, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select
from temporalio.client import Client, WorkflowHandle

from shopflow.db import session_scope
from shopflow.models import (
    Case,
    Complaint,
    FeedbackRequest,
    Order,
    OrderLine,
    Refund,
    Report,
    Return,
    Shipment,
    Task,
)
from shopflow.models.orders import decimal
from shopflow.models.types import utcnow
from shopflow.security.csvsafe import safe_rows
from shopflow.services import suggestions
from shopflow.services.care import local_day, zone
from shopflow.services.errors import Refused, temporal_errors
from shopflow.settings import Settings
from shopflow.workflows.care import KpiReport
from shopflow.workflows.care_payloads import ReportGenerate, ReportRequest, ReportStored
from shopflow.workflows.return_rules import FULFILMENT_ERRORS
from shopflow.workflows.vocab import ReturnReason

CONVERSION_WINDOW = timedelta(days=90)
NOT_STAFF = frozenset({"system", "customer", ""})


# --- arithmetic ---------------------------------------------------------------------------

def median(values: list[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None


def p90(values: list[float]) -> float | None:
    """Nearest rank: the smallest value with at least 90% of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(math.ceil(0.9 * len(ordered)) - 1, 0)], 2)


def mean(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 2) if values else None


def rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def hours(delta: timedelta) -> float:
    return delta.total_seconds() / 3600


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _in(value: datetime | None, start: datetime, end: datetime) -> bool:
    return value is not None and start <= _utc(value) < end


# --- the figures --------------------------------------------------------------------------

def compute_kpis(session: Session, start: datetime, end: datetime) -> dict[str, Any]:
    start, end = _utc(start), _utc(end)
    orders = _orders(session, start, end)
    returns = _returns(session, start, end, orders["shipped"])
    orders["errors"] = orders.pop("_lost") + returns.pop("_errors")
    orders["error_rate"] = rate(orders["errors"], orders["shipped"])
    return {
        "period": {"from": start.isoformat(), "to": end.isoformat()},
        "orders": orders,
        "returns": returns,
        "complaints": _complaints(session, start, end),
        "samples": _samples(session, start, end),
        "satisfaction": _satisfaction(session, start, end),
        "staff": _staff(session, start, end),
        "suggestions": suggestions.summary(session, start, end),
        "revenue": _revenue(session, start, end),
    }


REFUNDS_MOVED = ("succeeded", "transfer_due")


def _revenue(session: Session, start: datetime, end: datetime) -> dict[str, Any]:
    delivered = (col(Order.delivered_at) >= start, col(Order.delivered_at) < end)
    sales = session.exec(select(Order.channel, func.count(), func.sum(Order.total_cents),
                                func.sum(Order.shipping_fee_cents))
                         .where(*delivered).group_by(Order.channel)).all()
    refunds = session.exec(select(Order.channel, func.sum(Refund.amount_cents))
                           .join(Order, col(Order.order_no) == col(Refund.order_no))
                           .where(col(Refund.status).in_(REFUNDS_MOVED),
                                  col(Refund.completed_at) >= start,
                                  col(Refund.completed_at) < end)
                           .group_by(Order.channel)).all()
    lines = session.exec(select(OrderLine.sku, func.min(OrderLine.name),
                                func.sum(OrderLine.quantity), func.sum(OrderLine.amount_cents))
                         .join(Order, col(Order.order_no) == col(OrderLine.order_no))
                         .where(*delivered).group_by(OrderLine.sku)).all()
    channels: dict[str, dict[str, int]] = defaultdict(
        lambda: {"orders": 0, "gross": 0, "refunded": 0})
    shipping = 0
    for channel, count, total, fees in sales:
        channels[channel or "-"].update(orders=int(count), gross=int(total or 0))
        shipping += int(fees or 0)
    for channel, refunded in refunds:
        channels[channel or "-"]["refunded"] = int(refunded or 0)
    gross = sum(c["gross"] for c in channels.values())
    refunded = sum(c["refunded"] for c in channels.values())
    products = sorted(lines, key=lambda x: (-int(x[3] or 0), x[0]))
    return {
        "gross": decimal(gross), "shipping": decimal(shipping), "refunded": decimal(refunded),
        "net": decimal(gross - refunded),
        "by_channel": {name: {"orders": c["orders"], "gross": decimal(c["gross"]),
                              "refunded": decimal(c["refunded"]),
                              "net": decimal(c["gross"] - c["refunded"])}
                       for name, c in sorted(channels.items())},
        "by_product": {sku: {"name": name or "", "quantity": int(qty or 0),
                             "revenue": decimal(int(cents or 0))}
                       for sku, name, qty, cents in products},
    }


def _orders(session: Session, start: datetime, end: datetime) -> dict[str, Any]:
    received = session.exec(select(func.count()).select_from(Order).where(
        col(Order.created_at) >= start, col(Order.created_at) < end)).one()
    rows = session.exec(select(Order.created_at, Order.shipped_at).where(
        col(Order.shipped_at) >= start, col(Order.shipped_at) < end)).all()
    processing = [hours(_utc(shipped) - _utc(created)) for created, shipped in rows
                  if shipped is not None]
    fulfil = session.exec(select(Task.completed_at, Task.due_at).where(
        Task.kind == "order.fulfil", Task.status == "done",
        col(Task.completed_at) >= start, col(Task.completed_at) < end)).all()
    on_time = sum(1 for completed, due in fulfil if completed and _utc(completed) <= _utc(due))
    lost = session.exec(select(func.count()).select_from(Shipment).where(
        Shipment.status == "lost", Shipment.direction == "outbound",
        col(Shipment.shipped_at) >= start, col(Shipment.shipped_at) < end)).one()
    return {
        "received": received,
        "shipped": len(processing),
        "processing_hours_median": median(processing),
        "processing_hours_p90": p90(processing),
        "fulfilment_tasks": len(fulfil),
        "shipped_on_time": on_time,
        "on_time_rate": rate(on_time, len(fulfil)),
        "lost_parcels": lost,
        "_lost": lost,
    }


def _returns(session: Session, start: datetime, end: datetime, shipped: int) -> dict[str, Any]:
    """Returns by their reason category (every category listed, 0 included); wrong and missing
    items are the fulfilment errors."""
    by_category = dict.fromkeys(ReturnReason, 0)
    for category, n in session.exec(select(Return.category, func.count()).where(
            col(Return.created_at) >= start, col(Return.created_at) < end)
            .group_by(Return.category)).all():
        by_category[ReturnReason(category)] += n
    return {
        "count": sum(by_category.values()),
        "rate": rate(sum(by_category.values()), shipped),
        "by_reason": {c.value: {"count": n, "rate": rate(n, shipped)}
                      for c, n in by_category.items()},
        "resolution": _return_resolution(session, start, end),
        "_errors": sum(by_category[c] for c in FULFILMENT_ERRORS),
    }


SETTLED_OUTCOMES = ("refunded", "exchanged", "repaired")


def spread(values: list[float]) -> dict[str, Any]:
    """How many, and their median and p90 (hours)."""
    return {"count": len(values), "hours_median": median(values), "hours_p90": p90(values)}


def _return_resolution(session: Session, start: datetime, end: datetime) -> dict[str, Any]:
    """Hours from the request to the close of the returns settled in the period, in all and per
    reason category (every one listed)."""
    times: dict[str, list[float]] = {c.value: [] for c in ReturnReason}
    for category, created, closed in session.exec(select(
            Return.category, Return.created_at, Return.closed_at).where(
            col(Return.closed_at) >= start, col(Return.closed_at) < end,
            col(Return.outcome).in_(SETTLED_OUTCOMES))).all():
        if closed is not None:
            times.setdefault(category, []).append(hours(_utc(closed) - _utc(created)))
    return {"all": spread([h for values in times.values() for h in values]),
            **{c: spread(values) for c, values in times.items()}}


def _complaint_resolution(session: Session, start: datetime,
                          end: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
    """Hours from filing to resolution of the complaints resolved in the period: in all and
    per category, and per escalation level reached."""
    by_category: dict[str, list[float]] = defaultdict(list)
    by_level: dict[str, list[float]] = defaultdict(list)
    for category, level, created, resolved in session.exec(select(
            Complaint.category, Complaint.level, Complaint.created_at,
            Complaint.resolved_at).where(
            col(Complaint.resolved_at) >= start, col(Complaint.resolved_at) < end)).all():
        if resolved is None:
            continue
        took = hours(_utc(resolved) - _utc(created))
        by_category[category].append(took)
        by_level[str(level)].append(took)
    every = [h for values in by_category.values() for h in values]
    return ({"all": spread(every), **{c: spread(v) for c, v in sorted(by_category.items())}},
            {lv: spread(v) for lv, v in sorted(by_level.items(), key=lambda kv: int(kv[0]))})


def _complaints(session: Session, start: datetime, end: datetime) -> dict[str, Any]:
    columns: list[Any] = [
        Complaint.created_at, Complaint.first_response_at, Complaint.response_sla_met,
        Complaint.resolved_at, Complaint.resolution_sla_met, Complaint.category,
        Complaint.escalations, Complaint.reopened]
    rows: list[Any] = list(session.execute(sa_select(*columns).where(
        col(Complaint.created_at) >= start, col(Complaint.created_at) < end)).all())
    first = [hours(_utc(c.first_response_at) - _utc(c.created_at))
             for c in rows if c.first_response_at is not None]
    resolved = [c for c in rows if c.resolved_at is not None]
    within = [c for c in resolved if c.resolution_sla_met]
    by_category: dict[str, int] = defaultdict(int)
    for c in rows:
        by_category[c.category] += 1
    resolution, by_level = _complaint_resolution(session, start, end)
    return {
        "count": len(rows),
        "by_category": dict(sorted(by_category.items())),
        "responded": len(first),
        "first_response_hours_median": median(first),
        "first_response_hours_mean": mean(first),
        "response_within_sla": sum(1 for c in rows if c.response_sla_met),
        "resolved": len(resolved),
        "resolved_within_sla": len(within),
        "resolution_within_sla_rate": rate(len(within), len(resolved)),
        "escalations": sum(c.escalations for c in rows),
        "escalated_complaints": sum(1 for c in rows if c.escalations),
        "reopened": sum(c.reopened for c in rows),
        "resolution": resolution,
        "resolution_by_level": by_level,
    }


def _approved_skus(items: Any) -> list[str]:
    return sorted({str(i.get("sku")) for i in items or [] if isinstance(i, dict)
                   and isinstance(i.get("approved_quantity"), int) and i["approved_quantity"] > 0})


def _sample_applications(session: Session, start: datetime, end: datetime) -> dict[str, Any]:
    """Seed 000 5.2: the requests filed in the period and what became of them: approved (some
    quantity approved at the review), rejected, cancelled, or still open; the rates are of the
    decided ones (approved + rejected). Per channel too."""
    data = cast(Any, Case.data)
    counts: dict[str, int] = defaultdict(int)
    by_channel: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for status, channel, items, shipped in session.exec(select(
            Case.status, data["channel"].as_string(), data["items"],
            data[("shipment", "shipped_at")].as_string()).where(
            Case.kind == "sample", col(Case.created_at) >= start,
            col(Case.created_at) < end)).all():
        outcome = ("approved" if shipped or _approved_skus(items) else "rejected"
                   if status == "rejected" else "cancelled" if status == "cancelled" else "open")
        for bucket in (counts, by_channel[channel or "unknown"]):
            bucket["applications"] += 1
            bucket[outcome] += 1

    def rates(c: dict[str, int]) -> dict[str, Any]:
        decided = c.get("approved", 0) + c.get("rejected", 0)
        return {"applications": c.get("applications", 0), "approved": c.get("approved", 0),
                "rejected": c.get("rejected", 0), "cancelled": c.get("cancelled", 0),
                "open": c.get("open", 0), "approval_rate": rate(c.get("approved", 0), decided),
                "rejection_rate": rate(c.get("rejected", 0), decided)}

    return {**rates(counts),
            "applications_by_channel": {ch: rates(c) for ch, c in sorted(by_channel.items())}}


def _samples(session: Session, start: datetime, end: datetime) -> dict[str, Any]:
    """The shipment time is the one the sample workflow wrote into the case
    (``data.shipment.shipped_at``): only that string, the channel and the items are read from
    the database (not the whole case), then parsed and compared here, exactly as written.
    Besides the conversion of the samples shipped in the period (overall, per product and per
    channel), the applications of the period (``_sample_applications``) and the time from
    request to shipment (seed 000 5.2)."""
    shipped: list[tuple[str, datetime]] = []
    detail: list[tuple[str, list[str]]] = []  # (channel, approved SKUs) per shipped sample
    ship_hours: list[float] = []
    data = cast(Any, Case.data)
    shipped_at = data[("shipment", "shipped_at")].as_string()
    columns: list[Any] = [Case.customer_id, shipped_at, Case.created_at,
                          data["channel"].as_string(), data["items"]]
    for customer_id, at, created, channel, items in session.execute(sa_select(*columns).where(
            col(Case.kind) == "sample", col(Case.created_at) < end,
            col(Case.customer_id).is_not(None), shipped_at.is_not(None))).all():
        if not at or customer_id is None:
            continue
        when = _utc(datetime.fromisoformat(at))
        if start <= when < end:
            shipped.append((customer_id, when))
            detail.append((channel or "unknown", _approved_skus(items)))
            ship_hours.append(hours(when - _utc(created)))
    # The customers' orders (not cancelled) that could convert one of these shipments, in one
    # query per 500 customers instead of one per shipment.
    orders: dict[str, list[datetime]] = defaultdict(list)
    if shipped:
        first = min(when for _, when in shipped)
        last = max(when for _, when in shipped) + CONVERSION_WINDOW
        customers = sorted({customer_id for customer_id, _ in shipped})
        for k in range(0, len(customers), 500):
            for customer_id, created in session.exec(select(
                    Order.customer_id, Order.created_at).where(
                    col(Order.customer_id).in_(customers[k:k + 500]),
                    Order.status != "cancelled",
                    col(Order.created_at) > first, col(Order.created_at) <= last)).all():
                orders[customer_id].append(_utc(created))
        for times in orders.values():
            times.sort()
    converted = 0
    groups: dict[str, dict[str, dict[str, int]]] = {
        "product": defaultdict(lambda: {"shipped": 0, "converted": 0}),
        "channel": defaultdict(lambda: {"shipped": 0, "converted": 0})}
    for (customer_id, when), (channel, skus) in zip(shipped, detail, strict=True):
        times = orders.get(customer_id, [])
        i = bisect.bisect_right(times, when)  # the first order after the shipment
        won = i < len(times) and times[i] <= when + CONVERSION_WINDOW
        converted += won
        for key, names in (("channel", [channel]), ("product", skus)):
            for name in names:
                groups[key][name]["shipped"] += 1
                groups[key][name]["converted"] += won

    def conversion(by: dict[str, dict[str, int]]) -> dict[str, dict[str, Any]]:
        return {name: {**c, "conversion_rate": rate(c["converted"], c["shipped"])}
                for name, c in sorted(by.items())}

    return {**_sample_applications(session, start, end),
            "shipped": len(shipped), "converted": converted,
            "conversion_rate": rate(converted, len(shipped)),
            "window_days": CONVERSION_WINDOW.days,
            "time_to_ship_hours_median": median(ship_hours),
            "time_to_ship_hours_p90": p90(ship_hours),
            "conversion_by_product": conversion(groups["product"]),
            "conversion_by_channel": conversion(groups["channel"])}


def _satisfaction(session: Session, start: datetime, end: datetime) -> dict[str, Any]:
    in_period = (col(FeedbackRequest.created_at) >= start, col(FeedbackRequest.created_at) < end)
    sent: dict[str, int] = dict(session.exec(select(
        FeedbackRequest.kind, func.count()).where(*in_period)
        .group_by(FeedbackRequest.kind)).all())
    scores: dict[str, list[int]] = defaultdict(list)
    for kind, response in session.exec(select(FeedbackRequest.kind, FeedbackRequest.response)
                                       .where(*in_period, FeedbackRequest.status == "answered")
                                       ).all():
        if isinstance(response, dict) and isinstance(response.get("satisfaction"), int):
            scores[kind].append(int(response["satisfaction"]))

    def figures(n: int, answers: list[int]) -> dict[str, Any]:
        return {"sent": n, "answered": len(answers), "average": mean(answers),
                "response_rate": rate(len(answers), n)}

    return {**figures(sum(sent.values()), [x for answers in scores.values() for x in answers]),
            "by_kind": {k: figures(n, scores[k]) for k, n in sorted(sent.items())}}


def _staff(session: Session, start: datetime, end: datetime) -> list[dict[str, Any]]:
    done = session.exec(select(Task.completed_by, Task.created_at, Task.completed_at,
                               Task.due_at).where(
        Task.status == "done", col(Task.completed_at) >= start, col(Task.completed_at) < end,
        col(Task.completed_by).is_not(None), col(Task.completed_by).not_in(sorted(NOT_STAFF)))).all()
    people: dict[str, list[tuple[datetime, datetime, datetime]]] = defaultdict(list)
    for by, created, completed, due in done:
        if by and by not in NOT_STAFF and completed is not None:
            people[by].append((_utc(created), _utc(completed), _utc(due)))
    out = []
    for name, tasks in sorted(people.items()):
        handling = [(completed - created).total_seconds() / 60 for created, completed, _ in tasks]
        out.append({
            "staff": name,
            "tasks_done": len(tasks),
            "handling_minutes_median": median(handling),
            "overdue": sum(1 for _, completed, due in tasks if completed > due),
        })
    return out


# --- periods ------------------------------------------------------------------------------

def day_start(settings: Settings, day: date) -> datetime:
    """Midnight of ``day`` in the schedule's time zone, in UTC."""
    return datetime.combine(day, time(0), tzinfo=zone(settings)).astimezone(UTC)


def report_period(kind: str, as_of: date) -> tuple[str, date, date]:
    """(report id, first day, day after the last) of the month or quarter holding the day
    before ``as_of``: run on the 1st (the schedules) that is the last complete period; run
    mid-period (a trigger in the Web UI) it is the period so far, replaced by the complete one
    when the schedule runs at its end."""
    day = as_of - timedelta(days=1)
    if kind == "monthly":
        first = day.replace(day=1)
        after = date(first.year + first.month // 12, first.month % 12 + 1, 1)
        return f"monthly-{first:%Y-%m}", first, after
    if kind == "quarterly":
        first = date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
        after = date(first.year + (first.month == 10), (first.month + 2) % 12 + 1, 1)
        return f"quarterly-{first.year}-Q{(first.month - 1) // 3 + 1}", first, after
    raise ValueError(kind)


# --- rendering ----------------------------------------------------------------------------

_env = Environment(loader=PackageLoader("shopflow.notifications", "templates"), autoescape=True)


def flatten(figures: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(section, metric, value) rows for the CSV and the summary."""
    rows: list[tuple[str, str, str]] = []
    for section in ("orders", "returns", "complaints", "samples", "satisfaction", "revenue"):
        if section not in figures:
            continue
        for metric, value in figures[section].items():
            if isinstance(value, dict):
                for key, inner in value.items():
                    if isinstance(inner, dict):
                        for k2, v2 in inner.items():
                            rows.append((section, f"{metric}.{key}.{k2}", _fmt(v2)))
                    else:
                        rows.append((section, f"{metric}.{key}", _fmt(inner)))
            else:
                rows.append((section, metric, _fmt(value)))
    for person in figures["staff"]:
        for metric, value in person.items():
            if metric != "staff":
                rows.append(("staff", f"{person['staff']}.{metric}", _fmt(value)))
    for n, theme in enumerate((figures.get("suggestions") or {}).get("themes", []), 1):
        rows.append(("suggestions", f"{n}.{theme['theme']}", _fmt(theme["count"])))
        for m, example in enumerate(theme["examples"], 1):
            rows.append(("suggestions", f"{n}.{theme['theme']}.example{m}", example["text"]))
    return rows


def _fmt(value: Any) -> str:
    return "" if value is None else str(value)


def render_csv(figures: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["section", "metric", "value"])
    writer.writerows(safe_rows([["period", "from", figures["period"]["from"]],
                                ["period", "to", figures["period"]["to"]], *flatten(figures)]))
    return out.getvalue()


def render_html(report_id: str, kind: str, figures: dict[str, Any], generated: str) -> str:
    return _env.get_template("reports/kpi_report.html").render(
        report_id=report_id, kind=kind, f=figures, generated=generated)


# --- the stored report -------------------------------------------------------------------

def generate(engine: Engine, settings: Settings, req: ReportGenerate) -> ReportStored:
    """Compute, render and store the report of a period (the same id again replaces it)."""
    if req.kind == "adhoc":
        if not (req.start and req.end):
            raise ValueError("an adhoc report needs start and end")
        first, last = date.fromisoformat(req.start), date.fromisoformat(req.end)
        report_id = f"adhoc-{first:%Y%m%d}-{last:%Y%m%d}"
        after = last + timedelta(days=1)
    else:
        report_id, first, after = report_period(req.kind, local_day(
            settings, req.at, req.as_of))
    start, end = day_start(settings, first), day_start(settings, after)
    generated = utcnow().replace(microsecond=0).isoformat()
    with session_scope(engine) as session:
        figures = compute_kpis(session, start, end)
        html = render_html(report_id, req.kind, figures, generated)
        text = render_csv(figures)
        report = session.get(Report, report_id, with_for_update=True)
        if report is None:
            report = Report(id=report_id, kind=req.kind, period_start=start,
                            period_end=end)
        report.figures, report.html, report.csv = figures, html, text
        report.created_at = datetime.fromisoformat(generated)
        session.add(report)
    return ReportStored(
        id=report_id, kind=req.kind, generated=generated,
        period=f"{first.isoformat()} – {(after - timedelta(days=1)).isoformat()}",
        summary={
            "orders_received": figures["orders"]["received"],
            "orders_shipped": figures["orders"]["shipped"],
            "on_time_rate": figures["orders"]["on_time_rate"],
            "complaints": figures["complaints"]["count"],
            "resolution_within_sla_rate": figures["complaints"]["resolution_within_sla_rate"],
            "satisfaction_average": figures["satisfaction"]["average"],
        },
    )


# --- what the API and the pages ask ---------------------------------------------------------

MAX_PERIOD = timedelta(days=3700)


def period(settings: Settings, start: date | None, end: date | None) -> tuple[datetime, datetime]:
    """[start of ``start``, start of the day after ``end``) in the schedule's time zone; default
    the last 30 days; 422 for a reversed or overlong period."""
    last = end or date.today()
    first = start or last - timedelta(days=29)
    if first > last:
        raise Refused(422, "invalid_period", "from is after to", {"from": str(first),
                                                                   "to": str(last)})
    if last - first > MAX_PERIOD:
        raise Refused(422, "invalid_period", "the period is at most about ten years")
    try:
        return day_start(settings, first), day_start(settings, last + timedelta(days=1))
    except OverflowError:  # the first or last day that dates can hold
        raise Refused(422, "invalid_period", "the period is out of range of the calendar",
                      {"from": str(first), "to": str(last)}) from None


def kpis(engine: Engine, start: datetime, end: datetime) -> dict[str, Any]:
    with session_scope(engine, write=False) as session:
        return compute_kpis(session, start, end)


def list_reports(engine: Engine, page: int, page_size: int,
                 kind: str | None = None) -> dict[str, Any]:
    conds = [Report.kind == kind] if kind else []
    with session_scope(engine, write=False) as session:
        total = session.exec(select(func.count()).select_from(Report).where(*conds)).one()
        rows = session.exec(select(Report).where(*conds)
                            .order_by(col(Report.period_start).desc(), col(Report.id))
                            .offset((page - 1) * page_size).limit(page_size)).all()
    base = "/api/v1/reports"
    items = [{"id": r.id, "kind": r.kind, "period_start": r.period_start,
              "period_end": r.period_end, "created_at": r.created_at,
              "url": f"{base}/{r.id}", "csv_url": f"{base}/{r.id}?format=csv"} for r in rows]
    return {"items": items, "total": total, "page": page, "page_size": page_size}


def load_report(engine: Engine, report_id: str) -> Report:
    with session_scope(engine, write=False) as session:
        report = session.get(Report, report_id)
    if report is None:
        raise Refused(404, "not_found", f"no report {report_id}")
    return report


def report_workflow_id() -> str:
    return f"report-{uuid.uuid4().hex[:12]}"


async def start_report(client: Client, settings: Settings,
                       req: ReportRequest) -> tuple[str, WorkflowHandle[Any, ReportStored]]:
    """Start a KPI report now (the schedules start theirs by themselves)."""
    workflow_id = report_workflow_id()
    with temporal_errors():
        handle = await client.start_workflow(KpiReport.run, req, id=workflow_id,
                                             task_queue=settings.task_queue)
    return workflow_id, handle
