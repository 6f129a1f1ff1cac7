"""Escalation never takes work away (issue 14.2): an overdue task is flagged, announced and
opened to ops as well; its own role and assignee keep it; ops or admin may hand it over
(POST /tasks/{id}/assign, on the timeline and in the audit trail). Every pair (claimed or not,
before or after escalation) is walked through the API: who may claim, release, complete."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from shopflow.api.auth import create_token
from tests.helpers import auth, case, eventually, make_product, open_task
from tests.test_sample_process import submit

pytestmark = pytest.mark.asyncio


@pytest.fixture
def people(engine: Engine) -> dict[str, dict[str, str]]:
    """Two customer-service people, one ops person, one reviewer (real tokens)."""
    return {name: {"Authorization": f"Bearer {create_token(engine, role, name)}"}
            for name, role in (("alice", "cs"), ("bob", "cs"), ("olga", "ops"),
                               ("rita", "reviewer"))}


async def act(api: httpx.AsyncClient, who: dict[str, str], task: dict[str, Any], what: str,
              **body: Any) -> httpx.Response:
    url = f"/api/v1/tasks/{task['id']}/{what}"
    if what == "complete":
        return await api.post(url, headers=who, json={"decision": "approve", "data": {}})
    if what == "assign":
        return await api.post(url, headers=who, json=body)
    return await api.post(url, headers=who)


def code(r: httpx.Response) -> tuple[int, str | None]:
    return r.status_code, (r.json().get("error") or {}).get("code") if r.status_code >= 400 \
        else None


async def test_escalation_adds_ops_and_nobody_is_locked_out(
        api: httpx.AsyncClient, tenv: WorkflowEnvironment,
        people: dict[str, dict[str, str]]) -> None:
    await make_product(api, "TEA", stock=10, sample_limit=5)
    await make_product(api, "CUP", stock=4, sample_limit=3)
    alice, bob, olga, rita = (people[n] for n in ("alice", "bob", "olga", "rita"))
    sid = await submit(api)
    task = await open_task(api, sid, "sample.preliminary_review", role="cs")

    # before escalation, not claimed: the role's people claim; ops may not act (only assign)
    assert code(await act(api, olga, task, "claim")) == (403, "forbidden")
    assert code(await act(api, olga, task, "complete")) == (403, "forbidden")
    assert code(await act(api, alice, task, "claim")) == (200, None)
    # before escalation, claimed by alice: bob is kept out, alice may release and claim again
    assert code(await act(api, bob, task, "complete")) == (409, "claimed_by_other")
    assert code(await act(api, bob, task, "release")) == (409, "not_claimed_by_you")
    assert code(await act(api, alice, task, "release")) == (200, None)
    assert code(await act(api, alice, task, "claim")) == (200, None)

    await tenv.sleep(timedelta(hours=25))

    async def escalated() -> dict[str, Any] | None:
        t = (await api.get(f"/api/v1/tasks/{task['id']}", headers=auth("ops"))).json()
        return t if t["escalated"] else None

    t = await eventually(escalated)
    # flagged and opened to ops as well: its own role and assignee keep it
    assert (t["role"], t["escalation_role"], t["status"], t["assignee"], t["overdue"]) == (
        "cs", "ops", "claimed", "alice", True)
    cs_inbox = (await api.get("/api/v1/tasks", params={"case_id": sid}, headers=alice)).json()
    assert [x["id"] for x in cs_inbox["items"]] == [task["id"]]
    sample = await case(api, f"/api/v1/samples/{sid}")
    assert "task_escalated" in [e["type"] for e in sample["timeline"]]

    # after escalation, claimed by alice: she keeps it; ops cannot snatch it without assigning
    assert code(await act(api, alice, task, "release")) == (200, None)
    assert code(await act(api, alice, task, "claim")) == (200, None)
    assert code(await act(api, olga, task, "complete")) == (409, "claimed_by_other")
    assert code(await act(api, olga, task, "claim")) == (409, "claimed_by_other")
    # only ops or admin assign, and only to someone who may act on the task
    assert code(await act(api, alice, task, "assign", to="bob")) == (403, "forbidden")
    assert code(await act(api, olga, task, "assign", to="nobody")) == (422, "unknown_assignee")
    assert code(await act(api, olga, task, "assign", to="rita")) == (422, "assignee_cannot_act")
    # ops takes it over: alice is now kept out, and ops can hand it back
    r = await act(api, olga, task, "assign", to="olga")
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["assignee"]) == ("claimed", "olga")
    assert code(await act(api, alice, task, "complete")) == (409, "claimed_by_other")
    # after escalation, not claimed: the role and ops may both claim and release
    assert code(await act(api, olga, task, "release")) == (200, None)
    assert code(await act(api, olga, task, "claim")) == (200, None)
    assert code(await act(api, olga, task, "release")) == (200, None)
    assert code(await act(api, bob, task, "claim")) == (200, None)
    assert code(await act(api, bob, task, "release")) == (200, None)
    assert code(await act(api, rita, task, "claim")) == (403, "forbidden")
    assert (await act(api, olga, task, "assign", to="alice")).status_code == 200
    # the original assignee finishes it, after escalation
    r = await act(api, alice, task, "complete")
    assert r.status_code == 200, r.text
    assert code(await act(api, olga, task, "assign", to="olga")) == (409, "task_not_open")

    sample = await case(api, f"/api/v1/samples/{sid}")
    assigned = [e for e in sample["timeline"] if e["type"] == "task_assigned"]
    assert [(e["actor"], e["data"]["to"]) for e in assigned] == [("olga", "olga"),
                                                                 ("olga", "alice")]
    audit = (await api.get("/api/v1/audit", params={"entity": "task", "id": task["id"]},
                           headers=auth("ops"))).json()
    assert [a["action"] for a in audit["items"]].count("assigned") == 2


async def test_escalated_unclaimed_task_is_finished_by_ops_or_its_role(
        api: httpx.AsyncClient, tenv: WorkflowEnvironment,
        people: dict[str, dict[str, str]]) -> None:
    await make_product(api, "TEA", stock=10, sample_limit=5)
    await make_product(api, "CUP", stock=4, sample_limit=3)
    first, second = await submit(api), await submit(api)
    t1 = await open_task(api, first, "sample.preliminary_review", role="cs")
    t2 = await open_task(api, second, "sample.preliminary_review", role="cs")
    await tenv.sleep(timedelta(hours=25))
    for t in (t1, t2):
        await eventually(lambda t=t: _escalated(api, t["id"]))
    r = await act(api, people["olga"], t1, "complete")
    assert r.status_code == 200, r.text
    r = await act(api, people["bob"], t2, "complete")
    assert r.status_code == 200, r.text


async def _escalated(api: httpx.AsyncClient, task_id: str) -> bool:
    t = (await api.get(f"/api/v1/tasks/{task_id}", headers=auth("ops"))).json()
    return bool(t["escalated"])
