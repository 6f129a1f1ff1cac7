"""The notices outbox for customer service and ops: list, look, resend a failed one."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from shopflow.api.auth import User
from shopflow.api.deps import PageDep, ServicesDep, require
from shopflow.models.notices import NOTICE_STATUSES, NoticeDetail, NoticePublic
from shopflow.models.schemas import PageOf
from shopflow.services import notices

router = APIRouter(prefix="/notices", tags=["notices"])
Staff = Annotated[User, Depends(require("cs", "ops"))]
NoticeId = Annotated[int, Path(ge=1, le=2**62)]
STATUS_PATTERN = "^(" + "|".join(NOTICE_STATUSES) + ")$"


@router.get("", response_model=PageOf[NoticePublic])
async def list_notices(
    svc: ServicesDep, _: Staff, page: PageDep,
    case_id: Annotated[str | None, Query(max_length=80)] = None,
    status: Annotated[str | None, Query(pattern=STATUS_PATTERN)] = None,
    kind: Annotated[str | None, Query(max_length=80)] = None,
) -> dict[str, Any]:
    """The outbox, newest first: every notice with its status, attempts and last error."""

    rows, total = await svc.db(notices.list_notices, svc.engine, page.page, page.page_size,
                               case_id=case_id, status=status, kind=kind)
    return {"items": [NoticePublic.model_validate(n, from_attributes=True) for n in rows],
            "total": total, "page": page.page, "page_size": page.page_size}


@router.get("/{notice_id}", response_model=NoticeDetail)
async def get_notice(notice_id: NoticeId, svc: ServicesDep, _: Staff) -> Any:
    """One notice with its rendered text and HTML."""
    return NoticeDetail.model_validate(await svc.db(notices.load_notice, svc.engine, notice_id),
                                       from_attributes=True)


@router.post("/{notice_id}/resend", status_code=202, response_model=NoticePublic,
             responses={404: {}, 409: {}, 503: {}})
async def resend_notice(notice_id: NoticeId, svc: ServicesDep, user: Staff) -> Any:
    """Send a failed notice again (same content, same Message-ID), with the usual retries.
    409 unless the notice is failed, and for a second resend of the same failure."""
    notice = await svc.db(notices.load_notice, svc.engine, notice_id)
    resend_no = await notices.resend(svc.client(), svc.settings, svc.engine, notice, user.name)
    reopened = await svc.db(notices.mark_resending, svc.engine, notice_id, resend_no, user.name)
    return NoticePublic.model_validate(reopened, from_attributes=True)
