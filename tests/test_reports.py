"""KPIs from known records, figure by figure, and the stored periodic report (HTML, CSV) that
the report workflow renders and mails; the reports API and its 4xx."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from shopflow.models import Case, Complaint, FeedbackRequest, Notice, Order, Task
from shopflow.settings import Settings
from shopflow.workflows.care import KpiReport
from shopflow.workflows.care_payloads import ReportRequest
from tests.helpers import auth

pytestmark = pytest.mark.asyncio

try:  # the orders' shipments table; lost parcels count as errors when it exists
    from shopflow.models.orders import Shipment
except ImportError:  # pragma: no cover
    Shipment = None  # type: ignore[assignment,misc]
try:  # the returns table (built alongside): return rates and wrong-item errors when it exists
    from shopflow.models.returns import Return
except ImportError:  # pragma: no cover
    Return = None  # type: ignore[assignment,misc]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The figures below are for periods of whole UTC days (the schedules' zone is
    Asia/Shanghai by default since SHOPFLOW_TIMEZONE)."""
    return settings.model_copy(update={"schedule_timezone": "UTC"})


def t(day: str, hour: int = 0, minute: int = 0) -> datetime:
    month, d = (int(x) for x in day.split("-"))
    return datetime(2025, month, d, hour, minute, tzinfo=UTC)


