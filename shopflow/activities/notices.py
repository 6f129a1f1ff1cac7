"""Sending notices through the outbox: the row is written first, and only a row not yet sent is
sent, so a retry never sends twice and a crash never loses a notice."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlmodel import select
from temporalio import activity

from shopflow.db import insert_ignore, session_scope
from shopflow.models import Customer, Notice
from shopflow.models.types import utcnow
from shopflow.notifications.channels import Channel
from shopflow.notifications.render import NoticeRenderer, RenderedNotice
from shopflow.settings import Settings
from shopflow.workflows.shared import Act, NoticeRequest


class NoticeActivities:
    def __init__(self, engine: Engine, settings: Settings, channels: dict[str, Channel],
                 renderer: NoticeRenderer | None = None) -> None:
        self.engine = engine
        self.settings = settings
        self.channels = channels
        self.renderer = renderer or NoticeRenderer()

    @activity.defn(name=Act.NOTICE_SEND)
    def send(self, req: NoticeRequest) -> str:
        notice = self._write_outbox(req)
        if notice.status in ("sent", "logged"):
            return notice.status
        return self.deliver(notice.id)  # type: ignore[arg-type]

    def _write_outbox(self, req: NoticeRequest) -> Notice:
        with session_scope(self.engine) as session:
            found = session.exec(select(Notice).where(Notice.dedup_key == req.dedup_key)).first()
            if found is not None:
                return found
            customer = session.get(Customer, req.customer_id) if req.customer_id else None
            locale = customer.locale if customer else "zh-CN"
            if customer is None:
                channel, recipient = "email", self.settings.ops_email
            elif customer.email:
                channel, recipient = "email", customer.email
            elif customer.phone:
                channel, recipient = "sms", customer.phone
            else:
                channel, recipient = "log", f"customer:{customer.id}"
            rendered = self.renderer.render(
                req.kind, locale, {"public_url": self.settings.public_url, **req.data}
            )
            insert_ignore(session, Notice.__table__, [{
                "dedup_key": req.dedup_key, "case_id": req.case_id, "kind": req.kind,
                "recipient": recipient, "channel": channel, "locale": rendered.locale,
                "subject": rendered.subject, "body_text": rendered.text,
                "body_html": rendered.html, "status": "pending", "attempts": 0,
                "created_at": utcnow(),
            }], ["dedup_key"])
            return session.exec(select(Notice).where(Notice.dedup_key == req.dedup_key)).one()

    def deliver(self, notice_id: int) -> str:
        """Send one pending notice. The attempt is counted before sending; the status after."""
        with session_scope(self.engine) as session:
            notice = session.get(Notice, notice_id, with_for_update=True)
            assert notice is not None
            if notice.status in ("sent", "logged"):
                return notice.status
            notice.attempts += 1
            session.add(notice)
        rendered = RenderedNotice(notice.subject, notice.body_text, notice.body_html,
                                  notice.locale)
        try:
            status = self.channels[notice.channel].send(notice.recipient, rendered,
                                                        notice.dedup_key)
        except Exception as err:
            with session_scope(self.engine) as session:
                failed = session.get(Notice, notice_id)
                assert failed is not None
                failed.last_error = f"{type(err).__name__}: {err}"[:500]
                failed.status = "failed"
                session.add(failed)
            raise
        with session_scope(self.engine) as session:
            done = session.get(Notice, notice_id)
            assert done is not None
            done.status, done.sent_at, done.last_error = status, utcnow(), None
            session.add(done)
        return status
