"""Inbound mail adapters (issue 18): where customers' replies are read from.

``Mailbox.fetch(limit)`` gives ``(uid, raw RFC 822 bytes)`` of messages not yet kept;
``Mailbox.done(uid)`` is called once a message is kept in ``inbound_mails`` (so a message whose
keeping failed is fetched again next time: never lost). ``parse`` turns raw bytes into an
``InboundMessage``.

* ``DirectoryMailbox`` (the simulator, the default): ``*.eml`` files in a folder, oldest name
  first; a kept one is moved into ``done/``. Drop a file there (or ``shopflow mail drop``) to
  play a customer replying.
* ``ImapMailbox``: the standard library's ``imaplib`` over TLS (or STARTTLS-less plain IMAP
  when ``SHOPFLOW_IMAP_SSL=false``), UNSEEN messages of ``SHOPFLOW_IMAP_MAILBOX`` fetched with
  ``BODY.PEEK[]`` (not marked read), marked ``\\Seen`` once kept.
"""

from __future__ import annotations

import contextlib
import imaplib
import shutil
import ssl
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path
from typing import Protocol

from shopflow.settings import Settings


@dataclass
class InboundMessage:
    message_id: str
    sender: str
    to: str
    subject: str
    text: str
    in_reply_to: str | None = None
    references: str | None = None


class Mailbox(Protocol):
    name: str

    def fetch(self, limit: int) -> list[tuple[str, bytes]]: ...

    def done(self, uid: str) -> None: ...

    def close(self) -> None: ...


def parse(raw: bytes, fallback_id: str) -> InboundMessage:
    """The parts of a message Shopflow uses. A message without a Message-ID gets
    ``fallback_id`` (stable per message: the adapter's uid), so it is still kept once."""
    msg = message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    body = msg.get_body(preferencelist=("plain", "html"))
    text = ""
    if body is not None:
        try:
            text = body.get_content()
        except (LookupError, ValueError):  # an unknown charset: keep what decodes
            payload = body.get_payload(decode=True)
            text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
        if body.get_content_subtype() == "html":
            import re

            text = re.sub(r"<[^>]+>", " ", text)
    return InboundMessage(
        message_id=str(msg.get("Message-ID") or "").strip() or fallback_id,
        sender=parseaddr(str(msg.get("From") or ""))[1],
        to=parseaddr(str(msg.get("To") or ""))[1],
        subject=str(msg.get("Subject") or ""),
        text=text.strip() or "(empty message)",
        in_reply_to=str(msg.get("In-Reply-To") or "").strip() or None,
        references=str(msg.get("References") or "").strip() or None,
    )


class DirectoryMailbox:
    """The simulator: ``*.eml`` files in a folder."""

    name = "simulator"

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def fetch(self, limit: int) -> list[tuple[str, bytes]]:
        if not self.folder.is_dir():
            return []
        files = sorted(p for p in self.folder.glob("*.eml") if p.is_file())[:limit]
        return [(p.name, p.read_bytes()) for p in files]

    def done(self, uid: str) -> None:
        target = self.folder / "done"
        target.mkdir(parents=True, exist_ok=True)
        source = self.folder / uid
        if source.exists():
            shutil.move(str(source), str(target / uid))

    def close(self) -> None:
        pass

    def drop(self, name: str, raw: bytes) -> Path:
        """Put a message in the folder, as a mail server would deliver it."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{name}.eml"
        path.write_bytes(raw)
        return path


class ImapMailbox:
    """UNSEEN messages of one IMAP folder (imaplib, TLS by default)."""

    name = "imap"

    def __init__(self, settings: Settings, factory: type[imaplib.IMAP4] | None = None) -> None:
        self.settings = settings
        self.factory = factory
        self._conn: imaplib.IMAP4 | None = None

    def _connect(self) -> imaplib.IMAP4:
        s = self.settings
        if not s.imap_host:
            raise RuntimeError("SHOPFLOW_IMAP_HOST is not set")
        if self.factory is not None:
            conn = self.factory(s.imap_host, s.imap_port)
        elif s.imap_ssl:
            conn = imaplib.IMAP4_SSL(s.imap_host, s.imap_port,
                                     ssl_context=ssl.create_default_context())
        else:
            conn = imaplib.IMAP4(s.imap_host, s.imap_port)
        if s.imap_user:
            conn.login(s.imap_user, s.imap_password or "")
        status, _ = conn.select(s.imap_mailbox)
        if status != "OK":
            raise RuntimeError(f"IMAP folder {s.imap_mailbox} cannot be selected")
        return conn

    def fetch(self, limit: int) -> list[tuple[str, bytes]]:
        self.close()
        self._conn = conn = self._connect()
        status, data = conn.uid("SEARCH", "UNSEEN")
        if status != "OK" or not data or not data[0]:
            return []
        uids = data[0].split()[:limit]
        found: list[tuple[str, bytes]] = []
        for uid in uids:
            status, parts = conn.uid("FETCH", uid, "(BODY.PEEK[])")
            for part in parts or []:
                if isinstance(part, tuple) and len(part) == 2:
                    found.append((uid.decode(), bytes(part[1])))
                    break
        return found

    def done(self, uid: str) -> None:
        if self._conn is not None:
            self._conn.uid("STORE", uid, "+FLAGS", "(\\Seen)")

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):  # a connection that may be gone already
                self._conn.logout()
            self._conn = None


def build_mailbox(settings: Settings) -> Mailbox:
    if settings.inbound_mail_adapter == "imap":
        return ImapMailbox(settings)
    return DirectoryMailbox(settings.inbound_mail_dir)