def seed(engine: Engine) -> None:
    """February 2025, with records either side of it."""
    with Session(engine) as s:
        orders = [  # order_no, customer, created, shipped, status
            ("O1", "cu-X", t("02-01", 10), t("02-01", 12), "shipped"),
            ("O2", "cu-X", t("02-02"), t("02-02", 4), "delivered"),
            ("O3", "cu-Y", t("02-03"), t("02-03", 10), "exception"),
            ("O4", "cu-Y", t("02-04"), t("02-05"), "delivered"),
            ("O5", "cu-Z", t("02-10"), None, "paid"),
            ("O6", "cu-Z", t("01-30"), t("02-01"), "delivered"),
            ("O7", "cu-Z", t("02-20"), t("03-02"), "shipped"),
            ("O8", "cu-Z", t("01-15"), None, "cancelled"),
            ("OA", "cu-A", t("03-15"), None, "paid"),      # within 90 days of cu-A's sample
            ("OB", "cu-B", t("06-10"), None, "paid"),      # too late for cu-B's sample
            ("OC", "cu-C", t("02-20"), None, "cancelled"),  # cancelled: no conversion
        ]
        for no, cust, created, shipped, status in orders:
            s.add(Order(order_no=no, customer_id=cust, status=status, total_cents=1000,
                        created_at=created, shipped_at=shipped))
        if Shipment is not None:
            s.add(Shipment(tracking_no="SF-LOST", courier="SF", order_no="O3", case_id="O3",
                           workflow_id="order-O3", status="lost", shipped_at=t("02-03", 10)))
            s.add(Shipment(tracking_no="SF-OK", courier="SF", order_no="O1", case_id="O1",
                           workflow_id="order-O1", status="delivered", shipped_at=t("02-01", 12)))
        tasks = [  # id, kind, created, due, completed, by
            ("T1", "order.fulfil", t("02-01", 10), t("02-02", 10), t("02-01", 12), "wh-ann"),
            ("T2", "order.fulfil", t("02-02"), t("02-03"), t("02-02", 4), "wh-ann"),
            ("T3", "order.fulfil", t("02-03"), t("02-04"), t("02-05"), "wh-bob"),
            ("T4", "order.fulfil", t("02-25"), t("02-26"), t("03-02"), "wh-bob"),
            ("T5", "complaint.handle", t("02-05"), t("02-06"), t("02-05", 0, 30), "cs-carol"),
            ("T6", "sample.review", t("02-05"), t("02-06"), t("02-05", 1), "system"),
        ]
        for tid, kind, created, due, completed, by in tasks:
            s.add(Task(id=tid, kind=kind, role="warehouse", status="done", case_id=tid,
                       case_kind=kind.split(".")[0], workflow_id=f"wf-{tid}", due_at=due,
                       created_at=created, completed_at=completed, completed_by=by,
                       decision={"decision": "shipped"}))
        s.add(Task(id="T7", kind="complaint.handle", role="cs", status="open", case_id="K3",
                   case_kind="complaint", workflow_id="wf-T7", due_at=t("02-21"),
                   created_at=t("02-20")))
        complaints = [  # id, created, first response, resolved, met, resp met, esc, reopened, cat
            ("K1", t("02-05"), t("02-05", 2), t("02-06"), True, True, 0, 0, "quality"),
            ("K2", t("02-10"), t("02-11", 6), t("02-15"), False, False, 2, 1, "delivery"),
            ("K3", t("02-20"), t("02-20", 4), None, None, True, 1, 0, "quality"),
            ("K4", t("01-20"), t("01-20", 1), t("01-21"), True, True, 0, 0, "billing"),
        ]
        for cid, created, first, resolved, met, resp, esc, reopened, cat in complaints:
            s.add(Complaint(id=cid, workflow_id=f"complaint-{cid}", customer_id="cu-X",
                            category=cat, status="closed" if resolved else "open", level=esc,
                            created_at=created, first_response_at=first, resolved_at=resolved,
                            resolution_sla_met=met, response_sla_met=resp, escalations=esc,
                            reopened=reopened))
        samples = [  # id, customer, created, shipped
            ("SA1", "cu-A", t("02-01"), t("02-02")),
            ("SA2", "cu-B", t("02-04"), t("02-05")),
            ("SA3", "cu-C", t("02-06"), t("02-07")),
            ("SA4", "cu-D", t("01-20"), t("01-25")),
            ("SA5", "cu-E", t("02-03"), None),
        ]
        for sid, cust, created, shipped in samples:
            shipment = {"courier": "SF", "tracking_no": sid,
                        "shipped_at": shipped.isoformat()} if shipped else None
            s.add(Case(id=sid, kind="sample", workflow_id=f"sample-{sid}",
                       status="archived" if shipped else "rejected", stage="archived",
                       customer_id=cust, data={"shipment": shipment}, created_at=created,
                       updated_at=created))
        surveys = [  # token, kind, created, status, satisfaction
            ("F1", "followup", t("02-08"), "answered", 5),
            ("F2", "followup", t("02-09"), "answered", 3),
            ("F3", "followup", t("02-10"), "closed", None),
            ("F4", "sample", t("02-11"), "answered", 4),
            ("F5", "complaint", t("02-12"), "open", None),
            ("F6", "followup", t("01-31"), "answered", 1),
        ]
        for token, kind, created, status, score in surveys:
            s.add(FeedbackRequest(token=token, case_id=token, workflow_id=f"wf-{token}",
                                  kind=kind, status=status, created_at=created,
                                  response={"satisfaction": score} if score else None))
        if Return is not None:
            returns = [  # id, order, reason (free text), category, created, closed, outcome
                ("R1", "O1", "not the tea I ordered", "wrong_item", t("02-06"), t("02-09"),
                 "refunded"),
                ("R2", "O2", "lid cracked", "quality", t("02-07"), t("02-10"), "exchanged"),
                ("R3", "O4", "leaks", "quality", t("02-08"), t("03-02"), "repaired"),
                ("R4", "O4", "changed my mind", "no_reason", t("03-05"), None, None),
                # opened in January, settled in February: its time counts, not its request
                ("R5", "O6", "stained", "quality", t("01-28"), t("02-03"), "repaired"),
                # closed in February but not settled (rejected): no resolution time
                ("R6", "O6", "too late", "no_reason", t("01-29"), t("02-01", 1), "rejected"),
            ]
            for rid, order_no, reason, category, created, closed, outcome in returns:
                s.add(Return(id=rid, workflow_id=f"return-{rid}", order_no=order_no,
                             customer_id="cu-X", kind="refund", reason=reason,
                             category=category, created_at=created, closed_at=closed,
                             outcome=outcome))
        s.commit()


