"""Issue 16 points 5, 6 and 8 (CSV): security headers on every HTML answer, cookies, /metrics
labels/binding/no-query scrapes, and CSV cells that cannot run as formulas."""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, event

from shopflow.api.app import create_app, create_metrics_app
from shopflow.api.metrics import TASKS
from shopflow.db import session_scope
from shopflow.models import Report, Task
from shopflow.models.types import utcnow
from shopflow.security.csvsafe import neutralise_csv, safe_cell
from shopflow.services.reports import render_csv
from shopflow.settings import Settings
from shopflow.ui.session import COOKIE
from tests.helpers import app_for, auth
from tests.test_ui_pages import sign_in

BASE = "http://shop.test"
SHOPFLOW = Path(__file__).resolve().parent.parent / "shopflow"


@pytest.fixture
async def http(settings: Settings, engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app_for(settings, engine)),
                                 base_url=BASE) as c:
        yield c


def assert_safe_html(r: httpx.Response) -> str:
    assert r.headers["content-type"].startswith("text/html"), r.headers
    csp = r.headers["content-security-policy"]
    script_src = re.search(r"script-src([^;]*)", csp)
    assert script_src and "'unsafe-inline'" not in script_src.group(1), csp
    assert "'unsafe-inline'" not in csp and "frame-ancestors 'none'" in csp, csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "same-origin"
    return csp


# --- 5. headers -------------------------------------------------------------------------------

async def test_every_html_answer_carries_the_security_headers(http: httpx.AsyncClient,
                                                              engine: Engine) -> None:
    # The feedback form and the status page (no login), the UI, the API docs.
    assert_safe_html(await http.get("/feedback/not-a-link"))
    assert_safe_html(await http.get("/status/not-a-link"))
    assert_safe_html(await http.get("/ui/login"))
    csp = assert_safe_html(await http.get("/docs"))
    assert "'sha256-" in csp  # FastAPI's own inline script, allowed by hash only
    assert "strict-transport-security" not in (await http.get("/ui/login")).headers
    # JSON answers: nosniff and the referrer policy too.
    r = await http.get("/api/v1/products", headers=auth("ops"))
    assert r.headers["x-content-type-options"] == "nosniff"
    # A stored report keeps its inline <style> (it is e-mailed as is): allowed by its hash.
    style = " body { color: #111 } "
    with session_scope(engine) as s:
        s.add(Report(id="adhoc-x", kind="adhoc", period_start=utcnow(), period_end=utcnow(),
                     figures={}, html=f"<!doctype html><style>{style}</style><p>hi</p>", csv=""))
    r = await http.get("/api/v1/reports/adhoc-x", headers=auth("ops"))
    csp = assert_safe_html(r)
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert f"'sha256-{digest}'" in csp and "<p>hi</p>" in r.text


def test_documents_have_no_inline_script_or_style() -> None:
    for path in (SHOPFLOW / "api" / "templates").glob("*.html"):
        text = path.read_text()
        assert not re.search(r"<style|<script(?![^>]*\bsrc=)|\son[a-z]+=|style=", text), path
    assert (SHOPFLOW / "ui" / "static" / "doc.css").is_file()


async def test_https_adds_hsts_and_secure_cookies(settings: Settings, engine: Engine) -> None:
    https = settings.model_copy(update={"public_url": "https://shop.example"})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(https, engine=engine)),
                                 base_url="https://shop.example") as c:
        r = await sign_in(c, "dev-ops")
        assert r.headers["strict-transport-security"].startswith("max-age=")
        cookie = next(v for v in r.headers.get_list("set-cookie") if v.startswith(COOKIE))
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie


# --- 6. metrics -------------------------------------------------------------------------------

