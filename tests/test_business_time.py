"""Business time (issue 17.5): the pure calendar arithmetic workflows use for due times and SLAs
(shopflow/workflows/business_time.py), the settings it comes from, and cases on a calendar (an
order's task due per its kind, an enquiry's and a complaint's first-response clocks)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio.testing import WorkflowEnvironment

from shopflow.models import Notice, Task
from shopflow.services.timers import clock_of, timers_for
from shopflow.settings import Settings
from shopflow.workflows import business_time as bt
from shopflow.workflows.business_time import BusinessCalendar, TaskClock, clock_from
from shopflow.workflows.care import WeeklyStocktake
from shopflow.workflows.order_fulfilment import OrderTimers
from tests.helpers import auth, case, eventually, make_product, open_task, record_history
from tests.test_care import run as care_run
from tests.test_history_weight import ORDER
from tests.test_sample_process import approve_review, pass_preliminary, submit

SH = ZoneInfo("Asia/Shanghai")
NY = ZoneInfo("America/New_York")
H = timedelta(hours=1)


def office(zone: str = "Asia/Shanghai", holidays: str = "") -> BusinessCalendar:
    return bt.make(zone, "09:00-18:00 Mon-Fri", holidays)


def at(zone: ZoneInfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=zone)  # type: ignore[misc]


def test_hours_text() -> None:
    assert bt.parse_hours("09:00-18:00 Mon-Fri") == ([0, 1, 2, 3, 4], 540, 1080)
    assert bt.parse_hours("Mon,Wed, Sat 08:30-12:00") == ([0, 2, 5], 510, 720)
    assert bt.parse_hours("Fri-Mon 10:00-24:00") == ([0, 4, 5, 6], 600, 1440)
    assert bt.parse_hours("07:00-19:00 daily") == (list(range(7)), 420, 1140)
    for bad in ("nine to five", "18:00-09:00 Mon-Fri", "09:00-18:00 Funday", "09:00-25:00"):
        with pytest.raises(ValueError):
            bt.parse_hours(bad)


def test_holidays_file_text() -> None:
    text = "# 国庆\n2026-10-01 National Day\n2026-10-02\n\n2026-09-27 workday  # 调休\n"
    assert bt.parse_holidays(text) == (["2026-10-01", "2026-10-02"], ["2026-09-27"])
    with pytest.raises(ValueError, match="line 2"):
        bt.parse_holidays("2026-10-01\n10/02/2026\n")


def test_friday_evening_lands_next_week() -> None:
    cal = office()
    friday_5pm = at(SH, 2026, 11, 27, 17)  # a Friday
    # One hour on Friday, seven on Monday.
    assert bt.add(friday_5pm, 8 * H, cal) == at(SH, 2026, 11, 30, 16)
    # Nine on Monday, then one more on Tuesday.
    assert bt.add(friday_5pm, 11 * H, cal) == at(SH, 2026, 12, 1, 10)
    # Started at the weekend: counts from Monday 09:00.
    assert bt.add(at(SH, 2026, 11, 28, 12), 2 * H, cal) == at(SH, 2026, 11, 30, 11)
    # Started before opening: counts from 09:00; exactly a day's hours end at closing.
    assert bt.add(at(SH, 2026, 11, 30, 6), 9 * H, cal) == at(SH, 2026, 11, 30, 18)
    assert bt.add(friday_5pm, timedelta(0), cal) == friday_5pm


def test_holidays_and_make_up_workdays() -> None:
    cal = office(holidays="2026-11-30\n2026-12-05 workday\n")  # Monday off, Saturday worked
    friday_5pm = at(SH, 2026, 11, 27, 17)
    assert bt.add(friday_5pm, 8 * H, cal) == at(SH, 2026, 12, 1, 16)
    # Friday 4 December 17:00 + 8 h: one hour Friday, the make-up Saturday's seven.
    assert bt.add(at(SH, 2026, 12, 4, 17), 8 * H, cal) == at(SH, 2026, 12, 5, 16)


def test_between_counts_working_time_only() -> None:
    cal = office()
    friday_5pm = at(SH, 2026, 11, 27, 17)
    assert bt.between(friday_5pm, at(SH, 2026, 11, 30, 16), cal) == 8 * H
    assert bt.between(at(SH, 2026, 11, 28, 0), at(SH, 2026, 11, 29, 23), cal) == timedelta(0)
    assert bt.between(at(SH, 2026, 11, 30, 16), friday_5pm, cal) == timedelta(0)
    # Adding what has passed lands where it ended, inside working hours.
    start, length = at(SH, 2026, 11, 25, 15, 30), 13 * H
    assert bt.between(start, bt.add(start, length, cal), cal) == length


def test_time_zones() -> None:
    """The same instant is another local day elsewhere: the zone decides the working hours."""
    start = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)  # Fri 17:00 Shanghai, Fri 04:00 New York
    assert bt.add(start, 8 * H, office("Asia/Shanghai")) == at(SH, 2026, 11, 30, 16)
    assert bt.add(start, 8 * H, office("America/New_York")) == at(NY, 2026, 11, 27, 17)
    assert bt.add(start, 8 * H, office("UTC")) == datetime(2026, 11, 27, 17, tzinfo=UTC)


def test_daylight_saving_time() -> None:
    """New York's clocks go forward on Sunday 8 March 2026 and back on Sunday 1 November: the
    working day stays 09:00-18:00 local, its UTC instants move by an hour."""
    cal = office("America/New_York")
    friday_5pm_winter = at(NY, 2026, 3, 6, 17)  # EST, UTC-5
    due = bt.add(friday_5pm_winter, 8 * H, cal)
    assert due == at(NY, 2026, 3, 9, 16)  # EDT, UTC-4
    assert due.astimezone(UTC) == datetime(2026, 3, 9, 20, tzinfo=UTC)
    assert due - friday_5pm_winter == timedelta(days=2, hours=22)  # 71 h local, 70 h real
    autumn = bt.add(at(NY, 2026, 10, 30, 17), 8 * H, cal)
    assert autumn == at(NY, 2026, 11, 2, 16)
    assert autumn.astimezone(UTC) == datetime(2026, 11, 2, 21, tzinfo=UTC)
    # A calendar counting every hour in a zone with DST is plain time: 24 h is 24 h.
    always = bt.make("America/New_York")
    assert bt.add(at(NY, 2026, 3, 7, 12), 24 * H, always) == at(NY, 2026, 3, 8, 13)


def test_shanghai_has_no_dst() -> None:
    cal = office()
    for month in (1, 4, 7, 10):
        start = at(SH, 2026, month, 1, 9)
        while start.weekday() > 4:
            start += timedelta(days=1)
        due = bt.add(start, 9 * H, cal)
        assert due.astimezone(UTC) - start.astimezone(UTC) == 9 * H


def test_without_hours_is_plain_time() -> None:
    start = at(SH, 2026, 11, 28, 23)
    assert bt.add(start, 8 * H, None) == start + 8 * H
    assert bt.add(start, 8 * H, bt.make("Asia/Shanghai")) == start + 8 * H
    # Holidays alone: those days do not count, every other hour does.
    cal = bt.make("Asia/Shanghai", "", "2026-11-29\n")
    assert bt.add(start, 2 * H, cal) == at(SH, 2026, 11, 30, 1)
    assert bt.fraction(24 * H, 0.75) == 18 * H


def test_settings_calendar_and_kind_dues(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    holidays = tmp_path / "holidays.txt"
    holidays.write_text("2026-11-30\n", encoding="utf-8")
    monkeypatch.setenv("SHOPFLOW_TASK_DUE_ORDER_FULFIL", "PT4H")
    monkeypatch.setenv("SHOPFLOW_TASK_DUE_SAMPLE_FEEDBACK_CALL", "7200")
    s = Settings(_env_file=None, business_hours="09:00-18:00 Mon-Fri",  # type: ignore[call-arg]
                 holidays=holidays)
    assert s.timezone == "Asia/Shanghai" and s.zone_name == "Asia/Shanghai"
    assert s.task_due_for("order.fulfil") == 4 * H
    assert s.task_due_for("sample.feedback_call") == 2 * H
    assert s.task_due_for("sample.review") == s.task_due
    cal = s.business_calendar()
    assert (cal.zone, cal.days, cal.holidays) == ("Asia/Shanghai", [0, 1, 2, 3, 4],
                                                  ["2026-11-30"])
    timers = timers_for(OrderTimers, s)
    assert timers.clock == TaskClock(cal, {"order.fulfil": 4 * H,
                                           "sample.feedback_call": 2 * H})
    # Nothing set: a case gets no clock (plain time, the one due).
    monkeypatch.delenv("SHOPFLOW_TASK_DUE_ORDER_FULFIL")
    monkeypatch.delenv("SHOPFLOW_TASK_DUE_SAMPLE_FEEDBACK_CALL")
    assert clock_of(Settings(_env_file=None)) is None  # type: ignore[call-arg]
    # A clock survives continue-as-new's plain JSON.
    assert clock_from({"calendar": {"zone": "UTC", "days": [0], "start": 60, "end": 120,
                                    "holidays": [], "workdays": []},
                       "dues": {"order.fulfil": 60.0}}) == TaskClock(
        BusinessCalendar("UTC", [0], 60, 120), {"order.fulfil": timedelta(seconds=60)})


@pytest.mark.parametrize(("env", "value", "says"), [
    ("SHOPFLOW_TASK_DUE_ORDER_FULFILL", "PT1H", "no task kind ORDER_FULFILL"),
    ("SHOPFLOW_TASK_DUE_ORDER_FULFIL", "soon", "not a duration"),
    ("SHOPFLOW_TASK_DUE_BY_KIND", '{"order.fulfill": "PT4H"}', "unknown task kinds"),
    ("SHOPFLOW_BUSINESS_HOURS", "nine to five", "business hours"),
    ("SHOPFLOW_TIMEZONE", "Mars/Olympus", "unknown time zone"),
    ("SHOPFLOW_HOLIDAYS", "/nonexistent/holidays.txt", "cannot read"),
])
def test_bad_calendar_settings_refuse_to_start(monkeypatch: pytest.MonkeyPatch, env: str,
                                               value: str, says: str) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises((ValidationError, ValueError), match=says):
        Settings(_env_file=None)  # type: ignore[call-arg]


# --- cases on a calendar (the worker's time-skipping test server) -----------------------------

@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Office hours in Shanghai; a warehouse task and the enquiry and complaint clocks of 10 h,
    more than one working day holds (9 h), so each crosses a closed stretch whenever it starts."""
    return settings.model_copy(update={
        "business_hours": "09:00-18:00 Mon-Fri",
        "task_due_by_kind": {"order.fulfil": 10 * H, "sample.dispatch": 4 * H},
        "enquiry_response_sla": 10 * H, "complaint_response_sla": 10 * H})


