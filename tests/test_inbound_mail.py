"""Customers' e-mail replies reach their complaint's thread (issue 18): the webhook (token or
HMAC, once per Message-ID), the matching (plus-address, In-Reply-To of a notice, the number in
the subject; the sender must be the customer), the unmatched list customer service works, the
Reply-To of outgoing notices, and the scheduled poll of the simulator's folder."""

from __future__ import annotations

import json
import uuid
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from temporalio.testing import WorkflowEnvironment

from shopflow.db import session_scope
from shopflow.models import Notice
from shopflow.models.mail import InboundMail
from shopflow.notifications.channels import SmtpEmail
from shopflow.notifications.render import RenderedNotice
from shopflow.providers.mailbox import DirectoryMailbox, ImapMailbox, parse
from shopflow.services.inbound_mail import reply_address, reply_text, signature
from shopflow.settings import Settings
from shopflow.workflows.inbound_mail import InboundMailPoll, MailPoll, MailPolled
from tests.helpers import auth, eventually, record_history, wait_case
from tests.test_complaints import file, path
from tests.test_ui_pages import post_form, sign_in

pytestmark = pytest.mark.asyncio
CUSTOMER = "wang@example.com"


def mail(subject: str = "", sender: str = CUSTOMER, **extra: Any) -> dict[str, Any]:
    return {"message_id": f"<{uuid.uuid4().hex}@mail.example>", "from": sender,
            "to": "service@shop.example", "subject": subject,
            "text": "The photo is attached.\n\nOn Mon, Shopflow wrote:\n> About your complaint",
            **extra}


async def filed(api: httpx.AsyncClient) -> str:
    """A complaint whose workflow has stored its customer's profile (their e-mail address)."""
    cid = await file(api)

    async def known() -> bool:
        r = await api.get("/api/v1/customers/c-1", headers=auth("cs"))
        return r.status_code == 200

    await eventually(known)
    return cid


async def post(api: httpx.AsyncClient, body: dict[str, Any], role: str = "channel"
               ) -> httpx.Response:
    return await api.post("/api/v1/inbound-mail", headers=auth(role), json=body)


def customer_texts(c: dict[str, Any]) -> list[str]:
    return [m["text"] for m in c["messages"] if m["from"] == "customer"]


async def test_a_reply_joins_its_complaint_once_and_resumes_nothing_twice(
        api: httpx.AsyncClient) -> None:
    cid = await filed(api)
    body = mail(f"Re: About your complaint {cid}", sender=f"Wang Fang <{CUSTOMER.upper()}>")
    r = await post(api, body)
    assert r.status_code == 201, r.text
    got = r.json()
    assert (got["status"], got["case_id"], got["reason"], got["duplicate"]) == (
        "attached", cid, None, False)
    c = await wait_case(api, path(cid), lambda c: customer_texts(c) != [])
    assert customer_texts(c) == ["The photo is attached."]  # the quoted notice cut off
    assert any(e["type"] == "customer_message" and "by e-mail" in e["actor"]
               for e in c["timeline"])

    again = await post(api, body)  # the provider retries the webhook
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert again.json()["id"] == got["id"]
    c = await wait_case(api, path(cid), lambda c: len(c["messages"]) >= 1)
    assert customer_texts(c) == ["The photo is attached."]


async def test_matching_by_plus_address_and_by_the_notice_replied_to(
        api: httpx.AsyncClient, engine: Engine) -> None:
    cid = await filed(api)
    r = await post(api, mail("no number here", to=f"service+{cid}@shop.example",
                             text="first by plus address"))
    assert r.json()["status"] == "attached", r.text

    def received_notice() -> str | None:
        with Session(engine) as s:
            return s.exec(select(Notice.message_id).where(
                Notice.case_id == cid, Notice.kind == "complaint_received")).first()

    message_id = await eventually(received_notice)
    r = await post(api, mail("Re: your notice", in_reply_to=message_id,
                             text="second by In-Reply-To"))
    assert r.json()["status"] == "attached", r.text
    c = await wait_case(api, path(cid), lambda c: len(customer_texts(c)) == 2)
    assert customer_texts(c) == ["first by plus address", "second by In-Reply-To"]