async def test_metrics_label_route_templates_only(http: httpx.AsyncClient) -> None:
    junk = [uuid.uuid4().hex for _ in range(3)]
    for j in junk:
        await http.get(f"/ui/a/{j}")
        await http.get(f"/nowhere/{j}")
    text = (await http.get("/metrics")).text
    assert not any(j in text for j in junk)
    assert 'route="/ui/{rest}"' in text and 'route="unmatched"' in text


async def test_a_scrape_reads_no_database(http: httpx.AsyncClient, engine: Engine) -> None:
    with session_scope(engine) as s:
        s.add(Task(id="t-1", kind="sample.review", role="reviewer", status="open", case_id="s-1",
                   case_kind="sample", workflow_id="sample-s-1",
                   due_at=utcnow() - timedelta(hours=1)))
    TASKS.engine = engine
    TASKS.refresh()  # the API does this in the background
    statements: list[str] = []

    def spy(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", spy)
    try:
        text = (await http.get("/metrics")).text
    finally:
        event.remove(engine, "before_cursor_execute", spy)
    assert statements == []
    assert 'shopflow_tasks_open{kind="sample.review"} 1.0' in text
    assert 'shopflow_tasks_overdue{kind="sample.review"} 1.0' in text


async def test_metrics_bound_to_a_token_or_their_own_port(settings: Settings,
                                                          engine: Engine) -> None:
    tokened = settings.model_copy(update={"metrics_token": "m" * 40})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(tokened, engine=engine)),
                                 base_url=BASE) as c:
        assert (await c.get("/metrics")).status_code == 401
        assert (await c.get("/metrics", headers={"Authorization": "Bearer wrong"})).status_code == 401
        r = await c.get("/metrics", headers={"Authorization": f"Bearer {'m' * 40}"})
        assert r.status_code == 200 and "shopflow_http_requests_total" in r.text
    ported = settings.model_copy(update={"metrics_port": 9464})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(ported, engine=engine)),
                                 base_url=BASE) as c:
        assert (await c.get("/metrics")).status_code == 404
    async with httpx.AsyncClient(transport=httpx.ASGITransport(
            app=create_metrics_app(ported, engine)), base_url=BASE) as c:
        r = await c.get("/metrics")
        assert r.status_code == 200 and "shopflow_tasks_open" in r.text
        assert (await c.get("/api/v1/products", headers=auth("ops"))).status_code == 404


# --- 8. CSV -----------------------------------------------------------------------------------

def test_csv_cells_cannot_run_as_formulas() -> None:
    for bad in ("=1+1", "+SUM(A1)", "-2+3*cmd", "@SUM(A1)", "\t=1", "\r=1",
                '=HYPERLINK("http://x","y")'):
        assert safe_cell(bad) == "'" + bad
    for fine in ("-5", "+3.2", "1e5", "hello", "", 7, None):
        assert safe_cell(fine) == fine
    figures = {"period": {"from": "2026-01-01", "to": "2026-02-01"},
               "orders": {}, "returns": {}, "complaints": {}, "samples": {}, "satisfaction": {},
               "staff": [{"staff": '=HYPERLINK("http://evil","x")', "tasks_done": -1}]}
    text = render_csv(figures)
    assert "staff,\"'=HYPERLINK" in text and ",-1\n" in text
    stored = 'section,metric,value\nstaff,=cmd|calc,3\nstaff,x,-4\n'
    assert neutralise_csv(stored) == "section,metric,value\nstaff,'=cmd|calc,3\nstaff,x,-4\n"


async def test_report_csv_export_is_neutralised(http: httpx.AsyncClient, engine: Engine) -> None:
    with session_scope(engine) as s:  # stored before the rule
        s.add(Report(id="adhoc-y", kind="adhoc", period_start=utcnow(), period_end=utcnow(),
                     figures={}, html="", csv="section,metric,value\nstaff,@evil,1\n"))
    r = await http.get("/api/v1/reports/adhoc-y", params={"format": "csv"}, headers=auth("ops"))
    assert r.status_code == 200 and "staff,'@evil,1" in r.text