LOST = 1 if Shipment is not None else 0
WRONG = 1 if Return is not None else 0
RETURNS: dict[str, Any] = {"count": 0, "rate": 0.0, "by_reason": {}}
if Return is not None:
    # by category, every one listed; the free text counts for nothing
    RETURNS = {"count": 3, "rate": 0.6, "by_reason": {
        "quality": {"count": 2, "rate": 0.4}, "wrong_item": {"count": 1, "rate": 0.2},
        "missing_item": {"count": 0, "rate": 0.0}, "damaged_in_transit": {"count": 0, "rate": 0.0},
        "no_reason": {"count": 0, "rate": 0.0}},
        # settled in February: R1 72 h (wrong item), R2 72 h, R5 144 h (quality)
        "resolution": {
            "all": {"count": 3, "hours_median": 72.0, "hours_p90": 144.0},
            "quality": {"count": 2, "hours_median": 108.0, "hours_p90": 144.0},
            "wrong_item": {"count": 1, "hours_median": 72.0, "hours_p90": 72.0},
            "missing_item": {"count": 0, "hours_median": None, "hours_p90": None},
            "damaged_in_transit": {"count": 0, "hours_median": None, "hours_p90": None},
            "no_reason": {"count": 0, "hours_median": None, "hours_p90": None}}}


def expected_figures() -> dict[str, Any]:
    return {
        "period": {"from": "2025-02-01T00:00:00+00:00", "to": "2025-03-01T00:00:00+00:00"},
        "orders": {
            "received": 7,  # O1-O5, O7 and the cancelled OC
            "shipped": 5,  # O1-O4 and O6 (taken in January, shipped 1 February)
            "processing_hours_median": 10.0,  # 2, 4, 10, 24, 48
            "processing_hours_p90": 48.0,
            "fulfilment_tasks": 3,
            "shipped_on_time": 2,
            "on_time_rate": 0.6667,
            "lost_parcels": LOST,
            "errors": LOST + WRONG,
            "error_rate": round((LOST + WRONG) / 5, 4),
        },
        "returns": RETURNS,
        "complaints": {
            "count": 3,
            "by_category": {"delivery": 1, "quality": 2},
            "responded": 3,
            "first_response_hours_median": 4.0,  # 2, 30, 4
            "first_response_hours_mean": 12.0,
            "response_within_sla": 2,
            "resolved": 2,
            "resolved_within_sla": 1,
            "resolution_within_sla_rate": 0.5,
            "escalations": 3,
            "escalated_complaints": 2,
            "reopened": 1,
            # resolved in February: K1 24 h (quality, level 0), K2 120 h (delivery, level 2)
            "resolution": {
                "all": {"count": 2, "hours_median": 72.0, "hours_p90": 120.0},
                "delivery": {"count": 1, "hours_median": 120.0, "hours_p90": 120.0},
                "quality": {"count": 1, "hours_median": 24.0, "hours_p90": 24.0}},
            "resolution_by_level": {
                "0": {"count": 1, "hours_median": 24.0, "hours_p90": 24.0},
                "2": {"count": 1, "hours_median": 120.0, "hours_p90": 120.0}},
        },
        "samples": {
            # filed in February: SA1-SA3 shipped (approved), SA5 rejected
            "applications": 4, "approved": 3, "rejected": 1, "cancelled": 0, "open": 0,
            "approval_rate": 0.75, "rejection_rate": 0.25,
            "applications_by_channel": {"unknown": {
                "applications": 4, "approved": 3, "rejected": 1, "cancelled": 0, "open": 0,
                "approval_rate": 0.75, "rejection_rate": 0.25}},
            "shipped": 3, "converted": 1, "conversion_rate": 0.3333, "window_days": 90,
            "time_to_ship_hours_median": 24.0, "time_to_ship_hours_p90": 24.0,
            "conversion_by_product": {},
            "conversion_by_channel": {"unknown": {"shipped": 3, "converted": 1,
                                                  "conversion_rate": 0.3333}}},
        "satisfaction": {
            "sent": 5, "answered": 3, "average": 4.0, "response_rate": 0.6,
            "by_kind": {
                "complaint": {"sent": 1, "answered": 0, "average": None, "response_rate": 0.0},
                "followup": {"sent": 3, "answered": 2, "average": 4.0, "response_rate": 0.6667},
                "sample": {"sent": 1, "answered": 1, "average": 4.0, "response_rate": 1.0},
            },
        },
        "staff": [
            {"staff": "cs-carol", "tasks_done": 1, "handling_minutes_median": 30.0, "overdue": 0},
            {"staff": "wh-ann", "tasks_done": 2, "handling_minutes_median": 180.0, "overdue": 0},
            {"staff": "wh-bob", "tasks_done": 1, "handling_minutes_median": 2880.0, "overdue": 1},
        ],
    }


