"""People, not only roles (issue 17.1): the inbox's views (mine, unassigned, my team, overdue)
in the API and the page, a role lead (``SHOPFLOW_ROLE_LEADS``) handing their role's tasks to
people, and assignment rules (``SHOPFLOW_ASSIGNMENT_RULES``: a key account's tasks go to its
account manager when they open)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import Engine
from sqlmodel import select

from shopflow.api.auth import create_token
from shopflow.db import session_scope
from shopflow.models import AuditEvent, Task
from shopflow.settings import Settings
from tests.helpers import app_for, auth, case, eventually, open_task
from tests.test_sample_process import submit
from tests.test_ui_pages import add_task, post_form, sign_in

pytestmark = pytest.mark.asyncio


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """lena leads customer service; key accounts' tasks go to alice (cs), VIP ones to rita (a
    reviewer, who may not act on a cs task: that rule is passed over)."""
    return settings.model_copy(update={
        "role_leads": {"cs": ["lena"]},
        "assignment_rules": {"vip": "rita", "key_account": "alice"}})


@pytest.fixture
def people(engine: Engine) -> dict[str, dict[str, str]]:
    return {name: {"Authorization": f"Bearer {create_token(engine, role, name)}"}
            for name, role in (("lena", "cs"), ("alice", "cs"), ("bob", "cs"),
                               ("rita", "reviewer"), ("olga", "ops"))}


@pytest.fixture
async def pages(settings: Settings, engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    """The app with no Temporal behind it (lists and pages read the database only)."""
    app = app_for(settings, engine)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://shop.test") as client:
        yield client


def ids(r: httpx.Response) -> set[str]:
    assert r.status_code == 200, r.text
    return {t["id"] for t in r.json()["items"]}


async def test_inbox_views_mine_unassigned_team_and_overdue(
        pages: httpx.AsyncClient, engine: Engine, people: dict[str, dict[str, str]]) -> None:
    add_task(engine, "t-open", kind="sample.preliminary_review", role="cs")
    add_task(engine, "t-alice", kind="sample.preliminary_review", role="cs", status="claimed")
    add_task(engine, "t-late", kind="complaint.handle", role="cs", due_in=timedelta(hours=-1))
    add_task(engine, "t-rev", kind="sample.review", role="reviewer")
    add_task(engine, "t-esc", kind="sample.review", role="reviewer", escalated=True)
    with session_scope(engine) as s:
        alices = s.get(Task, "t-alice")
        assert alices is not None
        alices.assignee = "alice"
        escalated = s.get(Task, "t-esc")
        assert escalated is not None
        escalated.escalation_role = "ops"
        s.add_all([alices, escalated])
    alice = people["alice"]

    async def view(who: dict[str, str], name: str) -> set[str]:
        return ids(await pages.get("/api/v1/tasks", params={"view": name}, headers=who))

    assert await view(alice, "all") == {"t-open", "t-alice", "t-late"}
    assert await view(alice, "mine") == {"t-alice"}
    assert await view(alice, "unassigned") == {"t-open", "t-late"}
    assert await view(alice, "team") == {"t-open", "t-alice", "t-late"}
    assert await view(alice, "overdue") == {"t-late"}
    olga = people["olga"]
    assert await view(olga, "all") == {"t-open", "t-alice", "t-late", "t-rev", "t-esc"}
    assert await view(olga, "team") == {"t-esc"}  # escalated to ops
    assert await view(olga, "overdue") == {"t-late", "t-esc"}
    bad = await pages.get("/api/v1/tasks", params={"view": "everything"}, headers=alice)
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["loc"][-1] == "view"

    # The page: the views are links (bookmarkable), the filters stay in the URL.
    await sign_in(pages, "dev-cs")
    page = await pages.get("/ui/inbox", params={"view": "overdue", "kind": "complaint.handle"})
    assert page.status_code == 200
    assert 'data-task="t-late"' in page.text and 'data-task="t-open"' not in page.text
    assert 'href="/ui/inbox?kind=complaint.handle&amp;view=mine"' in page.text
    assert 'action="/ui/tasks/t-late/assign"' not in page.text  # dev-cs leads nobody
    assert (await pages.get("/ui/inbox", params={"view": "nope"})).status_code == 422


async def test_a_lead_sees_the_assign_forms_of_their_role_only(
        pages: httpx.AsyncClient, engine: Engine, settings: Settings) -> None:
    add_task(engine, "t-cs", kind="sample.preliminary_review", role="cs")
    add_task(engine, "t-esc", kind="sample.review", role="reviewer", escalated=True)
    token = create_token(engine, "cs", "lena")
    create_token(engine, "cs", "alice")
    await sign_in(pages, token)
    page = (await pages.get("/ui/inbox")).text
    assert 'action="/ui/tasks/t-cs/assign"' in page
    assert '<option value="alice">' in page and '<option value="dev-cs">' in page
    assert '<option value="dev-reviewer">' not in page  # her team only


async def test_a_role_lead_hands_tasks_of_their_role_to_people(
        api: httpx.AsyncClient, catalogue: None, engine: Engine,
        people: dict[str, dict[str, str]]) -> None:
    sid = await submit(api)
    task = await open_task(api, sid, "sample.preliminary_review", role="cs")
    url = f"/api/v1/tasks/{task['id']}/assign"

    async def assign(who: str, body: Any) -> tuple[int, str | None, Any]:
        r = await api.post(url, headers=people[who], json=body)
        err = r.json().get("error") or {} if r.status_code >= 400 else {}
        return r.status_code, err.get("code"), err.get("details")

    assert (await assign("bob", {"to": "alice"}))[:2] == (403, "forbidden")  # not a lead
    assert (await assign("rita", {"to": "alice"}))[:2] == (403, "forbidden")  # another role
    assert await assign("lena", {"to": "nobody"}) == (422, "unknown_assignee", {"field": "to"})
    status, code, details = await assign("lena", {"to": "rita"})
    assert (status, code, details["field"]) == (422, "assignee_cannot_act", "to")
    status, code, details = await assign("lena", {})
    assert (status, code, details[0]["loc"]) == (422, "invalid_input", ["body", "to"])
    assert (await assign("lena", {"to": "alice", "extra": 1}))[:2] == (422, "invalid_input")
    r = await api.post(url, headers=people["lena"], json={"to": "alice"})
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["assignee"]) == ("claimed", "alice")
    mine = await api.get("/api/v1/tasks", params={"view": "mine"}, headers=people["alice"])
    assert task["id"] in ids(mine)

    async def on_timeline() -> bool:
        events = (await case(api, f"/api/v1/samples/{sid}"))["timeline"]
        return any(e["type"] == "task_assigned" and e["actor"] == "lena" for e in events)

    await eventually(on_timeline)


async def test_a_key_accounts_task_goes_to_its_account_manager_when_it_opens(
        api: httpx.AsyncClient, catalogue: None, engine: Engine,
        people: dict[str, dict[str, str]]) -> None:
    for customer, tags in (("c-key", ["vip", "key_account"]), ("c-vip", ["vip"])):
        r = await api.put(f"/api/v1/customers/{customer}", headers=auth("cs"),
                          json={"name": "Key", "tags": tags})
        assert r.status_code == 200, r.text
    key = await open_task(api, await submit(api, customer_id="c-key"),
                          "sample.preliminary_review", role="cs")
    # vip -> rita, a reviewer, may not act on a cs task: the next tag's rule (alice) applies.
    assert (key["status"], key["assignee"]) == ("claimed", "alice")
    with session_scope(engine, write=False) as s:
        row = s.exec(select(AuditEvent).where(AuditEvent.entity_id == key["id"])).one()
    assert (row.actor, row.action, row.after) == ("rule:key_account", "assigned",
                                                  {"status": "claimed", "assignee": "alice"})
    plain = await open_task(api, await submit(api, customer_id="c-vip"),
                            "sample.preliminary_review", role="cs")
    assert (plain["status"], plain["assignee"]) == ("open", None)


async def test_the_people_settings_come_from_json_and_name_real_roles(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPFLOW_ROLE_LEADS", '{"warehouse": ["wanda"]}')
    monkeypatch.setenv("SHOPFLOW_ASSIGNMENT_RULES", '{"key_account": "amy"}')
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.role_leads == {"warehouse": ["wanda"]}
    assert s.assignment_rules == {"key_account": "amy"}
    with pytest.raises(ValidationError, match="unknown roles: boss"):
        Settings(_env_file=None, role_leads={"boss": ["x"]})  # type: ignore[call-arg]


async def test_the_inbox_assign_form_says_what_went_wrong(
        api: httpx.AsyncClient, catalogue: None, engine: Engine,
        people: dict[str, dict[str, str]]) -> None:
    sid = await submit(api)
    task = await open_task(api, sid, "sample.preliminary_review", role="cs")
    token = create_token(engine, "ops", "oscar")
    await sign_in(api, token)
    r = await post_form(api, "/ui/inbox", f"/ui/tasks/{task['id']}/assign",
                        {"to": "ghost", "next": "/ui/inbox"})
    assert r.status_code == 303 and r.headers["location"].endswith("note=unknown_assignee")
    r = await post_form(api, "/ui/inbox", f"/ui/tasks/{task['id']}/assign",
                        {"to": "bob", "next": "/ui/inbox?view=team"})
    assert r.headers["location"] == "/ui/inbox?view=team&note=assigned"
    page = await api.get("/ui/inbox?view=all&note=assigned")
    assert "The task is assigned." in page.text and ">bob</small>" in page.text


async def test_ops_sees_the_workload_per_person_and_opens_a_persons_tasks(
        pages: httpx.AsyncClient, engine: Engine) -> None:
    add_task(engine, "t-a1", kind="sample.preliminary_review", role="cs")
    add_task(engine, "t-a2", kind="complaint.handle", role="cs", due_in=timedelta(hours=-2))
    add_task(engine, "t-free", kind="sample.preliminary_review", role="cs")
    add_task(engine, "t-r", kind="sample.review", role="reviewer")
    for t in ("t-a1", "t-a2"):
        with session_scope(engine) as s:
            row = s.get(Task, t)
            assert row is not None
            row.status, row.assignee = "claimed", "alice"
            s.add(row)
    one = await pages.get("/api/v1/tasks", params={"assignee": "alice"}, headers=auth("ops"))
    assert ids(one) == {"t-a1", "t-a2"}
    theirs = await pages.get("/api/v1/tasks", params={"assignee": "alice"},
                             headers=auth("reviewer"))
    assert ids(theirs) == set()  # only within what the caller sees
    await sign_in(pages, "dev-ops")
    page = (await pages.get("/ui/dashboard")).text
    table = page.split('data-testid="workload"')[1].split("</table>")[0]
    rows = [" ".join(re.sub(r"<[^>]+>", " ", "<tr" + r).split()) for r in table.split("<tr")[2:]]
    assert rows == ["alice Customer service 2 1",
                    "Unassigned Customer service 1 0",
                    "Unassigned Reviewer 1 0"], rows
    assert 'href="/ui/inbox?assignee=alice"' in page
    inbox = await pages.get("/ui/inbox", params={"assignee": "alice"})
    assert 'data-task="t-a1"' in inbox.text and 'data-task="t-free"' not in inbox.text
