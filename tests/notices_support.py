"""A real SMTP server for the notice tests (aiosmtpd in a thread), which counts what arrives and
can refuse or defer chosen recipients."""

from __future__ import annotations

import asyncio
import email
import socket
import ssl
import subprocess
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from shopflow.settings import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage
    tls: bool
    login: str | None

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    def part(self, subtype: str) -> str:
        body = self.message.get_body(preferencelist=(subtype,))
        assert body is not None, f"no text/{subtype} part"
        return str(body.get_content())  # type: ignore[attr-defined]


@dataclass
class Inbox:
    """The aiosmtpd handler: every accepted message, in order."""

    messages: list[Received] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)  # 550 at RCPT
    defer: set[str] = field(default_factory=set)  # 451 at RCPT
    hold: float = 0.0  # seconds a message is held, taken but not yet answered 250
    holding: threading.Event = field(default_factory=threading.Event)  # one is held now
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        if address in self.defer:
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.original_content or envelope.content,
                                           policy=default_policy)
        auth = session.auth_data
        login = auth.login.decode() if isinstance(auth, LoginPassword) else None
        with self.lock:
            self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos),
                                          message, session.ssl is not None, login))  # type: ignore[arg-type]
        if self.hold:  # the message is ours; the sender waits for the answer meanwhile
            self.holding.set()
            await asyncio.sleep(self.hold)
        return "250 Message accepted"

    def to(self, address: str) -> list[Received]:
        with self.lock:
            return [m for m in self.messages if address in m.recipients]


class SmtpServer:
    """aiosmtpd on a fixed port, which a test can stop and start again (an outage)."""

    def __init__(self, inbox: Inbox | None = None, port: int | None = None, **smtp: Any) -> None:
        self.inbox = inbox or Inbox()
        self.port = port or free_port()
        self.smtp = smtp
        self.controller: Controller | None = None

    def start(self) -> SmtpServer:
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port,
                                     ready_timeout=10, **self.smtp)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


OPS = "ops@shop.test"


def mail_settings(settings: Settings, server: SmtpServer, **extra: Any) -> Settings:
    """The settings that send notices to ``server`` (plain SMTP, ops at OPS)."""
    return settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": server.port,
                                       "smtp_starttls": False, "ops_email": OPS,
                                       "smtp_from": "Shopflow <noreply@shop.test>", **extra})


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1, made with the openssl command."""
    cert, key = directory / "smtp.crt", directory / "smtp.key"
    subprocess.run(
        # openssl from PATH, as on any developer's machine
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",  # noqa: S607
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert, key


def tls_server_context(cert: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx


def password_checker(user: str, password: str) -> Any:
    def check(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login.decode() == user
              and auth_data.password.decode() == password)
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    return check