def in_office_hours(at: datetime) -> bool:
    local = at.astimezone(SH)
    return local.weekday() < 5 and (9, 0) < (local.hour, local.minute) <= (18, 0)


async def test_due_times_and_slas_count_business_hours(
        api: httpx.AsyncClient, engine: Engine, settings: Settings,
        tenv: WorkflowEnvironment) -> None:
    cal = settings.business_calendar()
    await make_product(api, "TEA", stock=10)
    r = await api.post("/api/v1/orders", headers=auth("channel"), json=ORDER)
    assert r.status_code == 201, r.text
    fulfil = await open_task(api, "W-1", "order.fulfil", role="warehouse")
    r = await api.post("/api/v1/enquiries", headers=auth("cs"), json={
        "customer": {"id": "c-2", "name": "Wang", "email": "wang@example.com"},
        "channel": "phone", "question": "Is the tea organic?"})
    assert r.status_code == 201, r.text
    answer = await open_task(api, r.json()["id"], "enquiry.answer", role="cs")
    with Session(engine) as s:
        for t in (fulfil, answer):
            row = s.get(Task, t["id"])
            assert row is not None
            # SHOPFLOW_TASK_DUE_ORDER_FULFIL / the enquiry's SLA, in working hours only.
            assert row.due_at == bt.add(row.created_at, 10 * H, cal)
            assert row.due_at - row.created_at > 10 * H and in_office_hours(row.due_at)

    r = await api.post("/api/v1/complaints", headers=auth("channel"), json={
        "customer": {"id": "c-3", "name": "Zhao", "email": "zhao@example.com"},
        "category": "quality", "description": "The lid is cracked.", "channel": "web"})
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    handle = await open_task(api, cid, "complaint.handle", role="cs")

    async def round_clock() -> datetime | None:
        # The read-model shows the round's clock once the round's record is written (it comes
        # a step after the task's row).
        sla = (await case(api, f"/api/v1/complaints/{cid}"))["sla"]
        at = datetime.fromisoformat(sla["response_due_at"]) if sla.get("response_due_at") \
            else None
        return at if at is not None and at.tzinfo is not None else None

    due = await eventually(round_clock)
    with Session(engine) as s:
        opened = s.get(Task, handle["id"]).created_at  # type: ignore[union-attr]
    # The clock starts with the round, the task opens a step later (the same instant unless a
    # loaded machine split the workflow task): within a minute of it.
    assert abs(due - bt.add(opened, 10 * H, cal)) < timedelta(minutes=1)
    assert in_office_hours(due) and due - opened > 10 * H
    await record_history(tenv, f"complaint-{cid}", "complaint_business_hours")

    # A scheduled run's case (the week's stocktake) gets the calendar too (care.start_case).
    started = await care_run(tenv, settings, WeeklyStocktake.run, "2025-03-10")
    assert started.started == ["stocktake-20250310"]
    stocktake = await open_task(api, "stocktake-20250310", "inventory.stocktake")
    with Session(engine) as s:
        row = s.get(Task, stocktake["id"])
        assert row is not None
        assert row.due_at == bt.add(row.created_at, settings.task_due, cal)
        assert row.due_at - row.created_at > settings.task_due


async def test_a_sample_promises_its_dispatch_tasks_own_due_time(
        api: httpx.AsyncClient, engine: Engine, settings: Settings) -> None:
    """The approval notice tells the customer the dispatch task's own due time
    (SHOPFLOW_TASK_DUE_SAMPLE_DISPATCH), which the warehouse's task is due by."""
    await make_product(api, "TEA", stock=10, sample_limit=5)
    await make_product(api, "CUP", stock=4, sample_limit=3)
    sid = await submit(api)
    await pass_preliminary(api, sid)
    await approve_review(api, sid, TEA=3, CUP=2)
    task = await open_task(api, sid, "sample.dispatch", role="warehouse")
    with Session(engine) as s:
        row = s.get(Task, task["id"])
        assert row is not None and row.due_at == bt.add(row.created_at, 4 * H,
                                                        settings.business_calendar())
        approved = s.exec(select(Notice).where(Notice.case_id == sid,
                                               Notice.kind == "sample_approved")).one()
    assert approved.data["dispatch_within_hours"] == 4.0
