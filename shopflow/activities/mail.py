"""Inbound mail's activity: one poll of the mailbox, a thin adapter over
services/inbound_mail.py (with the worker's client, for the complaints' Updates)."""

from __future__ import annotations

from dataclasses import asdict

from sqlalchemy import Engine
from temporalio import activity
from temporalio.client import Client

from shopflow.activities.clients import need_client
from shopflow.providers.mailbox import Mailbox, build_mailbox
from shopflow.services import inbound_mail
from shopflow.settings import Settings
from shopflow.workflows.inbound_mail import MAIL_POLL, MailPoll, MailPolled


class MailActivities:
    def __init__(self, engine: Engine, settings: Settings, client: Client | None = None,
                 mailbox: Mailbox | None = None) -> None:
        self.engine = engine
        self.settings = settings
        self.client = client
        self.mailbox = mailbox

    @activity.defn(name=MAIL_POLL)
    async def poll(self, req: MailPoll) -> MailPolled:
        mailbox = self.mailbox or build_mailbox(self.settings)
        polled = await inbound_mail.poll(need_client(self.client, MAIL_POLL), self.engine,
                                         self.settings, mailbox)
        return MailPolled(**asdict(polled))
