"""The case read-model (status, stage, snapshot, timeline) and the archived dossier."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio import activity

from shopflow.db import insert_ignore, session_scope
from shopflow.models import Case, Dossier, Notice, Task, TimelineEvent
from shopflow.models.types import utcnow
from shopflow.workflows.shared import Act, ArchiveRequest, CaseRecord


class CaseActivities:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @activity.defn(name=Act.CASE_RECORD)
    def record(self, rec: CaseRecord) -> None:
        with session_scope(self.engine) as session:
            insert_ignore(session, Case.__table__, [{
                "id": rec.case_id, "kind": rec.kind, "workflow_id": rec.workflow_id,
                "status": rec.status, "stage": rec.stage, "customer_id": rec.customer_id,
                "data": rec.data, "version": 0, "created_at": rec.at, "updated_at": rec.at,
            }], ["id"])
            case = session.get(Case, rec.case_id, with_for_update=True)
            assert case is not None
            # Activities of one case may finish out of order; the newest snapshot wins.
            if rec.version > case.version:
                case.status, case.stage, case.data = rec.status, rec.stage, rec.data
                case.customer_id = rec.customer_id
                case.version, case.updated_at = rec.version, rec.at
                if rec.closed:
                    case.closed_at = rec.at
                session.add(case)
            insert_ignore(session, TimelineEvent.__table__, [
                {"case_id": rec.case_id, "workflow_id": rec.workflow_id, **asdict(e)}
                for e in rec.events
            ], ["workflow_id", "seq"])

    @activity.defn(name=Act.CASE_ARCHIVE)
    def archive(self, req: ArchiveRequest) -> None:
        with session_scope(self.engine) as session:
            dossier = build_dossier(session, req.case_id)
            existing = session.get(Dossier, req.case_id)
            if existing is None:
                session.add(Dossier(case_id=req.case_id, kind=req.kind, data=dossier,
                                    created_at=req.at))
            else:
                existing.data = dossier
                session.add(existing)


def build_dossier(session: Session, case_id: str) -> dict[str, Any]:
    case = session.get(Case, case_id)
    if case is None:
        raise LookupError(case_id)
    return {
        "case": case_view(case),
        "tasks": [task_view(t) for t in tasks_of(session, case_id)],
        "timeline": timeline_of(session, case_id),
        "notices": [
            {"kind": n.kind, "recipient": n.recipient, "subject": n.subject, "status": n.status,
             "at": n.created_at.isoformat()}
            for n in session.exec(select(Notice).where(Notice.case_id == case_id)
                                  .order_by(col(Notice.id)))
        ],
        "archived_at": utcnow().isoformat(),
    }


def case_view(case: Case) -> dict[str, Any]:
    # "kind" names the process; a process's own kind (a return's refund|exchange) keeps its
    # value as "<process>_kind" instead of being hidden.
    own_kind = case.data.get("kind")
    extra = {f"{case.kind}_kind": own_kind} if own_kind and own_kind != case.kind else {}
    return {
        **case.data, **extra, "id": case.id, "kind": case.kind, "workflow_id": case.workflow_id,
        "status": case.status, "stage": case.stage, "customer_id": case.customer_id,
        "created_at": case.created_at.isoformat(), "updated_at": case.updated_at.isoformat(),
        "closed_at": case.closed_at.isoformat() if case.closed_at else None,
    }


def tasks_of(session: Session, case_id: str) -> list[Task]:
    return list(session.exec(select(Task).where(Task.case_id == case_id)
                             .order_by(col(Task.created_at))))


def task_view(task: Task) -> dict[str, Any]:
    return task.model_dump(mode="json")


def timeline_of(session: Session, case_id: str) -> list[dict[str, Any]]:
    events = session.exec(select(TimelineEvent).where(TimelineEvent.case_id == case_id)
                          .order_by(col(TimelineEvent.seq)))
    return [{"seq": e.seq, "at": e.at.isoformat(), "actor": e.actor, "type": e.type,
             "message": e.message, "data": e.data} for e in events]
