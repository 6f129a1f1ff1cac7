"""The notices outbox for customer service and ops: list, look, and resending a failed notice
(the ``NoticeResend`` workflow's one start path). Sending itself is the notices activities'
work (activities/notices.py, with the channels)."""

from __future__ import annotations

from sqlalchemy import Engine, func, update
from sqlmodel import col, select
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from shopflow.db import session_scope
from shopflow.models.notices import Notice
from shopflow.models.types import utcnow
from shopflow.services.errors import Refused, temporal_errors
from shopflow.settings import Settings
from shopflow.workflows.notice_resend import NoticeResend, NoticeResendInput, resend_workflow_id


def load_notice(engine: Engine, notice_id: int) -> Notice:
    with session_scope(engine, write=False) as session:
        notice = session.get(Notice, notice_id)
    if notice is None:
        raise Refused(404, "not_found", f"no notice {notice_id}")
    return notice


def list_notices(engine: Engine, page: int, page_size: int, *, case_id: str | None = None,
                 status: str | None = None, kind: str | None = None
                 ) -> tuple[list[Notice], int]:
    """The outbox, newest first."""
    conds = []
    if case_id is not None:
        conds.append(col(Notice.case_id) == case_id)
    if status is not None:
        conds.append(col(Notice.status) == status)
    if kind is not None:
        conds.append(col(Notice.kind) == kind)
    with session_scope(engine, write=False) as session:
        total = session.exec(select(func.count()).select_from(Notice).where(*conds)).one()
        rows = session.exec(select(Notice).where(*conds).order_by(col(Notice.id).desc())
                            .offset((page - 1) * page_size).limit(page_size)).all()
    return list(rows), total


async def resend(client: Client, settings: Settings, engine: Engine, notice: Notice,
                 actor: str) -> int:
    """Start the resend of a failed notice (409 unless failed, and for a second resend of the
    same failure); returns the resend's number."""
    if notice.status != "failed":
        raise Refused(409, "notice_not_failed", f"the notice is {notice.status}; only a failed "
                      "notice can be resent", {"status": notice.status})
    assert notice.id is not None
    resend_no = notice.resends + 1
    try:
        with temporal_errors():
            await client.start_workflow(
                NoticeResend.run, NoticeResendInput(notice.id, resend_no, actor),
                id=resend_workflow_id(notice.id, resend_no), task_queue=settings.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            )
    except WorkflowAlreadyStartedError:
        raise Refused(409, "resend_in_progress", "this failure is already being resent",
                      {"resend": resend_no}) from None
    return resend_no


def mark_resending(engine: Engine, notice_id: int, resend_no: int, actor: str) -> Notice:
    """The workflow does this too (whichever comes first): here so the answer and the list show
    the notice on its way at once."""
    with session_scope(engine) as session:
        session.execute(
            update(Notice)
            .where(col(Notice.id) == notice_id, col(Notice.status) == "failed",
                   col(Notice.resends) < resend_no)
            .values(status="pending", resends=resend_no, resent_by=actor, updated_at=utcnow())
        )
    return load_notice(engine, notice_id)