async def test_kpis_match_the_records_figure_by_figure(
        api: httpx.AsyncClient, engine: Engine) -> None:
    seed(engine)
    r = await api.get("/api/v1/reports/kpis", params={"from": "2025-02-01", "to": "2025-02-28"},
                      headers=auth("ops"))
    assert r.status_code == 200, r.text
    got, want = r.json(), expected_figures()
    for section in want:
        assert got[section] == want[section], section


async def test_report_workflow_renders_stores_and_mails_the_report(
        api: httpx.AsyncClient, client: Client, settings: Settings, engine: Engine,
        tenv: WorkflowEnvironment) -> None:
    seed(engine)
    with tenv.auto_time_skipping_disabled():
        result = await client.execute_workflow(
            KpiReport.run, ReportRequest(kind="monthly", as_of="2025-03-01"),
            id=f"report-{uuid.uuid4().hex[:6]}", task_queue=settings.task_queue)
    assert result.id == "monthly-2025-02"
    assert result.period == "2025-02-01 – 2025-02-28"

    listed = await api.get("/api/v1/reports", headers=auth("ops"))
    assert listed.status_code == 200, listed.text
    item = listed.json()["items"][0]
    assert (item["id"], item["kind"], listed.json()["total"]) == ("monthly-2025-02", "monthly", 1)
    assert item["csv_url"] == "/api/v1/reports/monthly-2025-02?format=csv"

    html = await api.get("/api/v1/reports/monthly-2025-02", headers=auth("ops"))
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert "monthly-2025-02" in html.text and "66.7%" in html.text and "wh-bob" in html.text
    assert '<meta charset="utf-8">' in html.text
    csv = await api.get("/api/v1/reports/monthly-2025-02", params={"format": "csv"},
                        headers=auth("ops"))
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.splitlines()
    assert lines[0] == "section,metric,value"
    for row in ("orders,processing_hours_median,10.0", "orders,processing_hours_p90,48.0",
                "complaints,count,3", "samples,conversion_rate,0.3333",
                "satisfaction,average,4.0", "staff,wh-bob.overdue,1"):
        assert row in lines, row
    figures = (await api.get("/api/v1/reports/monthly-2025-02", params={"format": "json"},
                             headers=auth("ops"))).json()["figures"]
    kpis = (await api.get("/api/v1/reports/kpis",
                          params={"from": "2025-02-01", "to": "2025-02-28"},
                          headers=auth("ops"))).json()
    assert figures == kpis

    with Session(engine) as s:
        mail = s.exec(select(Notice).where(Notice.kind == "kpi_report")).one()
    assert mail.recipient == "ops@localhost" and "monthly-2025-02" in mail.subject
    assert "/api/v1/reports/monthly-2025-02?format=csv" in mail.body_text

    with tenv.auto_time_skipping_disabled():
        quarterly = await client.execute_workflow(
            KpiReport.run, ReportRequest(kind="quarterly", as_of="2025-04-01"),
            id=f"report-{uuid.uuid4().hex[:6]}", task_queue=settings.task_queue)
    assert quarterly.id == "quarterly-2025-Q1"


