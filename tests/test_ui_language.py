"""One language per person (issue 17.9): the pages show zh-CN or en, never both; the browser's
Accept-Language decides until the person picks one with the switch on every page, which is
kept for them (their preferences' locale, as /ui/me and GET /api/v1/me/preferences show)
across sign-ins and browsers."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import Engine

from shopflow.db import session_scope
from shopflow.models import Task
from shopflow.models.types import utcnow
from shopflow.ui import i18n
from tests import test_search
from tests.test_ui_pages import csrf_of, sign_in

pytestmark = pytest.mark.asyncio
shop, http = test_search.shop, test_search.http  # two customers and their cases

PAGES = ("/ui/inbox", "/ui/cases", "/ui/cases/order/SO-1", "/ui/cases/complaint/k-1",
         "/ui/customers/c-wang", "/ui/dashboard", "/ui/search?q=Wang", "/ui/orders/new",
         "/ui/samples/new", "/ui/complaints/new", "/ui/enquiries/new", "/ui/ship",
         "/ui/reconciliation", "/ui/reports/steps", "/ui/returns/new?order_no=SO-1",
         "/ui/me", "/ui/invoices", "/ui/inbound-mail", "/ui/promotions", "/ui/promotions/new",
         "/ui/no-such-page")
DATA = ("王芳", "西湖茶社", "中文")  # the customers' own names (data), the language's own name
CJK = re.compile("[\u3400-\u9fff\uff00-\uffef\u3000-\u303f]")


TASKS = (("order.fulfil", "SO-1", "order"), ("order.lost_parcel", "SO-2", "order"),
         ("order.refund", "SO-2", "order"), ("complaint.handle", "k-1", "complaint"),
         ("sample.review", "a1b2c3d4e5f6", "sample"),
         ("sample.preliminary_review", "a1b2c3d4e5f6", "sample"),
         ("sample.feedback_call", "a1b2c3d4e5f6", "sample"), ("return.review", "r-1", "return"),
         ("return.inspection", "r-1", "return"), ("return.refund", "r-1", "return"),
         ("followup.problem", "followup-SO-1", "followup"))


def _tasks(engine: Engine) -> list[str]:
    """An open task of each kind with a form, on the shop's cases (``/ui/tasks/{id}``)."""
    ids = []
    with session_scope(engine) as s:
        for i, (kind, case_id, case_kind) in enumerate(TASKS):
            s.add(Task(id=f"t-{i}", kind=kind, role="ops", status="open", case_id=case_id,
                       case_kind=case_kind, workflow_id=f"{case_kind}-{case_id}",
                       due_at=utcnow() + timedelta(hours=5 - i)))
            ids.append(f"/ui/tasks/t-{i}")
    return ids


def _text(html: str) -> str:
    return re.sub(r"<[^>]+>", " ", html)


async def test_a_bilingual_text_splits_at_the_last_chinese_character() -> None:
    assert i18n.split("收件箱 Inbox") == ("收件箱", "Inbox")
    assert i18n.split("包裹丢失:选择重新发货或退款 The parcel is lost: reship.") == (
        "包裹丢失:选择重新发货或退款", "The parcel is lost: reship.")
    assert i18n.split("· 更新 Updated") == ("· 更新", "· Updated")
    assert i18n.split("(库存 stock") == ("(库存", "(stock")
    for same in ("EMS", "王芳", "已完成 ✓", "no order 订单"):
        assert i18n.split(same) == (same, same)
    assert i18n.from_header("en-US,en;q=0.9,zh-CN;q=0.8") == "en"
    assert i18n.from_header("zh-TW,zh;q=0.9,en;q=0.8") == "zh-CN"
    assert i18n.from_header("fr-FR,en;q=0.5") == "en"
    assert i18n.from_header("de, fr;q=0.x") == "en"  # neither asked for: English
    assert i18n.from_header(None) == "en"
    # templates: literals choose, expressions (data) stay
    src = '<b title="必填 required">名称 Name</b>{{ customer.name }} 单 orders{{ x("甲 A") }}'
    out = i18n.bilingual_source(src)
    assert "{{ customer.name }}" in out and "ui_t('甲', 'A')" not in out  # double quotes kept
    assert 'ui_t("甲", "A")' in out
    assert "{%+ if ui_en() +%}Name{%+ else +%}名称{%+ endif +%}" in out
    assert 'title="{%+ if ui_en() +%}required{%+ else +%}必填{%+ endif +%}"' in out


