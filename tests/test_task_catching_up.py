"""An open task row whose workflow does not know the task yet: the workflow task that wrote the
row with a local activity was lost (Temporal or the worker stopped; the drill
test_drill_temporal_down_then_up met it) and runs again shortly. A decision or an assignment
sent meanwhile is answered 503 task_not_ready with Retry-After, so the client retries, not 404
(the inbox shows the task)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from shopflow.db import session_scope
from shopflow.models import Task
from tests.helpers import auth, open_task
from tests.test_complaints import file

pytestmark = pytest.mark.asyncio


async def test_a_task_row_its_workflow_has_not_reopened_is_retryable(
        api: httpx.AsyncClient, engine: Engine) -> None:
    cid = await file(api)
    known: dict[str, Any] = await open_task(api, cid, "complaint.handle")
    ghost = f"{known['id']}-again"  # the row a lost workflow task wrote, not yet in its state
    with session_scope(engine) as session:
        session.add(Task(id=ghost, kind=known["kind"], role=known["role"], case_id=cid,
                         case_kind="complaint", workflow_id=f"complaint-{cid}",
                         due_at=datetime.now(UTC) + timedelta(hours=4), context={}))
    r = await api.post(f"/api/v1/tasks/{ghost}/complete", headers=auth(known["role"]),
                       json={"decision": "resolve", "data": {"resolution": "Replaced."}})
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "task_not_ready" and r.headers["Retry-After"]
    r = await api.post(f"/api/v1/tasks/{ghost}/assign", headers=auth("ops"),
                       json={"to": f"dev-{known['role']}"})
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "task_not_ready"
    # the task its workflow knows is decided as ever
    r = await api.post(f"/api/v1/tasks/{known['id']}/complete", headers=auth(known["role"]),
                       json={"decision": "resolve", "data": {"resolution": "Replaced."}})
    assert r.status_code == 200, r.text
