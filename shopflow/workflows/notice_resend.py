"""Resending a failed notice (``POST /api/v1/notices/{id}/resend``), as a tiny workflow
``notice-resend-<id>-<n>`` so the send gets the same retries, backoff and exactly-once outbox
as the first one, and a second click on the same failure finds the workflow id taken."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

from shopflow.workflows.base import NOTICE_RETRY

RESEND_ACTIVITY = "notices.resend"
# After the last attempt, whatever ended it (a timeout leaves no one to record anything): the
# notice is failed and ops told, or, handed over, counted as sent. Idempotent.
GIVE_UP_ACTIVITY = "notices.give_up"
RESEND_GIVE_UP_ACTIVITY = "notices.resend_give_up"


@dataclass
class NoticeResendInput:
    notice_id: int
    resend_no: int  # the notice's resends counter after this resend: 1 for the first
    actor: str = "system"


def resend_workflow_id(notice_id: int, resend_no: int) -> str:
    return f"notice-resend-{notice_id}-{resend_no}"


@workflow.defn(name="NoticeResend")
class NoticeResend:
    @workflow.run
    async def run(self, inp: NoticeResendInput) -> str:
        try:
            return await workflow.execute_activity(  # type: ignore[no-any-return]
                RESEND_ACTIVITY,
                inp,
                start_to_close_timeout=timedelta(seconds=60),
                retry_policy=NOTICE_RETRY,
                result_type=str,
            )
        except ActivityError as err:
            workflow.logger.warning("resend of notice %s failed: %s", inp.notice_id, err.cause)
            return await workflow.execute_activity(  # type: ignore[no-any-return]
                RESEND_GIVE_UP_ACTIVITY,
                inp,
                start_to_close_timeout=timedelta(seconds=60),
                retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1),
                                         maximum_interval=timedelta(seconds=30)),
                result_type=str,
            )