async def test_reports_api_on_demand_and_errors(api: httpx.AsyncClient, engine: Engine) -> None:
    seed(engine)
    r = await api.post("/api/v1/reports", headers=auth("ops"),
                       json={"kind": "adhoc", "start": "2025-02-01", "end": "2025-02-28"})
    assert r.status_code == 201, r.text
    assert r.json()["id"] == "adhoc-20250201-20250228" and r.json()["status"] == "stored"
    got = await api.get(r.json()["url"], params={"format": "json"}, headers=auth("ops"))
    assert got.json()["figures"]["complaints"]["count"] == 3

    assert (await api.post("/api/v1/reports", headers=auth("ops"),
                           json={"kind": "adhoc"})).status_code == 422
    assert (await api.post("/api/v1/reports", headers=auth("ops"),
                           json={"kind": "weekly"})).status_code == 422
    assert (await api.post("/api/v1/reports", headers=auth("cs"), json={})).status_code == 403
    assert (await api.get("/api/v1/reports")).status_code == 401
    for role in ("cs", "channel", "warehouse", "finance"):
        assert (await api.get("/api/v1/reports/kpis", headers=auth(role))).status_code == 403
        assert (await api.get("/api/v1/reports", headers=auth(role))).status_code == 403
    assert (await api.get("/api/v1/reports/kpis", headers=auth("admin"))).status_code == 200
    assert (await api.get("/api/v1/reports/nope", headers=auth("ops"))).status_code == 404
    assert (await api.get("/api/v1/reports/adhoc-20250201-20250228", params={"format": "pdf"},
                          headers=auth("ops"))).status_code == 422
    backwards = await api.get("/api/v1/reports/kpis", params={"from": "2025-03-01",
                                                              "to": "2025-02-01"},
                              headers=auth("ops"))
    assert backwards.status_code == 422 and backwards.json()["error"]["code"] == "invalid_period"
    assert (await api.get("/api/v1/reports/kpis", params={"from": "yesterday"},
                          headers=auth("ops"))).status_code == 422
    empty = await api.get("/api/v1/reports/kpis", params={"from": "2030-01-01",
                                                           "to": "2030-01-31"},
                          headers=auth("ops"))
    assert empty.status_code == 200
    assert empty.json()["orders"]["processing_hours_median"] is None
    assert empty.json()["complaints"]["resolution_within_sla_rate"] is None


async def test_report_periods_last_complete_on_the_first_else_so_far() -> None:
    from datetime import date

    from shopflow.services.reports import report_period

    assert report_period("monthly", date(2025, 3, 1)) == (
        "monthly-2025-02", date(2025, 2, 1), date(2025, 3, 1))
    assert report_period("monthly", date(2025, 3, 15)) == (
        "monthly-2025-03", date(2025, 3, 1), date(2025, 4, 1))
    assert report_period("monthly", date(2025, 1, 1))[0] == "monthly-2024-12"
    assert report_period("quarterly", date(2025, 4, 1)) == (
        "quarterly-2025-Q1", date(2025, 1, 1), date(2025, 4, 1))
    assert report_period("quarterly", date(2025, 1, 1)) == (
        "quarterly-2024-Q4", date(2024, 10, 1), date(2025, 1, 1))
    assert report_period("quarterly", date(2025, 11, 5)) == (
        "quarterly-2025-Q4", date(2025, 10, 1), date(2026, 1, 1))