async def test_unmatched_mail_is_listed_never_lost_and_cs_attaches_or_dismisses(
        api: httpx.AsyncClient) -> None:
    cid = await filed(api)
    stranger = await post(api, mail(f"Re: {cid}", sender="someone@else.example",
                                    text="I am her husband: the lid is cracked"))
    assert (stranger.json()["status"], stranger.json()["reason"]) == (
        "unmatched", "sender_mismatch")
    nothing = await post(api, mail("Hello", text="Do you sell green tea?"))
    assert (nothing.json()["status"], nothing.json()["reason"]) == ("unmatched", "no_reference")
    ghost = await post(api, mail("Re: CP0123456789AB", text="?"))
    assert ghost.json()["reason"] == "unknown_case"

    listed = await api.get("/api/v1/inbound-mail", params={"status": "unmatched"},
                           headers=auth("cs"))
    assert listed.status_code == 200 and listed.json()["total"] == 3
    assert (await api.get("/api/v1/inbound-mail", headers=auth("warehouse"))).status_code == 403

    mail_id = stranger.json()["id"]
    bad = await api.post(f"/api/v1/inbound-mail/{mail_id}/attach", headers=auth("cs"),
                         json={"complaint_id": "CP-NOPE"})
    assert bad.status_code == 404, bad.text
    r = await api.post(f"/api/v1/inbound-mail/{mail_id}/attach", headers=auth("cs"),
                       json={"complaint_id": cid})
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["handled_by"]) == ("attached", "dev-cs")
    twice = await api.post(f"/api/v1/inbound-mail/{mail_id}/attach", headers=auth("cs"),
                           json={"complaint_id": cid})
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "mail_not_unmatched"
    c = await wait_case(api, path(cid), lambda c: customer_texts(c) != [])
    assert customer_texts(c) == ["I am her husband: the lid is cracked"]

    r = await api.post(f"/api/v1/inbound-mail/{nothing.json()['id']}/dismiss",
                       headers=auth("cs"), json={"note": ""})
    assert r.status_code == 422
    r = await api.post(f"/api/v1/inbound-mail/{nothing.json()['id']}/dismiss",
                       headers=auth("ops"), json={"note": "an enquiry: passed to sales"})
    assert r.status_code == 200 and r.json()["status"] == "dismissed"

    # The page: the one left, with its forms; attaching it through the page.
    await sign_in(api, "dev-cs")
    inbox = await api.get("/ui/inbox")
    assert 'data-testid="unmatched-mail"' in inbox.text and "1 customer e-mail" in inbox.text
    page = await api.get("/ui/inbound-mail")
    assert page.status_code == 200
    assert f'data-testid="mail-{ghost.json()["id"]}"' in page.text
    assert f'data-testid="mail-{mail_id}"' not in page.text
    r = await post_form(api, "/ui/inbound-mail", f"/ui/inbound-mail/{ghost.json()['id']}/dismiss",
                        {"note": "spam"})
    assert r.status_code == 303 and "note=mail_dismissed" in r.headers["location"]
    left = await api.get("/api/v1/inbound-mail", params={"status": "unmatched"},
                         headers=auth("cs"))
    assert left.json()["total"] == 0


async def test_webhook_auth_token_roles_or_hmac(api: httpx.AsyncClient,
                                               settings: Settings) -> None:
    body = mail("Hello")
    assert (await post(api, body, role="cs")).status_code == 403
    assert (await api.post("/api/v1/inbound-mail", json=body)).status_code == 401
    raw = json.dumps(body).encode()
    settings.inbound_mail_secret = "s" * 40
    headers = {"Content-Type": "application/json"}
    wrong = await api.post("/api/v1/inbound-mail", content=raw, headers={
        **headers, "X-Shopflow-Signature": "sha256=00"})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "bad_signature"
    ok = await api.post("/api/v1/inbound-mail", content=raw, headers={
        **headers, "X-Shopflow-Signature": signature("s" * 40, raw)})
    assert ok.status_code == 201, ok.text
    missing = await post(api, {**mail(), "from": "not an address"})
    assert missing.status_code == 422 and "from" in missing.text


async def test_the_scheduled_poll_reads_the_simulator_folder_once(
        api: httpx.AsyncClient, settings: Settings, engine: Engine, tenv: WorkflowEnvironment,
        tmp_path: Path) -> None:
    settings.inbound_mail_dir = tmp_path / "inbound"
    cid = await filed(api)
    box = DirectoryMailbox(settings.inbound_mail_dir)
    for n, (subject, sender, text) in enumerate([
            (f"Re: About your complaint {cid}", CUSTOMER, "Replied by mail."),
            ("Unsubscribe", "x@y.example", "stop")]):
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = sender, "service@shop.example", subject
        msg["Message-ID"] = f"<poll-{n}@mail.example>"
        msg.set_content(text)
        box.drop(f"{n:03d}", bytes(msg))
    with tenv.auto_time_skipping_disabled():
        polled = await tenv.client.execute_workflow(
            InboundMailPoll.run, MailPoll(), id="inbound-mail-1", task_queue=settings.task_queue,
            result_type=MailPolled)
    assert polled == MailPolled(fetched=2, attached=1, unmatched=1, waiting=0)
    assert sorted(p.name for p in (settings.inbound_mail_dir / "done").iterdir()) == [
        "000.eml", "001.eml"]
    c = await wait_case(api, path(cid), lambda c: customer_texts(c) != [])
    assert customer_texts(c) == ["Replied by mail."]
    with tenv.auto_time_skipping_disabled():
        again = await tenv.client.execute_workflow(
            InboundMailPoll.run, MailPoll(), id="inbound-mail-2", task_queue=settings.task_queue,
            result_type=MailPolled)
    assert again.fetched == 0
    with Session(engine) as s:
        assert [m.source for m in s.exec(select(InboundMail))] == ["simulator", "simulator"]
    await record_history(tenv, "inbound-mail-1", "inbound_mail_poll")


