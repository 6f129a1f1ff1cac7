"""Live pages (issue 17.7): the inbox's and a case page's event streams send ``change`` after a
change and nothing without one, with the case page's checks (403, 404), and the pages name their
stream. Short polls and short-lived streams: each request reads a whole (bounded) stream."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import Engine, update

from shopflow.api.app import create_app
from shopflow.api.auth import create_token
from shopflow.db import session_scope
from shopflow.models import Case
from shopflow.services.scoping import record_channel
from shopflow.settings import Settings
from shopflow.ui.live import close_streams
from tests.helpers import app_for
from tests.test_ui_pages import BASE, add_case, add_task, sign_in

pytestmark = pytest.mark.asyncio


@pytest.fixture
async def ui(settings: Settings, engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    fast = settings.model_copy(update={"ui_live_poll": timedelta(milliseconds=50),
                                       "ui_live_lifetime": timedelta(milliseconds=800)})
    app = app_for(fast, engine)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
        yield client


def changes(body: str) -> list[str]:
    return re.findall(r"^event: change$", body, re.M)


async def stream_while(ui: httpx.AsyncClient, path: str, change: object = None) -> str:
    """The whole stream (it ends after its lifetime), with ``change()`` run 0.3 s into it."""
    async def later() -> None:
        await asyncio.sleep(0.3)
        if callable(change):
            change()

    r, _ = await asyncio.gather(ui.get(path), later())
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/event-stream")
    return r.text


async def test_the_inbox_stream_sends_a_change_when_a_task_appears(ui: httpx.AsyncClient,
                                                                   engine: Engine) -> None:
    add_task(engine, "t-1")
    await sign_in(ui, "dev-reviewer")
    page = await ui.get("/ui/inbox")
    live = re.search(r'<main data-live="([^"]+)"', page.text)
    assert live, "the inbox names its stream"
    stream = live.group(1).replace("&amp;", "&")
    assert stream.startswith("/ui/inbox/events?since=")

    assert changes(await stream_while(ui, stream)) == []  # nothing changed
    # another role's task is not this inbox's
    body = await stream_while(ui, stream, lambda: add_task(engine, "wh-1", kind="sample.dispatch",
                                                           role="warehouse"))
    assert changes(body) == []
    body = await stream_while(ui, stream, lambda: add_task(engine, "t-2", case_id="s-2"))
    assert len(changes(body)) == 1
    # a reconnect names the mark it has seen: a change in between is sent at once
    r = await ui.get("/ui/inbox/events", headers={"Last-Event-ID": "0" * 16})
    assert len(changes(r.text)) == 1


async def test_the_case_stream_sends_a_change_when_the_case_moves(ui: httpx.AsyncClient,
                                                                  engine: Engine) -> None:
    add_case(engine)
    await sign_in(ui, "dev-reviewer")
    page = await ui.get("/ui/cases/sample/s-1")
    live = re.search(r'<main data-live="([^"]+)"', page.text)
    assert live and live.group(1).startswith("/ui/cases/sample/s-1/events?since=")
    stream = live.group(1)
    assert changes(await stream_while(ui, stream)) == []

    def move() -> None:
        with session_scope(engine) as s:
            s.execute(update(Case).where(Case.id == "s-1").values(stage="dispatch", version=2))

    assert len(changes(await stream_while(ui, stream, move))) == 1
    # a task of the case appearing is a change of the page as well
    body = await stream_while(ui, stream.split("?")[0], lambda: add_task(engine, "t-9"))
    assert len(changes(body)) == 1


async def test_a_case_stream_only_for_those_who_may_read_the_case(ui: httpx.AsyncClient,
                                                                  engine: Engine) -> None:
    add_case(engine)
    add_case(engine, "s-mail")
    record_channel(engine, "s-1", "web", "test")
    record_channel(engine, "s-mail", "email", "test")
    assert (await ui.get("/ui/inbox/events")).status_code == 303  # sign in first
    await sign_in(ui, "dev-finance")
    r = await ui.get("/ui/cases/sample/s-1/events")
    assert r.status_code == 403 and "event:" not in r.text
    await ui.post("/ui/logout", data={})
    ui.cookies.clear()
    await sign_in(ui, create_token(engine, "channel", "web-shop", channels=["web"]))
    assert (await ui.get("/ui/cases/sample/s-1/events")).status_code == 200
    r = await ui.get("/ui/cases/sample/s-mail/events")  # another channel's case
    assert r.status_code == 404 and "event:" not in r.text
    assert (await ui.get("/ui/cases/sample/no-such/events")).status_code == 404
    assert (await ui.get("/ui/cases/order/s-1/events")).status_code == 404  # not an order


async def test_streams_end_at_once_on_shutdown(settings: Settings, engine: Engine) -> None:
    add_task(engine, "t-1")
    long = settings.model_copy(update={"ui_live_poll": timedelta(milliseconds=50),
                                       "ui_live_lifetime": timedelta(minutes=5)})
    app = create_app(long, engine=engine)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as ui:
        await sign_in(ui, "dev-reviewer")
        streaming = asyncio.create_task(ui.get("/ui/inbox/events"))
        await asyncio.sleep(0.3)
        assert not streaming.done()
        close_streams(app)
        r = await asyncio.wait_for(streaming, 5)
    assert r.status_code == 200 and changes(r.text) == []
