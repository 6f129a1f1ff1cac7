"""Delivery channels: email over SMTP, SMS through an adapter, and log-only.

Every channel calls ``handover()`` right before the point of no return, the moment after which
the provider may hold the message (for SMTP: after the server said 354 to DATA, before the
message and its final dot go out). The outbox records that moment; see activities/notices.py
for why it matters. A channel raises ``DeliveryError`` when the provider certainly did not take
the message (``permanent`` when retrying cannot help: a refused recipient, a bad password) and
``DeliveryUncertain`` when it may have (the connection died while waiting for the answer).

Without SMTP configured, email is log-only (the dev default); SMS goes through the adapter named
by ``SHOPFLOW_SMS_ADAPTER`` (``package.module:Class``, built with the settings), by default one
that only logs.
"""

from __future__ import annotations

import hashlib
import importlib
import re
import smtplib
import ssl
from collections.abc import Callable
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formatdate, parseaddr
from typing import Protocol

import structlog

from shopflow.notifications.render import RenderedNotice
from shopflow.settings import Settings

log = structlog.get_logger(__name__)

Handover = Callable[[], None]


class DeliveryError(Exception):
    """The provider did not take the notice. ``permanent``: retrying cannot help."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class DeliveryUncertain(Exception):
    """The notice was handed over and the provider's answer never came."""


class Channel(Protocol):
    name: str

    def send(self, recipient: str, notice: RenderedNotice, message_id: str,
             handover: Handover) -> str:
        """Deliver; return the outbox status (``sent`` or ``logged``)."""
        ...