async def test_reply_to_and_reply_text_and_imap_adapter(settings: Settings) -> None:
    settings.inbound_mail_address = "service@shop.example"
    assert reply_address(settings, "CP0011") == "service+CP0011@shop.example"
    msg = SmtpEmail(settings).message(
        "a@b.example", RenderedNotice("s", "t", "<p>t</p>", "en", "service+CP0011@shop.example"),
        "<x@y>")
    assert msg["Reply-To"] == "service+CP0011@shop.example"
    assert reply_text("Yes.\n\n在 2026年11月30日 Shopflow 写道:\n> old") == "Yes."
    assert reply_text("x" * 3000).endswith("…") and len(reply_text("x" * 3000)) == 2000

    raw = b"From: A <a@b.example>\r\nSubject: Hi\r\nMessage-ID: <m1@b>\r\n\r\nBody\r\n"

    class FakeImap:
        stored: list[str] = []

        def __init__(self, host: str, port: int) -> None:
            self.host = host

        def login(self, user: str, password: str) -> None:
            pass

        def select(self, mailbox: str) -> tuple[str, list[bytes]]:
            return "OK", [b"1"]

        def uid(self, command: str, *args: Any) -> tuple[str, list[Any]]:
            if command == "SEARCH":
                return "OK", [b"7"]
            if command == "FETCH":
                return "OK", [(b"7 (UID 7 BODY[] {60}", raw), b")"]
            FakeImap.stored.append(f"{command} {' '.join(args)}")
            return "OK", []

        def logout(self) -> None:
            pass

    settings.imap_host, settings.imap_user = "imap.example", "u"
    box = ImapMailbox(settings, factory=FakeImap)  # type: ignore[arg-type]
    fetched = box.fetch(10)
    assert [uid for uid, _ in fetched] == ["7"]
    parsed = parse(fetched[0][1], "<fallback>")
    assert (parsed.message_id, parsed.sender, parsed.text) == ("<m1@b>", "a@b.example", "Body")
    box.done("7")
    assert FakeImap.stored == ["STORE 7 +FLAGS (\\Seen)"]


async def test_mail_drop_puts_a_reply_in_the_simulator_folder(tmp_path: Path,
                                                              monkeypatch: Any) -> None:
    from typer.testing import CliRunner

    from shopflow.cli import app

    monkeypatch.setenv("SHOPFLOW_INBOUND_MAIL_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["mail", "drop", "--from", CUSTOMER, "--text", "Thanks",
                                      "--subject", "Re: CP0123456789AB"])
    assert result.exit_code == 0, result.output
    (uid, raw), = DirectoryMailbox(tmp_path).fetch(10)
    got = parse(raw, "<x>")
    assert (got.sender, got.subject, got.text) == (CUSTOMER, "Re: CP0123456789AB", "Thanks")


async def test_a_message_kept_while_temporal_was_away_is_delivered_by_the_next_poll(
        api: httpx.AsyncClient, settings: Settings, engine: Engine, tenv: WorkflowEnvironment,
        tmp_path: Path) -> None:
    from datetime import timedelta

    from shopflow.models.types import utcnow
    from shopflow.providers.mailbox import InboundMessage
    from shopflow.services.inbound_mail import keep

    settings.inbound_mail_dir = tmp_path / "empty"
    cid = await filed(api)
    # As the webhook leaves it when the Update could not reach Temporal (503): kept, received.
    row, added = keep(engine, InboundMessage("<late@mail.example>", CUSTOMER, "", f"Re: {cid}",
                                             "Still waiting for the lid."), "webhook")
    assert added and row.status == "received"
    # A write transaction (SQLite's write lock taken at its start): the new complaint's worker
    # writes meanwhile, and a read upgraded to a write would be refused "database is locked".
    with session_scope(engine) as s:
        kept = s.get(InboundMail, row.id)
        assert kept is not None
        kept.updated_at = utcnow() - timedelta(minutes=5)
        s.add(kept)
    with tenv.auto_time_skipping_disabled():
        polled = await tenv.client.execute_workflow(
            InboundMailPoll.run, MailPoll(), id="inbound-mail-retry",
            task_queue=settings.task_queue, result_type=MailPolled)
    assert (polled.fetched, polled.attached) == (0, 1)
    c = await wait_case(api, path(cid), lambda c: customer_texts(c) != [])
    assert customer_texts(c) == ["Still waiting for the lid."]
    r = await api.get(f"/api/v1/inbound-mail/{row.id}", headers=auth("cs"))
    assert (r.json()["status"], r.json()["case_id"]) == ("attached", cid)


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
async def test_every_complaint_notice_subject_carries_the_number_a_reply_is_matched_by(
        locale: str) -> None:
    from shopflow.notifications.render import NoticeRenderer
    from shopflow.services.inbound_mail import CASE_TOKEN
    from tests.test_notices_templates import example

    renderer = NoticeRenderer()
    kinds = [k for k in renderer.kinds() if k.startswith("complaint_")]
    assert len(kinds) >= 8
    for kind in kinds:
        data = {**example(kind), "complaint_no": "CP0123456789ABCDEF01234567"}
        subject = renderer.render(kind, locale, data).subject
        assert CASE_TOKEN.findall(subject) == ["CP0123456789ABCDEF01234567"], (kind, subject)
