"""Issue 16 point 4: feedback/survey links have >= 128 random bits, are stored hashed (neither the
Temporal history nor the read-model holds a usable link), expire, are single-use and are shown
only to the roles that call customers (cs, ops)."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic import command
from sqlalchemy import text, update
from sqlmodel import col, select
from temporalio.testing import WorkflowEnvironment

from shopflow.db import make_engine, session_scope
from shopflow.migrate import alembic_config
from shopflow.models import Case, FeedbackRequest, Notice, TimelineEvent
from shopflow.models.types import utcnow
from tests.helpers import auth, form_token, wait_case
from tests.test_sample_process import (  # noqa: F401  (catalogue is a fixture)
    approve_review,
    catalogue,
    dispatch,
    pass_preliminary,
    submit,
)


async def awaiting_feedback(api: httpx.AsyncClient, tenv: WorkflowEnvironment) -> tuple[str, str]:
    sid = await submit(api)
    await pass_preliminary(api, sid)
    await approve_review(api, sid, TEA=1)
    await dispatch(api, sid)
    await tenv.sleep(timedelta(days=7, hours=1))
    view = await wait_case(api, f"/api/v1/samples/{sid}",
                           lambda c: (c.get("feedback") or {}).get("status") == "requested")
    return sid, form_token(view)


@pytest.mark.usefixtures("catalogue")
async def test_links_are_long_hashed_and_never_in_history_or_read_model(
        api: httpx.AsyncClient, tenv: WorkflowEnvironment, engine: Any) -> None:
    sid, token = await awaiting_feedback(api, tenv)
    assert len(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))) * 8 >= 128
    history = await tenv.client.get_workflow_handle(f"sample-{sid}").fetch_history()
    assert token not in history.to_json()
    digest = hashlib.sha256(token.encode()).hexdigest()
    with session_scope(engine, write=False) as s:
        rows = s.exec(select(FeedbackRequest)).all()
        assert [r.token for r in rows] == [digest]
        assert rows[0].expires_at is not None
        stored = json.dumps([c.data for c in s.exec(select(Case)).all()]
                            + [e.data for e in s.exec(select(TimelineEvent)).all()]
                            + [n.data for n in s.exec(select(Notice)).all()], default=str)
        assert token not in stored
        # The e-mail itself carries the link.
        bodies = [n.body_text for n in s.exec(select(Notice).where(
            col(Notice.kind) == "sample_feedback_request")).all()]
        assert any(f"/feedback/{token}" in b for b in bodies)
    r = await api.post(f"/api/v1/feedback/{token}", json={"satisfaction": 4})
    assert r.status_code == 200, r.text
    history = await tenv.client.get_workflow_handle(f"sample-{sid}").fetch_history()
    assert token not in history.to_json()
    # Single use.
    again = await api.post(f"/api/v1/feedback/{token}", json={"satisfaction": 5})
    assert again.status_code == 409
    assert (await api.get(f"/feedback/{token}")).status_code == 409


@pytest.mark.usefixtures("catalogue")
async def test_only_cs_and_ops_see_the_link(api: httpx.AsyncClient, tenv: WorkflowEnvironment) -> None:
    sid, token = await awaiting_feedback(api, tenv)
    for role in ("cs", "ops", "admin"):
        fb = (await api.get(f"/api/v1/samples/{sid}", headers=auth(role))).json()["feedback"]
        assert fb["url"].endswith(f"/feedback/{token}"), role
    for role in ("reviewer", "warehouse", "channel"):
        r = await api.get(f"/api/v1/samples/{sid}", headers=auth(role))
        if r.status_code == 200:
            fb = r.json()["feedback"]
            assert set(fb) == {"status"}, (role, fb)
            assert token not in r.text


@pytest.mark.usefixtures("catalogue")
async def test_links_expire(api: httpx.AsyncClient, tenv: WorkflowEnvironment,
                            engine: Any) -> None:
    _, token = await awaiting_feedback(api, tenv)
    assert (await api.get(f"/feedback/{token}")).status_code == 200
    with session_scope(engine) as s:
        s.execute(update(FeedbackRequest).values(expires_at=utcnow() - timedelta(seconds=1)))
    form = await api.get(f"/feedback/{token}")
    assert form.status_code == 409 and "expired" in form.text
    r = await api.post(f"/api/v1/feedback/{token}", json={"satisfaction": 4})
    assert r.status_code == 409


def test_the_migration_hashes_links_stored_in_clear(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    cfg = alembic_config(url)
    command.upgrade(cfg, "0001")
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO feedback_requests (token, case_id, workflow_id, kind, status, response,"
            " created_at) VALUES ('clear-old-token', 'S-1', 'sample-S-1', 'sample', 'open',"
            " 'null', '2026-01-01 00:00:00')"))
    command.upgrade(cfg, "head")
    with engine.connect() as conn:
        tokens = [r[0] for r in conn.execute(text("SELECT token FROM feedback_requests"))]
    assert tokens == [hashlib.sha256(b"clear-old-token").hexdigest()]