def message_id_for(dedup_key: str, sender: str) -> str:
    """A Message-ID that is the same for every attempt at one notice, so a mail system or a
    reader can recognise a duplicate we could not rule out."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "shopflow.local"
    return f"<notice.{hashlib.sha256(dedup_key.encode()).hexdigest()[:32]}@{domain}>"


class SmtpEmail:
    name = "email"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def message(self, recipient: str, notice: RenderedNotice, message_id: str) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.settings.smtp_from
        msg["To"] = recipient
        msg["Subject"] = notice.subject
        msg["Date"] = formatdate(usegmt=True)
        msg["Message-ID"] = message_id
        msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies, please
        if notice.reply_to:  # the customer's reply finds its case (services/inbound_mail.py)
            msg["Reply-To"] = notice.reply_to
        # Quoted-printable keeps the message 7-bit: any server takes it as it is.
        msg.set_content(notice.text, cte="quoted-printable")
        msg.add_alternative(notice.html, subtype="html", cte="quoted-printable")
        msg["Content-Language"] = notice.locale  # after the parts: set_content clears Content-*
        return msg

    def send(self, recipient: str, notice: RenderedNotice, message_id: str,
             handover: Handover) -> str:
        s = self.settings
        assert s.smtp_host
        payload = self.message(recipient, notice, message_id).as_bytes(policy=SMTP_POLICY)
        sender = parseaddr(s.smtp_from)[1] or s.smtp_from
        try:
            smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout)
        except (OSError, smtplib.SMTPException) as err:
            raise DeliveryError(f"SMTP server {s.smtp_host}:{s.smtp_port} unreachable: "
                                f"{type(err).__name__}: {err}") from err
        try:
            self._greet(smtp)
            _expect(smtp.mail(sender), (250,), "MAIL FROM")
            _expect(smtp.rcpt(recipient), (250, 251), f"RCPT TO {recipient}")
            _expect(smtp.docmd("DATA"), (354,), "DATA")
            handover()
            try:
                smtp.send(_dot_stuffed(payload))
                code, reply = smtp.getreply()
            except (OSError, smtplib.SMTPServerDisconnected) as err:
                raise DeliveryUncertain(
                    f"no answer from the SMTP server after the message: {err}") from err
            if code != 250:
                raise DeliveryError(f"message refused: {code} {_text(reply)}", permanent=code >= 500)
        except smtplib.SMTPResponseException as err:
            raise DeliveryError(f"SMTP {err.smtp_code} {_text(err.smtp_error)}",
                                permanent=err.smtp_code >= 500) from err
        except ssl.SSLCertVerificationError as err:
            raise DeliveryError(f"SMTP server certificate: {err}", permanent=True) from err
        except (OSError, smtplib.SMTPException) as err:
            raise DeliveryError(f"SMTP: {type(err).__name__}: {err}") from err
        finally:
            _close(smtp)
        return "sent"

    def _greet(self, smtp: smtplib.SMTP) -> None:
        s = self.settings
        smtp.ehlo()
        if s.smtp_starttls and smtp.has_extn("starttls"):
            context = ssl.create_default_context(
                cafile=str(s.smtp_ca_file) if s.smtp_ca_file else None)
            smtp.starttls(context=context)
            smtp.ehlo()
        elif s.smtp_starttls and s.smtp_user:
            # Never send the password in clear because a server (or someone in between)
            # stopped offering STARTTLS. SHOPFLOW_SMTP_STARTTLS=false allows it deliberately.
            raise DeliveryError("the SMTP server offers no STARTTLS; not sending credentials "
                                "in clear", permanent=True)
        if s.smtp_user:
            try:
                smtp.login(s.smtp_user, s.smtp_password or "")
            except smtplib.SMTPNotSupportedError as err:
                raise DeliveryError("the SMTP server offers no AUTH", permanent=True) from err


def _expect(answer: tuple[int, bytes], codes: tuple[int, ...], what: str) -> None:
    code, reply = answer
    if code not in codes:
        raise DeliveryError(f"{what}: {code} {_text(reply)}", permanent=code >= 500)


def _dot_stuffed(payload: bytes) -> bytes:
    data = re.sub(rb"(?m)^\.", b"..", payload)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


def _text(reply: bytes | str) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)


def _close(smtp: smtplib.SMTP) -> None:
    # After the server's answer nothing may turn a delivered message into an error.
    try:
        smtp.quit()
    except Exception:
        smtp.close()


class SmsAdapter(Protocol):
    """Talks to an SMS provider. Raise ``DeliveryError`` when the provider certainly did not
    take the message; any other exception counts as "may have been sent" and is not retried.
    ``message_id`` is stable across attempts: pass it on where the provider deduplicates.
    Return ``"logged"`` when nothing was really sent, else ``"sent"``."""

    def send_sms(self, phone: str, text: str, message_id: str) -> str: ...


class LogSms:
    """The default SMS adapter: no provider is reachable from here, so it logs."""

    def __init__(self, settings: Settings | None = None) -> None:
        pass

    def send_sms(self, phone: str, text: str, message_id: str) -> str:
        log.info("sms", to=phone, text=text, id=message_id)
        return "logged"


class Sms:
    name = "sms"

    def __init__(self, adapter: SmsAdapter) -> None:
        self.adapter = adapter

    def send(self, recipient: str, notice: RenderedNotice, message_id: str,
             handover: Handover) -> str:
        # An SMS rendering (its own short template, no HTML) goes as it is; a notice rendered
        # as e-mail (a kind without an SMS template, a row from before) as subject and text.
        text = notice.text if not notice.html else f"{notice.subject}\n{notice.text}"
        handover()
        try:
            return self.adapter.send_sms(recipient, text, message_id)
        except DeliveryError:
            raise
        except Exception as err:
            raise DeliveryUncertain(f"SMS adapter: {type(err).__name__}: {err}") from err


class LogOnly:
    """Where no provider is configured: the notice is recorded in the outbox and logged."""

    def __init__(self, name: str) -> None:
        self.name = name

    def send(self, recipient: str, notice: RenderedNotice, message_id: str,
             handover: Handover) -> str:
        handover()
        log.info("notice", channel=self.name, to=recipient, subject=notice.subject, id=message_id)
        return "logged"


def load_sms_adapter(settings: Settings) -> SmsAdapter:
    if not settings.sms_adapter:
        return LogSms(settings)
    module, _, cls = settings.sms_adapter.partition(":")
    factory = getattr(importlib.import_module(module), cls)
    return factory(settings)  # type: ignore[no-any-return]


def build_channels(settings: Settings) -> dict[str, Channel]:
    email: Channel = SmtpEmail(settings) if settings.smtp_host else LogOnly("email")
    return {"email": email, "sms": Sms(load_sms_adapter(settings)), "log": LogOnly("log")}
