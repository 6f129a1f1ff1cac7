"""Staff hear about their work (issue 17.4): the scheduled runs. A task's own notices (when it
opens, the warning before it escalates) are sent by its case (base.py, STAFF_NOTICES); here:

- ``StaffDigest`` (schedule ``shopflow-staff-digest``, hourly): each person who chose the digest
  and has task notices waiting gets one mail gathering them (activities take the waiting ones
  into the digest's outbox row in one transaction, so each is in one digest);
- ``OverdueSummary`` (schedule ``shopflow-overdue-summary``, daily 09:00 local): ops get the
  open tasks past their due time, per role and the oldest first.

Both send through the give-up path of the scheduled runs (care._send_notice): a refused address
fails that notice, the run goes on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from temporalio import workflow

from shopflow.workflows.care import _act, _send_notice
from shopflow.workflows.care_payloads import DayQuery
from shopflow.workflows.shared import NoticeRequest

DIGEST_PEOPLE = "staff.digest_people"
OVERDUE_SUMMARY = "staff.overdue_summary"


@dataclass
class StaffRun:
    """A scheduled run's input (nothing yet; a dataclass so fields can come)."""

    as_of: str | None = None


@dataclass
class StaffRunResult:
    sent: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    count: int = 0


@workflow.defn(name="StaffDigest")
class StaffDigest:
    """Each person's hourly digest of new tasks."""

    @workflow.run
    async def run(self, run: StaffRun) -> StaffRunResult:
        result = StaffRunResult()
        people: list[str] = await _act(DIGEST_PEOPLE, DayQuery(workflow.now(), run.as_of),
                                       result_type=list)
        for person in people:
            sent = await _send_notice(NoticeRequest(
                dedup_key=f"{workflow.info().workflow_id}:{person}", kind="staff_digest",
                case_id=None, data={"person": person}, audience="digest"))
            (result.sent if sent else result.failed).append(person)
        result.count = len(people)
        return result


@workflow.defn(name="OverdueSummary")
class OverdueSummary:
    """Ops' daily list of overdue tasks (nothing is sent on a day without any)."""

    @workflow.run
    async def run(self, run: StaffRun) -> StaffRunResult:
        summary: dict[str, Any] = await _act(OVERDUE_SUMMARY, DayQuery(workflow.now(), run.as_of),
                                             result_type=dict)
        result = StaffRunResult(count=int(summary["count"]))
        if result.count:
            day = str(summary["day"])
            sent = await _send_notice(NoticeRequest(
                dedup_key=f"overdue-summary:{day}", kind="overdue_summary", case_id=None,
                data=summary))
            (result.sent if sent else result.failed).append(day)
        return result


STAFF_WORKFLOWS = [StaffDigest, OverdueSummary]
