"""One-time feedback form links."""

from __future__ import annotations

from sqlalchemy import Engine, update
from sqlmodel import col
from temporalio import activity

from shopflow.db import insert_ignore, session_scope
from shopflow.models import FeedbackRequest
from shopflow.models.types import utcnow
from shopflow.workflows.shared import Act, FeedbackAnswered, FeedbackOpen


class FeedbackActivities:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @activity.defn(name=Act.FEEDBACK_OPEN)
    def open(self, req: FeedbackOpen) -> None:
        with session_scope(self.engine) as session:
            insert_ignore(session, FeedbackRequest.__table__, [{
                "token": req.token, "case_id": req.case_id, "workflow_id": req.workflow_id,
                "kind": req.kind, "status": "open", "response": None, "created_at": utcnow(),
            }], ["token"])

    @activity.defn(name=Act.FEEDBACK_ANSWERED)
    def answered(self, req: FeedbackAnswered) -> None:
        self._finish(req, "answered")

    @activity.defn(name=Act.FEEDBACK_CLOSE)
    def close(self, req: FeedbackAnswered) -> None:
        self._finish(req, "closed")

    def _finish(self, req: FeedbackAnswered, status: str) -> None:
        with session_scope(self.engine) as session:
            session.execute(
                update(FeedbackRequest)
                .where(col(FeedbackRequest.token) == req.token,
                       col(FeedbackRequest.status) == "open")
                .values(status=status, response=req.response, answered_at=req.at)
            )
