"""Customers' e-mail replies reach their complaint's thread (issue 18; seed 003 case 1-6: the
customer answers a notice by e-mail, so "reply to this notice" is true).

A message is kept once by its Message-ID (``inbound_mails``), then matched to a complaint by, in
this order:

1. the recipient's plus-address: customer notices go out with ``Reply-To:
   <local>+<case id>@<domain>`` of ``SHOPFLOW_INBOUND_MAIL_ADDRESS``;
2. ``In-Reply-To``/``References`` naming one of our notices' Message-IDs (the outbox knows
   its case);
3. a complaint number (``CP`` and 10-24 hex digits) in the subject: every complaint notice's
   subject carries it.

and its sender must be the complaint's customer (the e-mail address on their profile). A match
is appended to the complaint like a message the customer wrote on the platform (the workflow's
``customer_message`` Update: the text in the database, the clocks resumed), sent with the
Update id ``inbound-mail-<id>`` so a retry is answered, not added twice. Anything else is kept
``unmatched`` with its reason, listed for customer service (``GET /inbound-mail``, the page
``/ui/inbound-mail``), who attach it to a complaint or dismiss it with a note: never lost. A
message kept but not yet delivered (Temporal away) stays ``received``; the webhook's retry or
the next poll delivers it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, func, update
from sqlmodel import col, select
from temporalio.client import Client

from shopflow.db import insert_ignore, session_scope
from shopflow.models import Case, Complaint, Customer, Notice
from shopflow.models.mail import InboundMail
from shopflow.models.types import utcnow
from shopflow.providers.mailbox import InboundMessage, Mailbox, parse
from shopflow.services import cases
from shopflow.services.audit import audit
from shopflow.services.errors import Refused
from shopflow.settings import Settings
from shopflow.workflows.complaint import CustomerMessage
from shopflow.workflows.vocab import CaseKind

CASE_TOKEN = re.compile(r"\b(CP[0-9A-F]{10,24})\b")
MESSAGE_IDS = re.compile(r"<[^<>\s]+>")
# A reply's own words: the quoted message below it is cut ("On … wrote:", "> " lines, the
# Chinese clients' "原始邮件" separator, an Outlook "From:" block).
QUOTE_START = re.compile(
    r"^(On .{0,200} wrote:|在.{0,100}写道[::]|-{2,}\s*(原始邮件|Original Message)\s*-{2,}|"
    r"From: .+|发件人[::].+)\s*$", re.M)
MAX_TEXT = 2000  # as a message through POST /complaints/{id}/messages
RETRY_AFTER = timedelta(minutes=1)  # a "received" message older than this is delivered again


@dataclass
class Polled:
    fetched: int = 0
    attached: int = 0
    unmatched: int = 0
    waiting: int = 0  # kept, not yet delivered (Temporal away): the next poll tries again


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signed(settings: Settings, body: bytes, header: str | None) -> bool:
    """The webhook's HMAC: ``X-Shopflow-Signature: sha256=<hex of HMAC-SHA256(body)>``."""
    if not settings.inbound_mail_secret or not header:
        return False
    return hmac.compare_digest(signature(settings.inbound_mail_secret, body), header.strip())


def reply_text(body: str) -> str:
    """The customer's own words: the quoted notice below them cut, at most MAX_TEXT chars."""
    cut = QUOTE_START.search(body)
    text = body[:cut.start()] if cut else body
    lines = [line for line in text.splitlines() if not line.lstrip().startswith(">")]
    text = "\n".join(lines).strip() or body.strip()
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT - 1] + "…"


def reply_address(settings: Settings, case_id: str | None) -> str | None:
    """``Reply-To`` of a customer notice about a case: ``local+<case id>@domain``."""
    address = settings.inbound_mail_address
    if not address or not case_id or "@" not in address:
        return None
    local, _, domain = address.partition("@")
    return f"{local}+{case_id}@{domain}"


def plus_case(recipient: str) -> str | None:
    local = recipient.partition("@")[0]
    if "+" not in local:
        return None
    return local.partition("+")[2] or None


def references(row: InboundMail) -> list[str]:
    return MESSAGE_IDS.findall(f"{row.in_reply_to or ''} {row.references or ''}")


