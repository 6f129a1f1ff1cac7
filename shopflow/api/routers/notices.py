"""The notices outbox for customer service and ops: list, look, resend a failed one."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from sqlalchemy import func, update
from sqlmodel import col, select
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from shopflow.api.auth import User
from shopflow.api.deps import PageDep, ServicesDep, require
from shopflow.api.errors import ApiError, from_temporal, unavailable
from shopflow.db import session_scope
from shopflow.models.notices import NOTICE_STATUSES, Notice, NoticeDetail, NoticePublic
from shopflow.models.schemas import PageOf
from shopflow.models.types import utcnow
from shopflow.workflows.notice_resend import NoticeResend, NoticeResendInput, resend_workflow_id

router = APIRouter(prefix="/notices", tags=["notices"])
Staff = Annotated[User, Depends(require("cs", "ops"))]
NoticeId = Annotated[int, Path(ge=1, le=2**62)]
STATUS_PATTERN = "^(" + "|".join(NOTICE_STATUSES) + ")$"


def _load(svc: Any, notice_id: int) -> Notice:
    with session_scope(svc.engine, write=False) as session:
        notice = session.get(Notice, notice_id)
    if notice is None:
        raise ApiError(404, "not_found", f"no notice {notice_id}")
    return notice


@router.get("", response_model=PageOf[NoticePublic])
async def list_notices(
    svc: ServicesDep, _: Staff, page: PageDep,
    case_id: Annotated[str | None, Query(max_length=80)] = None,
    status: Annotated[str | None, Query(pattern=STATUS_PATTERN)] = None,
    kind: Annotated[str | None, Query(max_length=80)] = None,
) -> dict[str, Any]:
    """The outbox, newest first: every notice with its status, attempts and last error."""

    def query() -> dict[str, Any]:
        conds = []
        if case_id is not None:
            conds.append(col(Notice.case_id) == case_id)
        if status is not None:
            conds.append(col(Notice.status) == status)
        if kind is not None:
            conds.append(col(Notice.kind) == kind)
        with session_scope(svc.engine, write=False) as session:
            total = session.exec(select(func.count()).select_from(Notice).where(*conds)).one()
            rows = session.exec(select(Notice).where(*conds).order_by(col(Notice.id).desc())
                                .offset(page.offset).limit(page.page_size)).all()
        return {"items": [NoticePublic.model_validate(n, from_attributes=True) for n in rows],
                "total": total, "page": page.page, "page_size": page.page_size}

    return await svc.db(query)


@router.get("/{notice_id}", response_model=NoticeDetail)
async def get_notice(notice_id: NoticeId, svc: ServicesDep, _: Staff) -> Any:
    """One notice with its rendered text and HTML."""
    return NoticeDetail.model_validate(await svc.db(_load, svc, notice_id), from_attributes=True)


@router.post("/{notice_id}/resend", status_code=202, response_model=NoticePublic,
             responses={404: {}, 409: {}, 503: {}})
async def resend_notice(notice_id: NoticeId, svc: ServicesDep, user: Staff) -> Any:
    """Send a failed notice again (same content, same Message-ID), with the usual retries.
    409 unless the notice is failed, and for a second resend of the same failure."""
    notice = await svc.db(_load, svc, notice_id)
    if notice.status != "failed":
        raise ApiError(409, "notice_not_failed", f"the notice is {notice.status}; only a failed "
                       "notice can be resent", {"status": notice.status})
    resend_no = notice.resends + 1
    inp = NoticeResendInput(notice_id, resend_no, user.name)
    try:
        await svc.client().start_workflow(
            NoticeResend.run, inp, id=resend_workflow_id(notice_id, resend_no),
            task_queue=svc.settings.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        )
    except WorkflowAlreadyStartedError:
        raise ApiError(409, "resend_in_progress", "this failure is already being resent",
                       {"resend": resend_no}) from None
    except RPCError as err:
        raise from_temporal(err) from None
    except RuntimeError as err:  # a lazy client that cannot reach its server
        if "client connect" not in str(err):
            raise
        raise unavailable("Temporal") from None

    def reopen() -> Notice:
        # The workflow does this too (whichever comes first): here so the answer and the
        # list show the notice on its way at once.
        with session_scope(svc.engine) as session:
            session.execute(
                update(Notice)
                .where(col(Notice.id) == notice_id, col(Notice.status) == "failed",
                       col(Notice.resends) < resend_no)
                .values(status="pending", resends=resend_no, resent_by=user.name,
                        updated_at=utcnow())
            )
        return _load(svc, notice_id)

    return NoticePublic.model_validate(await svc.db(reopen), from_attributes=True)
