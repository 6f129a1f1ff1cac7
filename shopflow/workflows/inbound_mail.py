"""``inbound-mail``: one poll of the inbound mailbox (issue 18), run by the Temporal Schedule
``shopflow-inbound-mail`` every ``SHOPFLOW_INBOUND_MAIL_POLL``. A Schedule rather than a loop in
the worker: ops see, pause and trigger it in the Temporal UI like the other scheduled work, a
poll that fails is retried by Temporal, and two polls never overlap (SKIP). The activity keeps
each message (once per Message-ID) before it marks it done at the mailbox, then delivers it to
its complaint's thread or the unmatched list (services/inbound_mail.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

MAIL_POLL = "mail.poll"
POLL_RETRY = RetryPolicy(initial_interval=timedelta(seconds=5),
                         maximum_interval=timedelta(minutes=1), maximum_attempts=5)


@dataclass
class MailPoll:
    requested_by: str = "schedule"


@dataclass
class MailPolled:
    fetched: int = 0
    attached: int = 0
    unmatched: int = 0
    waiting: int = 0


@workflow.defn(name="InboundMailPoll")
class InboundMailPoll:
    @workflow.run
    async def run(self, inp: MailPoll) -> MailPolled:
        polled: MailPolled = await workflow.execute_activity(
            MAIL_POLL, inp, result_type=MailPolled, start_to_close_timeout=timedelta(minutes=5),
            retry_policy=POLL_RETRY)
        return polled