def _candidates(session: Any, row: InboundMail) -> list[str]:
    found: list[str] = []
    case_id = plus_case(row.recipient)
    if case_id:
        found.append(case_id)
    ids = references(row)
    if ids:
        found += [c for c in session.exec(select(Notice.case_id).where(
            col(Notice.message_id).in_(ids), col(Notice.case_id).is_not(None))).all() if c]
    found += CASE_TOKEN.findall(row.subject or "")
    return list(dict.fromkeys(found))


def locate(engine: Engine, row: InboundMail) -> tuple[str | None, str | None]:
    """(complaint id, None) for a reply of the complaint's customer; else (case id or None,
    why it is unmatched)."""
    with session_scope(engine, write=False) as session:
        candidates = _candidates(session, row)
        if not candidates:
            return None, "no_reference"
        reason = "unknown_case"
        for case_id in candidates:
            case = session.get(Case, case_id)
            if case is None:
                continue
            if case.kind != CaseKind.COMPLAINT:
                reason = "not_a_complaint"
                continue
            complaint = session.get(Complaint, case_id)
            customer = session.get(Customer, complaint.customer_id) if complaint else None
            if customer is None or not customer.email or (
                    customer.email.strip().lower() != row.sender.strip().lower()):
                return case_id, "sender_mismatch"
            return case_id, None
    return None, reason


def keep(engine: Engine, mail: InboundMessage, source: str) -> tuple[InboundMail, bool]:
    """The message's row, once per Message-ID; and whether this call added it."""
    now = utcnow()
    with session_scope(engine) as session:
        added = insert_ignore(session, InboundMail, [{
            "message_id": mail.message_id[:998], "sender": mail.sender[:320],
            "recipient": mail.to[:320], "subject": mail.subject[:998], "body": mail.text,
            "in_reply_to": (mail.in_reply_to or None) and mail.in_reply_to[:998],
            "references": mail.references, "source": source, "status": "received",
            "received_at": now, "updated_at": now}], ["message_id"])
        row = session.exec(select(InboundMail).where(
            InboundMail.message_id == mail.message_id[:998])).one()
        session.expunge(row)
    return row, bool(added)


def _settle(engine: Engine, mail_id: int, status: str, *, case_id: str | None,
            reason: str | None, actor: str | None = None, note: str | None = None,
            expect: str = "received") -> InboundMail:
    with session_scope(engine) as session:
        session.execute(update(InboundMail).where(
            col(InboundMail.id) == mail_id, col(InboundMail.status) == expect,
        ).values(status=status, case_id=case_id, reason=reason, handled_by=actor, note=note,
                 updated_at=utcnow()))
        row = session.get(InboundMail, mail_id)
        assert row is not None
        if actor is not None:
            audit(session, actor, "inbound_mail", str(mail_id), status,
                  {"status": expect}, {"status": status, "case_id": case_id, "note": note})
        session.expunge(row)
    return row


async def _append(client: Client, engine: Engine, row: InboundMail, complaint_id: str,
                  actor: str) -> str | None:
    """Append the mail to the complaint's messages; None, or why it could not be."""
    assert row.id is not None
    text = reply_text(row.body)
    try:
        wf = await asyncio.to_thread(cases.case_workflow_id, engine, CaseKind.COMPLAINT,
                                     complaint_id)
        await cases.send_update(client, wf, "customer_message", CustomerMessage(text, actor),
                                dict, update_id=f"inbound-mail-{row.id}")
    except Refused as err:
        if err.status >= 500:
            raise
        return err.code
    return None


async def deliver(client: Client, engine: Engine, row: InboundMail) -> InboundMail:
    """A kept message to its complaint, or to the unmatched list. Temporal away: it stays
    ``received`` (503), for the retry or the next poll."""
    assert row.id is not None
    if row.status != "received":
        return row
    complaint_id, reason = await asyncio.to_thread(locate, engine, row)
    if reason is None and complaint_id is not None:
        reason = await _append(client, engine, row, complaint_id,
                               f"customer by e-mail <{row.sender}>")
    status = "attached" if reason is None else "unmatched"
    return await asyncio.to_thread(_settle, engine, row.id, status, case_id=complaint_id,
                                   reason=reason)


async def receive(client: Client, engine: Engine, mail: InboundMessage, source: str
                  ) -> tuple[InboundMail, bool]:
    """Keep and deliver one message; (its row, whether it was a repeat)."""
    row, added = await asyncio.to_thread(keep, engine, mail, source)
    return await deliver(client, engine, row), not added


