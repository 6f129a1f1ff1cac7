"""SMS notices have their own short templates (issue 18, the customer's side): every kind a
customer may get has one in each language, renders on one line without the e-mail footer,
under 70 characters for typical data or, when there is more to say, with a link; the SMS
channel sends that text as it is, and the outbox keeps it."""

from __future__ import annotations

import re
from typing import Any

import pytest
from jinja2 import UndefinedError
from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio.testing import ActivityEnvironment

from shopflow.activities.notices import NoticeActivities
from shopflow.db import session_scope
from shopflow.models import Case, Customer, Notice
from shopflow.notifications.channels import Sms, build_channels
from shopflow.notifications.render import FOOTER, LOCALES, SMS_LIMIT, NoticeRenderer
from shopflow.settings import Settings
from shopflow.workflows.shared import NoticeRequest
from tests.test_notices_templates import CJK, TEMPLATES, example

renderer = NoticeRenderer()
# Notices for staff: they go to the ops mailbox or a person's e-mail, never by SMS.
STAFF_KINDS = frozenset({
    "complaint_escalated", "kpi_report", "notice_failed", "order_refund_failed",
    "overdue_summary", "promotion_report", "return_repair_reminder", "staff_digest",
    "task_assigned", "task_due_soon", "task_escalated", "task_new"})
# Customer notices without a case (no status page link is added to them).
NO_CASE = frozenset({"bank_details_request", "birthday_greeting", "promotion_announced"})
CUSTOMER_KINDS = sorted(set(renderer.kinds()) - STAFF_KINDS)
# A real status link as notices carry it: a case id, an expiry and a signature.
STATUS_URL = "https://shop.example.com/status/UlQtM0YyQTlDMUI3RC4xNzY0NDk2MDAw.q2v3Xm9P0aLk"
URL = re.compile(r"https?://\S+")


def typical(kind: str) -> dict[str, Any]:
    data = example(kind)
    if kind not in NO_CASE:
        data["status_url"] = STATUS_URL  # every case's notice gets one when rendered
    return data


def test_every_customer_kind_has_an_sms_template_and_staff_kinds_none() -> None:
    sms = set(renderer.kinds("sms"))
    assert set(CUSTOMER_KINDS) <= sms, f"no SMS template: {sorted(set(CUSTOMER_KINDS) - sms)}" \
        " (add shopflow/notifications/templates/<locale>/sms/<kind>.txt, block text)"
    assert not sms & STAFF_KINDS
    assert sms <= set(renderer.kinds()), "an SMS template without its e-mail template"
    for kind in sms:
        missing = [loc for loc in LOCALES if not renderer.has(f"sms/{kind}", loc)]
        assert not missing, f"sms/{kind} missing in {missing}"


@pytest.mark.parametrize("kind", CUSTOMER_KINDS)
def test_an_sms_is_one_short_line_without_the_footer_or_has_a_link(kind: str) -> None:
    for locale in LOCALES:
        sms = renderer.render(kind, locale, typical(kind), "sms")
        text = sms.text
        assert sms.html == "" and sms.locale == locale
        assert sms.subject == renderer.render(kind, locale, typical(kind)).subject
        assert "\n" not in text and text == text.strip()
        assert all(footer not in text for footer in FOOTER.values()), f"{locale}/{kind}"
        assert "None" not in text, f"{locale}/sms/{kind}: 'None' in {text!r}"
        words = URL.sub("", text)
        assert len(words) <= SMS_LIMIT, f"{locale}/sms/{kind}: {len(words)} characters " \
            f"besides links ({text!r}): shorten it, and link the rest"
        assert len(text) <= SMS_LIMIT or URL.search(text), \
            f"{locale}/sms/{kind} is {len(text)} characters and has no link: {text!r}"
        source = (TEMPLATES / locale / "sms" / f"{kind}.txt").read_text(encoding="utf-8")
        if locale == "en":
            assert not CJK.search(source), f"en/sms/{kind}.txt has Chinese text: translate it"
        else:
            assert CJK.search(source), f"zh-CN/sms/{kind}.txt has no Chinese text"


def test_an_sms_takes_the_variables_its_e_mail_may_go_without() -> None:
    """A variable the e-mail template treats as optional (``is defined``, ``|default``) is
    optional in the SMS too: the workflow may not pass it."""
    for kind in CUSTOMER_KINDS:
        for locale in LOCALES:
            source = (TEMPLATES / locale / f"{kind}.txt").read_text(encoding="utf-8")
            optional = set(re.findall(r"(\w+) is defined", source)) | set(
                re.findall(r"(\w+)\|default", source))
            data = {k: v for k, v in typical(kind).items() if k not in optional}
            renderer.render(kind, locale, data, "sms")


def test_an_sms_with_a_variable_missing_fails_instead_of_leaving_a_blank() -> None:
    data = example("sample_shipped")
    del data["tracking_no"]
    with pytest.raises(UndefinedError, match="tracking_no"):
        renderer.render("sample_shipped", "en", data, "sms")


def test_links_the_status_page_form_and_tracking_where_there_is_more_to_say() -> None:
    shipped = renderer.render("order_shipped", "zh-CN", typical("order_shipped"), "sms").text
    assert shipped.startswith("订单 SO-20250301-000001 已发货：SF Express SF1001")
    assert "https://track.example.com/sf/SF1001" in shipped
    form = renderer.render("sample_feedback_request", "en", typical("sample_feedback_request"),
                           "sms").text
    assert "http://shop.test/feedback/0f1e2d3c4b5a69788796a5b4c3d2e1f0" in form
    approved = renderer.render("return_approved", "en", typical("return_approved"), "sms").text
    assert approved == "Return RT-3F2A9C1B7D approved: send it within 7 days. " \
                       f"More: {STATUS_URL}"
    # a staff kind has no SMS template: its e-mail text (never sent by SMS anyway)
    staff = renderer.render("task_escalated", "en", example("task_escalated"), "sms")
    assert staff.html and "Sent automatically" in staff.text


def test_the_outbox_keeps_the_sms_text_and_the_channel_sends_it_as_it_is(
        engine: Engine, settings: Settings) -> None:
    with session_scope(engine) as s:
        s.add(Customer(id="c-sms", name="Li Wei", phone="13800000000", preferred_channel="sms",
                       locale="zh-CN"))
        s.add(Case(id="RT-1", kind="return", workflow_id="return-RT-1", status="approved",
                   stage="awaiting_parcel", customer_id="c-sms", data={}))
    sent: list[str] = []

    class Recording:
        def send_sms(self, phone: str, text: str, message_id: str) -> str:
            sent.append(text)
            return "sent"

    acts = NoticeActivities(engine, settings, {**build_channels(settings),
                                               "sms": Sms(Recording())})
    data = {**example("return_repair_started"), "case_id": "RT-1"}
    data.pop("status_url")
    status = ActivityEnvironment().run(acts.send, NoticeRequest(
        "return-RT-1:repair_started", "return_repair_started", "RT-1", data,
        customer_id="c-sms"))
    assert status == "sent"
    with Session(engine) as s:
        n = s.exec(select(Notice)).one()
    assert n.channel == "sms" and n.body_html == "" and n.body_text == sent[0]
    assert n.subject.startswith("退换货 RT-3F2A9C1B7D")  # the outbox names it as the e-mail
    assert sent[0].startswith("退换货 RT-3F2A9C1B7D 已送修，预计 2025-03-20 前修好。 详情 http")
    assert "/status/" in sent[0] and "自动发送" not in sent[0]
