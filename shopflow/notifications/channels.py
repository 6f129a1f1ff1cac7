"""Delivery channels. Email goes over SMTP when a host is configured; SMS goes through an adapter
whose default only logs (no SMS provider is reachable from here). Without SMTP, notices stay in the
outbox as ``logged``: the dev default."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from typing import Protocol

import structlog

from shopflow.notifications.render import RenderedNotice
from shopflow.settings import Settings

log = structlog.get_logger(__name__)


class Channel(Protocol):
    name: str

    def send(self, recipient: str, notice: RenderedNotice, message_id: str) -> str:
        """Deliver; return the outbox status (``sent`` or ``logged``). Raise on failure."""


class SmtpEmail:
    name = "email"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def send(self, recipient: str, notice: RenderedNotice, message_id: str) -> str:
        s = self.settings
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = s.smtp_from, recipient, notice.subject
        # A stable Message-ID lets a mail server or client drop a duplicate we could not rule out.
        msg["Message-ID"] = f"<{message_id}@shopflow>"
        msg["Content-Language"] = notice.locale
        msg.set_content(notice.text)
        msg.add_alternative(notice.html, subtype="html")
        assert s.smtp_host
        with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=20) as smtp:
            if s.smtp_starttls and smtp.has_extn("starttls"):
                smtp.starttls()
            if s.smtp_user:
                smtp.login(s.smtp_user, s.smtp_password or "")
            smtp.send_message(msg)
        return "sent"


class LogOnly:
    """Where no provider is configured: the notice is recorded in the outbox and logged."""

    def __init__(self, name: str) -> None:
        self.name = name

    def send(self, recipient: str, notice: RenderedNotice, message_id: str) -> str:
        log.info("notice", channel=self.name, to=recipient, subject=notice.subject, id=message_id)
        return "logged"


def build_channels(settings: Settings) -> dict[str, Channel]:
    email: Channel = SmtpEmail(settings) if settings.smtp_host else LogOnly("email")
    return {"email": email, "sms": LogOnly("sms"), "log": LogOnly("log")}