async def attach(client: Client, engine: Engine, mail_id: int, complaint_id: str,
                 actor: str) -> InboundMail:
    """Customer service attaches an unmatched message to a complaint (say, the customer wrote
    from another address): appended as the customer's message, audited."""
    row = await asyncio.to_thread(get, engine, mail_id)
    if row.status != "unmatched":
        raise Refused(409, "mail_not_unmatched", f"this message is {row.status}",
                      {"status": row.status})
    reason = await _append(client, engine, row, complaint_id,
                           f"customer by e-mail <{row.sender}> (attached by {actor})")
    if reason is not None:
        raise Refused(409 if reason != "not_found" else 404, reason,
                      f"the message cannot be added to {complaint_id}: {reason}",
                      {"loc": ["body", "complaint_id"]})
    return await asyncio.to_thread(_settle, engine, mail_id, "attached", case_id=complaint_id,
                                   reason=None, actor=actor, expect="unmatched")


def dismiss(engine: Engine, mail_id: int, note: str, actor: str) -> InboundMail:
    row = get(engine, mail_id)
    if row.status != "unmatched":
        raise Refused(409, "mail_not_unmatched", f"this message is {row.status}",
                      {"status": row.status})
    return _settle(engine, mail_id, "dismissed", case_id=row.case_id, reason=row.reason,
                   actor=actor, note=note, expect="unmatched")


def get(engine: Engine, mail_id: int) -> InboundMail:
    with session_scope(engine, write=False) as session:
        row = session.get(InboundMail, mail_id)
        if row is None:
            raise Refused(404, "not_found", f"no inbound message {mail_id}")
        session.expunge(row)
    return row


def list_mail(engine: Engine, status: str | None, page: int, page_size: int
              ) -> tuple[list[InboundMail], int]:
    conds = [] if status is None else [InboundMail.status == status]
    with session_scope(engine, write=False) as session:
        total = session.exec(select(func.count()).select_from(InboundMail).where(*conds)).one()
        rows = list(session.exec(select(InboundMail).where(*conds)
                                 .order_by(col(InboundMail.received_at).desc(),
                                           col(InboundMail.id).desc())
                                 .offset((page - 1) * page_size).limit(page_size)).all())
        for row in rows:
            session.expunge(row)
    return rows, total


def count_unmatched(engine: Engine) -> int:
    with session_scope(engine, write=False) as session:
        return session.exec(select(func.count()).select_from(InboundMail).where(
            InboundMail.status == "unmatched")).one()


def waiting(engine: Engine, limit: int) -> list[InboundMail]:
    """Messages kept but not delivered for a while (Temporal was away)."""
    with session_scope(engine, write=False) as session:
        rows = list(session.exec(select(InboundMail).where(
            InboundMail.status == "received",
            col(InboundMail.updated_at) < utcnow() - RETRY_AFTER)
            .order_by(col(InboundMail.id)).limit(limit)).all())
        for row in rows:
            session.expunge(row)
    return rows


async def poll(client: Client, engine: Engine, settings: Settings, mailbox: Mailbox) -> Polled:
    """One poll: new messages kept (then marked done at the mailbox) and delivered, and
    messages kept earlier but not delivered tried again."""
    result = Polled()
    try:
        fetched = await asyncio.to_thread(mailbox.fetch, settings.inbound_mail_batch)
        result.fetched = len(fetched)
        rows: list[InboundMail] = []
        for uid, raw in fetched:
            mail = parse(raw, f"<{mailbox.name}.{uid}@shopflow.local>")
            row, _ = await asyncio.to_thread(keep, engine, mail, mailbox.name)
            await asyncio.to_thread(mailbox.done, uid)  # kept: safe to mark
            rows.append(row)
    finally:
        await asyncio.to_thread(mailbox.close)
    rows += await asyncio.to_thread(waiting, engine, settings.inbound_mail_batch)
    for row in rows:
        try:
            done = await deliver(client, engine, row)
        except Refused as err:
            if err.status < 500:
                raise
            result.waiting += 1
            continue
        if done.status == "attached":
            result.attached += 1
        elif done.status == "unmatched":
            result.unmatched += 1
    return result