async def test_every_page_speaks_one_language(shop: None, http: httpx.AsyncClient,
                                              engine: Engine) -> None:
    tasks = _tasks(engine)
    await sign_in(http, "dev-admin")
    for path in (*PAGES, *tasks, "/ui/inbox?kind=order.fulfil", "/ui/inbox?view=overdue"):
        en = await http.get(path, headers={"Accept-Language": "en-GB,en;q=0.9"})
        assert en.status_code == (404 if "no-such" in path else 200), (path, en.status_code)
        text = _text(en.text)
        for value in DATA:
            text = text.replace(value, "")
        left = [text[max(0, m.start() - 30):m.end() + 30] for m in CJK.finditer(text)]
        assert not left, (path, left[:5])
        assert '<html lang="en">' in en.text
        zh = await http.get(path, headers={"Accept-Language": "zh-CN"})
        assert '<html lang="zh-CN">' in zh.text
        for word in ("Inbox", "Sign out", "Search", "Customer", "Status", "Cases"):
            assert not re.search(rf">\s*{word}\b", zh.text), (path, word)


async def test_the_switch_is_remembered_for_the_person(shop: None,
                                                       http: httpx.AsyncClient) -> None:
    zh = {"Accept-Language": "zh-CN,zh;q=0.9"}
    await sign_in(http, "dev-cs")
    page = await http.get("/ui/inbox", headers=zh)
    assert ">收件箱<" in page.text and ">Inbox<" not in page.text
    assert 'data-testid="language-switch"' in page.text
    r = await http.post("/ui/language", headers=zh, data={
        "csrf_token": csrf_of(page.text), "language": "en", "next": "/ui/cases?kind=order"})
    assert (r.status_code, r.headers["location"]) == (303, "/ui/cases?kind=order")
    page = await http.get("/ui/inbox", headers=zh)  # the person's choice beats the browser's
    assert ">Inbox<" in page.text and ">收件箱<" not in page.text
    me = await http.get("/api/v1/me/preferences", headers={"Authorization": "Bearer dev-cs"})
    assert me.json()["locale"] == "en"  # one language per person: their notices' too
    # another browser (no cookie), another sign-in: still English for this person
    async with httpx.AsyncClient(transport=http._transport, base_url=str(http.base_url),
                                 follow_redirects=False) as other:
        await sign_in(other, "dev-cs")
        assert ">Inbox<" in (await other.get("/ui/inbox", headers=zh)).text
    # and someone else still follows their browser
    async with httpx.AsyncClient(transport=http._transport, base_url=str(http.base_url),
                                 follow_redirects=False) as ops:
        await sign_in(ops, "dev-ops")
        assert ">收件箱<" in (await ops.get("/ui/inbox", headers=zh)).text
    r = await http.post("/ui/language", data={"csrf_token": csrf_of(page.text),
                                              "language": "fr", "next": "/ui/inbox"})
    assert r.status_code == 422 and "language" in r.text
    r = await http.post("/ui/language", data={"language": "en", "next": "/ui/inbox"})
    assert r.status_code == 403  # no CSRF token
    r = await http.post("/ui/language", data={"csrf_token": csrf_of(page.text),
                                              "language": "zh-CN", "next": "https://evil.test/"})
    assert r.headers["location"] == "/ui/"  # only pages of this site
    assert ">收件箱<" in (await http.get("/ui/inbox")).text  # the person's choice, no header


async def test_the_sign_in_page_follows_the_browser_then_the_switch(
        http: httpx.AsyncClient) -> None:
    page = await http.get("/ui/login", headers={"Accept-Language": "en-US"})
    assert '<html lang="en">' in page.text and CJK.search(_text(page.text).replace("中文", "")) \
        is None
    r = await http.post("/ui/language", data={"csrf_token": csrf_of(page.text),
                                              "language": "zh-CN", "next": "/ui/login"})
    assert r.status_code == 303
    page = await http.get("/ui/login", headers={"Accept-Language": "en-US"})
    assert '<html lang="zh-CN">' in page.text
