"""Staff hear about their work (issue 17.4): a person's own preferences (API and page), a new
task's notice to its role's people as each chose (at once, in the hourly digest, or not), the
assignee alone for an assigned task, the warning at 75 % of the due time before it escalates,
the digest run, ops' daily overdue summary, and a refused address failing only its own
notice."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio.testing import WorkflowEnvironment

from shopflow.api.app import create_app
from shopflow.api.auth import create_token
from shopflow.models import AuditEvent, Notice, PersonPreference, StaffDigestItem, Task
from shopflow.services import people
from shopflow.settings import Settings
from shopflow.workflows.staff_notices import OverdueSummary, StaffDigest, StaffRun, StaffRunResult
from tests.helpers import auth, eventually, make_product, open_task, record_history
from tests.notices_support import OPS, SmtpServer, mail_settings
from tests.test_ui_pages import BASE, csrf_of, sign_in

pytestmark = pytest.mark.asyncio


@pytest.fixture
def settings(settings: Settings, smtp: SmtpServer) -> Settings:
    return mail_settings(settings, smtp)


def order(no: str) -> dict[str, Any]:
    return {
        "order_no": no, "channel": "web", "payment_method": "cod",
        "customer": {"id": f"c-{no}", "name": "Li Wei", "email": "li@example.com"},
        "items": [{"sku": "TEA", "quantity": 1, "unit_price": 68.0}],
        "shipping_address": {"name": "Li Wei", "phone": "13800000000", "line1": "1 West Lake Rd",
                             "city": "Hangzhou", "region": "Zhejiang", "postcode": "310000"},
    }


def staff_notices(engine: Engine, kind: str | None = None) -> list[Notice]:
    with Session(engine) as s:
        q = select(Notice).where(Notice.audience == "staff").order_by(col(Notice.id))
        if kind:
            q = q.where(Notice.kind == kind)
        return list(s.exec(q))


async def prefer(api: httpx.AsyncClient, who: dict[str, str], **body: Any) -> httpx.Response:
    return await api.put("/api/v1/me/preferences", headers=who, json=body)


def token(engine: Engine, role: str, name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(engine, role, name)}"}


# --- preferences ---------------------------------------------------------------------------------

async def test_my_preferences_through_the_api(api: httpx.AsyncClient, engine: Engine) -> None:
    r = await api.get("/api/v1/me/preferences", headers=auth("warehouse"))
    assert r.status_code == 200, r.text
    assert r.json() | {"updated_at": None} == {
        "name": "dev-warehouse", "role": "warehouse", "email": None, "task_notices": "off",
        "locale": None, "timezone": "Asia/Shanghai", "updated_at": None}

    refusals = [
        ({"task_notices": "now"}, "email_required", "email"),
        ({"email": "not an address", "task_notices": "off"}, "invalid_email", "email"),
    ]
    for body, code, field in refusals:
        r = await prefer(api, auth("warehouse"), **body)
        assert r.status_code == 422, r.text
        assert (r.json()["error"]["code"], r.json()["error"]["details"]["field"]) == (code, field)
    for body in ({"task_notices": "weekly"}, {"locale": "fr"}, {"colour": "red"}):
        r = await prefer(api, auth("warehouse"), **body)
        assert r.status_code == 422 and next(iter(body)) in r.text, r.text

    r = await prefer(api, auth("warehouse"), email="wanda@shop.test", task_notices="digest",
                     locale="en")
    assert r.status_code == 200, r.text
    got = (await api.get("/api/v1/me/preferences", headers=auth("warehouse"))).json()
    assert (got["email"], got["task_notices"], got["locale"]) == ("wanda@shop.test", "digest",
                                                                  "en")
    assert got["updated_at"] is not None
    # Each person has their own: cs still has none.
    assert (await api.get("/api/v1/me/preferences", headers=auth("cs"))).json()["email"] is None
    with Session(engine) as s:
        events = list(s.exec(select(AuditEvent).where(AuditEvent.entity == "person")))
    assert [(e.actor, e.entity_id, e.after and e.after["task_notices"]) for e in events] == [
        ("dev-warehouse", "dev-warehouse", "digest")]


async def test_my_preferences_page(settings: Settings, engine: Engine) -> None:
    app = create_app(settings, engine=engine)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as ui:
        await sign_in(ui, "dev-cs")
        page = await ui.get("/ui/me")
        assert page.status_code == 200 and 'data-testid="preferences"' in page.text
        assert 'href="/ui/me"' in page.text  # the header's name leads here
        r = await ui.post("/ui/me", data={"csrf_token": csrf_of(page.text), "email": "",
                                          "task_notices": "now", "locale": ""})
        assert r.status_code == 422 and 'data-testid="field-error"' in r.text
        assert "e-mail" in r.text
        r = await ui.post("/ui/me", data={"csrf_token": csrf_of(page.text),
                                          "email": "lena@shop.test", "task_notices": "now",
                                          "locale": "zh-CN"})
        assert r.status_code == 303 and r.headers["location"].endswith("note=preferences_saved")
        page = await ui.get(r.headers["location"])
        assert 'value="lena@shop.test"' in page.text
        assert 'value="now" checked' in page.text and "Asia/Shanghai" in page.text


# --- new tasks, the warning, escalation, the digest, ops' summary ---------------------------------

async def test_a_roles_people_hear_of_a_task_as_each_chose(
        api: httpx.AsyncClient, tenv: WorkflowEnvironment, engine: Engine, settings: Settings,
        smtp: SmtpServer) -> None:
    await make_product(api, "TEA", stock=10)
    walt, wes, wendy = (token(engine, "warehouse", n) for n in ("walt", "wes", "wendy"))
    assert (await prefer(api, auth("warehouse"), email="wanda@shop.test",
                         task_notices="now")).status_code == 200
    assert (await prefer(api, walt, email="walt@shop.test", task_notices="digest",
                         locale="en")).status_code == 200
    assert (await prefer(api, wendy, email="wendy@shop.test",
                         task_notices="digest")).status_code == 200
    assert (await prefer(api, wes, email="wes@shop.test", task_notices="off")).status_code == 200
    assert (await prefer(api, auth("cs"), email="lena@shop.test",
                         task_notices="now")).status_code == 200  # not the task's role
    smtp.inbox.refuse.add("wendy@shop.test")  # 550: this address never takes mail

    r = await api.post("/api/v1/orders", headers=auth("channel"), json=order("N-1"))
    assert r.status_code == 201, r.text
    task = await open_task(api, "N-1", "order.fulfil", role="warehouse")

    # At once: a mail to the person who chose "now"; kept for the digest of those who chose it.
    await eventually(lambda: [n for n in staff_notices(engine, "task_new")
                              if n.status == "sent"])
    assert [(n.recipient, n.status) for n in staff_notices(engine, "task_new")] == [
        ("wanda@shop.test", "sent")]
    assert task["id"] in smtp.inbox.to("wanda@shop.test")[0].part("plain")
    with Session(engine) as s:
        kept = sorted(i.person for i in s.exec(select(StaffDigestItem)))
    assert kept == ["walt", "wendy"]

    # 75 % of the 24 h due time: everyone who hears of tasks is warned, once, before escalation.
    await tenv.sleep(timedelta(hours=18, minutes=5))
    warned = await eventually(lambda: [n for n in staff_notices(engine, "task_due_soon")
                                       if n.status in ("sent", "failed")][2:]
                              and staff_notices(engine, "task_due_soon"))
    assert {(n.recipient, n.status) for n in warned} == {
        ("wanda@shop.test", "sent"), ("walt@shop.test", "sent"), ("wendy@shop.test", "failed")}
    assert not staff_notices(engine, "task_escalated")
    with Session(engine) as s:
        assert not s.get(Task, task["id"]).escalated  # type: ignore[union-attr]
    walt_warning = next(n for n in warned if n.recipient == "walt@shop.test")
    assert walt_warning.locale == "en" and "escalates to ops" in walt_warning.body_text

    # The due time: escalated to ops as before (its mailbox), nobody warned twice.
    await tenv.sleep(timedelta(hours=6))
    await eventually(lambda: staff_notices(engine, "task_escalated"))
    assert len(staff_notices(engine, "task_due_soon")) == 3
    assert len(smtp.inbox.to("wanda@shop.test")) == 2  # the new task and the warning
    await record_history(tenv, "order-N-1", "order_staff_notices")

    # The hourly digest: one mail per person gathering their waiting notices; a refused address
    # fails that person's digest only and the run goes on.
    with tenv.auto_time_skipping_disabled():
        first: StaffRunResult = await tenv.client.execute_workflow(
            StaffDigest.run, StaffRun(), id=f"staff-digest-{uuid.uuid4().hex[:6]}",
            task_queue=settings.task_queue)
        assert (first.sent, first.failed) == (["walt"], ["wendy"])
        digest = staff_notices(engine, "staff_digest")
        assert [(n.recipient, n.status) for n in digest] == [
            ("walt@shop.test", "sent"), ("wendy@shop.test", "failed")]
        mail = smtp.inbox.to("walt@shop.test")[-1]
        assert "1 new task for you" in mail.subject and task["id"] in mail.part("plain")
        again: StaffRunResult = await tenv.client.execute_workflow(
            StaffDigest.run, StaffRun(), id=f"staff-digest-{uuid.uuid4().hex[:6]}",
            task_queue=settings.task_queue)
        assert (again.count, len(staff_notices(engine, "staff_digest"))) == (0, 2)

        # Ops' daily summary of overdue tasks, once a day.
        summary: StaffRunResult = await tenv.client.execute_workflow(
            OverdueSummary.run, StaffRun(), id=f"overdue-{uuid.uuid4().hex[:6]}",
            task_queue=settings.task_queue)
        assert summary.count == 1
        await tenv.client.execute_workflow(
            OverdueSummary.run, StaffRun(), id=f"overdue-{uuid.uuid4().hex[:6]}",
            task_queue=settings.task_queue)
    ops_mail = [n for n in staff_notices(engine, "overdue_summary")]
    assert [(n.recipient, n.status) for n in ops_mail] == [(OPS, "sent")]
    assert task["id"] in ops_mail[0].body_text and "warehouse" in ops_mail[0].body_text
    assert not smtp.inbox.to("wes@shop.test") and not smtp.inbox.to("lena@shop.test")


async def test_the_person_a_task_is_handed_to_hears_of_it(
        api: httpx.AsyncClient, engine: Engine, smtp: SmtpServer) -> None:
    """POST /tasks/{id}/assign tells the person it was handed to (not the rest of the role);
    taking it oneself tells nobody."""
    await make_product(api, "TEA", stock=10)
    walt = token(engine, "warehouse", "walt")
    assert (await prefer(api, walt, email="walt@shop.test", task_notices="now")).status_code == 200
    r = await api.post("/api/v1/orders", headers=auth("channel"), json=order("A-1"))
    assert r.status_code == 201, r.text
    task = await open_task(api, "A-1", "order.fulfil", role="warehouse")
    await eventually(lambda: [n for n in staff_notices(engine, "task_new") if n.status == "sent"])
    assert (await prefer(api, auth("warehouse"), email="wanda@shop.test",
                         task_notices="now")).status_code == 200
    r = await api.post(f"/api/v1/tasks/{task['id']}/assign", headers=auth("ops"),
                       json={"to": "walt"})
    assert r.status_code == 200, r.text
    assigned = await eventually(lambda: [n for n in staff_notices(engine, "task_assigned")
                                         if n.status == "sent"])
    assert [n.recipient for n in assigned] == ["walt@shop.test"]
    assert "dev-ops 将一项 order.fulfil 任务分配给您" in smtp.inbox.to("walt@shop.test")[-1].part("plain")
    r = await api.post(f"/api/v1/tasks/{task['id']}/assign", headers=walt, json={"to": "walt"})
    assert r.status_code == 403, r.text  # not a lead: may not assign, nobody is told
    assert (await prefer(api, auth("admin"), email="ada@shop.test",
                         task_notices="now")).status_code == 200
    r = await api.post(f"/api/v1/tasks/{task['id']}/assign", headers=auth("admin"),
                       json={"to": "dev-admin"})
    assert r.status_code == 200, r.text  # taking it oneself: nobody is told
    assert len(staff_notices(engine, "task_assigned")) == 1
    assert not smtp.inbox.to("ada@shop.test")
    assert not smtp.inbox.to("wanda@shop.test")


async def test_an_assigned_task_is_for_its_person_only(engine: Engine, settings: Settings) -> None:
    """A task assigned (by a rule, or by hand before its notice) is for that person alone; an
    unassigned one for each of its role's people with notices on; a closed one for nobody."""
    for name, role in (("amy", "warehouse"), ("walt", "warehouse"), ("lena", "cs")):
        create_token(engine, role, name)
    now = datetime.now(UTC)
    with Session(engine) as s:
        for name in ("amy", "walt", "lena", "dev-warehouse"):
            s.add(PersonPreference(name=name, email=f"{name}@shop.test", task_notices="now"))
        s.add(PersonPreference(name="wes", email="wes@shop.test", task_notices="off"))
        for n, (assignee, status) in enumerate(((None, "open"), ("amy", "claimed"),
                                                (None, "done"))):
            s.add(Task(id=f"t{n}", kind="order.fulfil", role="warehouse", status=status,
                       case_id="W", case_kind="order", workflow_id="order-W", assignee=assignee,
                       due_at=now, context={}))
        s.commit()
        assert [p.name for p in people.recipients(s, True, "t0")] == ["amy", "dev-warehouse",
                                                                      "walt"]
        assert [p.name for p in people.recipients(s, False, "t0")] == ["amy", "walt"]
        assert [p.name for p in people.recipients(s, True, "t1")] == ["amy"]
        assert people.recipients(s, True, "t2") == []
        assert people.recipients(s, True, "nope") == []


async def test_pages_show_times_in_the_business_time_zone(settings: Settings,
                                                          engine: Engine) -> None:
    """Every time a page shows is local to SHOPFLOW_TIMEZONE (issue 17.5), the instant in UTC
    kept in the <time> element's datetime."""
    with Session(engine) as s:
        s.add(Task(id="order-Z:1:order.fulfil", kind="order.fulfil", role="warehouse",
                   status="open", case_id="Z", case_kind="order", workflow_id="order-Z",
                   due_at=datetime(2026, 12, 1, 8, 0, tzinfo=UTC), context={}))
        s.commit()
    for zone, shown in (("Asia/Shanghai", "2026-12-01 16:00 CST"),
                        ("America/New_York", "2026-12-01 03:00 EST")):
        app = create_app(settings.model_copy(update={"timezone": zone}), engine=engine)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url=BASE) as ui:
            await sign_in(ui, "dev-warehouse")
            inbox = await ui.get("/ui/inbox")
            assert inbox.status_code == 200
            assert (f'<time datetime="2026-12-01T08:00:00+00:00" title="2026-12-01 08:00 UTC">'
                    f'{shown}</time>') in inbox.text
