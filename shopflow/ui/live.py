"""Live pages (issue 17.7): the inbox and a case page update by themselves.

API replicas share only the database, so each page's event stream polls it: every
``SHOPFLOW_UI_LIVE_POLL`` one light aggregate query yields a *mark* (a short hash of what the page
shows: the case's version and stage, its tasks; the viewer's open tasks), and a changed mark is
sent as a server-sent event ``change`` whose ``id`` is the new mark. The page's ui.js then fetches
the page again and swaps its ``<main>``. A stream ends after ``SHOPFLOW_UI_LIVE_LIFETIME`` (the
sign-in is checked again when the browser reconnects), or at once on shutdown
(``close_streams``), and the browser reconnects with ``Last-Event-ID``: a change in between is
sent at once. The page passes the mark it was drawn at
(``?since=``), so nothing between drawing and connecting is lost either.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import suppress
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy import Engine, func
from sqlalchemy import select as sa_select
from sqlmodel import col

from shopflow.api.errors import ApiError
from shopflow.db import session_scope
from shopflow.models import Case, Task
from shopflow.services import tasks
from shopflow.services.scoping import visible
from shopflow.ui.pages import PageRoute, signed_in, svc_of, ui
from shopflow.workflows.shared import Actor
from shopflow.workflows.vocab import READ_ROLES

router = APIRouter(prefix="/ui", route_class=PageRoute, include_in_schema=False)
Mark = Annotated[str | None, Query(max_length=64, pattern="^[0-9a-f]*$")]
KEEP_ALIVE = 15.0  # seconds between comments that keep proxies from closing a quiet stream


def _mark(row: Any) -> str:
    return hashlib.sha256(repr(tuple(row)).encode()).hexdigest()[:16]


def inbox_mark(engine: Engine, actor: Actor) -> str:
    """What the viewer's inbox shows, as a mark: its open tasks (the inbox's own conditions)
    counted, the newest, the assigned and escalated ones."""
    conds = tasks.task_conditions(actor)
    with session_scope(engine, write=False) as session:
        row = session.execute(sa_select(
            func.count(), func.max(Task.created_at), func.count(col(Task.assignee)),
            func.min(Task.assignee), func.max(Task.assignee),
            func.count(col(Task.escalation_role))).where(*conds)).one()
    return _mark(row)


def case_mark(engine: Engine, kind: str, case_id: str) -> str | None:
    """What the case page shows, as a mark (None: no such case): the read-model's version, status
    and stage, and its tasks (each new one, each claimed or done)."""
    of_case = col(Task.case_id) == case_id
    task_count = sa_select(func.count()).where(of_case).scalar_subquery()
    newest = sa_select(func.max(Task.created_at)).where(of_case).scalar_subquery()
    done = sa_select(func.count(col(Task.completed_at))).where(of_case).scalar_subquery()
    taken = sa_select(func.count(col(Task.assignee))).where(of_case).scalar_subquery()
    with session_scope(engine, write=False) as session:
        columns: list[Any] = [Case.kind, Case.version, Case.updated_at, Case.status, Case.stage,
                              task_count, newest, done, taken]
        row = session.execute(sa_select(*columns).where(col(Case.id) == case_id)).first()
    return _mark(row) if row is not None and row[0] == kind else None


@router.get("/inbox/events")
async def inbox_events(request: Request, since: Mark = None) -> Response:
    """The inbox's stream: a ``change`` when the viewer's open tasks change."""
    user = await signed_in(request)
    svc = svc_of(request)
    actor = Actor(user.name, user.role)
    return _stream(request, since, lambda: svc.db(inbox_mark, svc.engine, actor))


@router.get("/cases/{kind}/{case_id}/events")
async def case_events(request: Request, kind: str, case_id: str, since: Mark = None) -> Response:
    """A case page's stream: a ``change`` when the case moves or its tasks change. The case
    page's checks: 403 for a role that may not read the process, 404 for another channel's
    case or none."""
    user = await signed_in(request)
    readers = READ_ROLES.get(kind)
    if readers is not None and not user.has(*readers):
        raise ApiError(403, "forbidden", f"role {user.role} may not read {kind} cases")
    svc = svc_of(request)
    if (not await svc.db(visible, svc.engine, user, kind, case_id)
            or await svc.db(case_mark, svc.engine, kind, case_id) is None):
        raise ApiError(404, "not_found", f"no {kind} {case_id}")
    return _stream(request, since, lambda: svc.db(case_mark, svc.engine, kind, case_id))


def close_streams(app: FastAPI) -> None:
    """On shutdown: every open stream ends now (the browsers reconnect to another replica), so
    the server does not wait out their lifetime."""
    app.state.ui.closing.set()


def _stream(request: Request, since: str | None,
            read: Callable[[], Awaitable[str | None]]) -> StreamingResponse:
    settings = svc_of(request).settings
    closing = ui(request).closing
    last = request.headers.get("last-event-id") or since
    poll = settings.ui_live_poll.total_seconds()
    lifetime = settings.ui_live_lifetime.total_seconds()

    async def events() -> AsyncIterator[str]:
        nonlocal last
        started = quiet = time.monotonic()
        yield f"retry: {int(poll * 1000) + 1000}\n\n"
        while True:
            mark = await read()
            if last is not None and mark != last:
                yield f"event: change\nid: {mark or ''}\ndata: {mark or 'gone'}\n\n"
                quiet = time.monotonic()
            elif last is None:  # the first look: the browser remembers it for a reconnect
                yield f"id: {mark or ''}\n\n"
            last = mark
            if (mark is None or closing.is_set()  # the case is gone: the page shows its 404
                    or time.monotonic() - started + poll > lifetime):
                return
            if time.monotonic() - quiet > KEEP_ALIVE:
                yield ": keep-alive\n\n"
                quiet = time.monotonic()
            with suppress(TimeoutError):
                await asyncio.wait_for(closing.wait(), poll)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
