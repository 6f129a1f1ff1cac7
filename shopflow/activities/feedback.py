"""One-time feedback form links: stored as the SHA-256 of the link's secret, with an expiry."""

from __future__ import annotations

from sqlalchemy import Engine, update
from sqlmodel import col
from temporalio import activity

from shopflow.db import insert_ignore, session_scope
from shopflow.models import FeedbackRequest
from shopflow.models.types import utcnow
from shopflow.security.links import link_key, link_token, token_hash
from shopflow.settings import Settings
from shopflow.workflows.shared import Act, FeedbackAnswered, FeedbackOpen


class FeedbackActivities:
    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings

    @activity.defn(name=Act.FEEDBACK_OPEN)
    def open(self, req: FeedbackOpen) -> str:
        """Store the link (its hash) and answer with the hash: the only form of the link the
        workflow keeps. A case from before the hashing sends its clear token (then hashed)."""
        secret = link_token(link_key(self.settings), req.token) if req.hashed else req.token
        digest = token_hash(secret)
        now = utcnow()
        with session_scope(self.engine) as session:
            insert_ignore(session, FeedbackRequest.__table__, [{
                "token": digest, "case_id": req.case_id, "workflow_id": req.workflow_id,
                "kind": req.kind, "status": "open", "response": None, "created_at": now,
                "expires_at": now + self.settings.feedback_link_ttl,
            }], ["token"])
        return digest

    @activity.defn(name=Act.FEEDBACK_ANSWERED)
    def answered(self, req: FeedbackAnswered) -> None:
        self._finish(req, "answered")

    @activity.defn(name=Act.FEEDBACK_CLOSE)
    def close(self, req: FeedbackAnswered) -> None:
        self._finish(req, "closed")

    def _finish(self, req: FeedbackAnswered, status: str) -> None:
        # The hash (cases from feedback-link-hashed on, and the API's answers), or an older
        # case's clear token.
        with session_scope(self.engine) as session:
            session.execute(
                update(FeedbackRequest)
                .where(col(FeedbackRequest.token).in_([req.token, token_hash(req.token)]),
                       col(FeedbackRequest.status) == "open")
                .values(status=status, response=req.response, answered_at=req.at)
            )