async def test_kpi_edge_cases_conversion_window_offsets_and_odd_records(engine: Engine) -> None:
    """The boundaries of the figures: the 90-day conversion window (an order at the very
    moment of the shipment does not count, one at exactly 90 days does), a customer with two
    samples, a shipment time written with another UTC offset, a sample without a customer,
    a return without a reason, an answer without a whole-number score, system work."""
    from datetime import timedelta

    from shopflow.services.reports import compute_kpis

    with Session(engine) as s:
        samples = [  # id, customer, shipped_at as the workflow wrote it
            ("E1", "cu-P", "2025-02-10T08:00:00+00:00"),  # order at the same moment: no
            ("E2", "cu-Q", "2025-02-11T08:00:00+00:00"),  # order exactly 90 days later: yes
            ("E3", "cu-R", "2025-02-12T08:00:00+00:00"),  # order 90 days and 1 µs later: no
            ("E4", "cu-S", "2025-02-13T08:00:00+00:00"),  # two samples, one order after both
            ("E5", "cu-S", "2025-02-20T08:00:00+00:00"),
            ("E6", "cu-T", "2025-03-01T07:59:00+08:00"),  # 28 Feb 23:59 UTC: in February
            ("E7", "cu-T", "2025-02-01T07:59:00+08:00"),  # 31 Jan 23:59 UTC: not
            ("E8", None, "2025-02-14T08:00:00+00:00"),    # no customer: not counted
        ]
        for sid, cust, shipped in samples:
            s.add(Case(id=sid, kind="sample", workflow_id=f"sample-{sid}", status="archived",
                       stage="archived", customer_id=cust,
                       data={"shipment": {"courier": "SF", "shipped_at": shipped}},
                       created_at=t("01-25"), updated_at=t("01-25")))
        orders = [  # order_no, customer, created
            ("P1", "cu-P", t("02-10", 8)),
            ("Q1", "cu-Q", t("02-11", 8) + timedelta(days=90)),
            ("R1", "cu-R", t("02-12", 8) + timedelta(days=90, microseconds=1)),
            ("S1", "cu-S", t("03-01")),
        ]
        for no, cust, created in orders:
            s.add(Order(order_no=no, customer_id=cust, status="paid", total_cents=100,
                        created_at=created))
        for tid, by in (("X1", "system"), ("X2", "customer"), ("X3", "cs-dan")):
            s.add(Task(id=tid, kind="followup.problem", role="cs", status="done", case_id=tid,
                       case_kind="followup", workflow_id=f"wf-{tid}", due_at=t("02-03"),
                       created_at=t("02-02"), completed_at=t("02-02", 1), completed_by=by))
        for token, response in (("G1", {"satisfaction": "5"}), ("G2", {"satisfaction": 2}),
                                ("G3", {"usage": "daily"})):
            s.add(FeedbackRequest(token=token, case_id=token, workflow_id=f"wf-{token}",
                                  kind="followup", status="answered", created_at=t("02-05"),
                                  response=response))
        if Return is not None:
            for rid, reason, category in (("RE1", "", "no_reason"),
                                          ("RE2", "one cup short", "missing_item"),
                                          ("RE3", "wrong colour, not missing", "no_reason")):
                s.add(Return(id=rid, workflow_id=f"return-{rid}", order_no="P1",
                             customer_id="cu-P", kind="refund", reason=reason,
                             category=category, created_at=t("02-15")))
        s.commit()
        got = compute_kpis(s, t("02-01"), t("03-01"))

    conversion = ("shipped", "converted", "conversion_rate", "window_days")
    assert {k: got["samples"][k] for k in conversion} == {
        "shipped": 6, "converted": 3, "conversion_rate": 0.5,
        "window_days": 90}  # E2, E4, E5 of E1-E6
    assert got["staff"] == [{"staff": "cs-dan", "tasks_done": 1,
                             "handling_minutes_median": 60.0, "overdue": 0}]
    assert got["satisfaction"]["sent"] == 3 and got["satisfaction"]["answered"] == 1
    assert got["satisfaction"]["average"] == 2.0
    if Return is not None:
        by = got["returns"]["by_reason"]
        assert {k: v["count"] for k, v in by.items()} == {
            "quality": 0, "wrong_item": 0, "missing_item": 1, "damaged_in_transit": 0,
            "no_reason": 2}
        assert all(v["rate"] is None for v in by.values())
        # the missing item is a fulfilment error; words in the free text count for nothing
        assert got["orders"]["errors"] == 1


async def test_resolution_times_on_the_dashboard_and_in_the_report(engine: Engine) -> None:
    """The return and complaint resolution times (per category, per level) reach the stored
    report's HTML and CSV and the dashboard's table, from the same figures."""
    from shopflow.services import reports
    from shopflow.ui.kpis import compute, resolution_rows

    seed(engine)
    start, end = t("02-01"), t("03-01")
    with Session(engine) as s:
        figures = reports.compute_kpis(s, start, end)
    rows = {(r["process"], r["group"]): (r["count"], r["hours_median"], r["hours_p90"])
            for r in resolution_rows(figures)}
    assert rows[("complaint", "level 2")] == (1, 120.0, 120.0)
    assert rows[("complaint", "all")] == (2, 72.0, 120.0)
    if Return is not None:
        assert rows[("return", "quality")] == (2, 108.0, 144.0)
        assert ("return", "missing_item") not in rows  # nothing settled: left out
    board = compute(engine, start, end)
    assert board["resolution"] == resolution_rows(figures)
    median = {k.key: k for k in board["figures"]}
    assert median["complaint_resolution"].value == 72.0
    assert median["complaint_resolution"].detail == "p90 120.0 h · 2 resolved"
    html = reports.render_html("monthly-2025-02", "monthly", figures, "now")
    assert "Complaint resolution time" in html and "级别 Level 2" in html
    assert "Return resolution time" in html
    csv_text = reports.render_csv(figures)
    assert "complaints,resolution_by_level.2.hours_p90,120.0" in csv_text
    assert "complaints,resolution.delivery.hours_median,120.0" in csv_text
