"""Cases: the read-model every process writes (status, stage, snapshot, timeline), the views the
API and the pages show, the archived dossier, and sending a person's change to a case's workflow.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, TypeVar, cast
from urllib.parse import quote

from sqlalchemy import Engine, delete, func
from sqlmodel import Session, col, select
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from shopflow.db import insert_ignore, session_scope
from shopflow.models import Case, Dossier, Notice, Task, TimelineEvent
from shopflow.models.types import utcnow
from shopflow.security.links import present_feedback
from shopflow.services.errors import Refused, temporal_errors
from shopflow.settings import Settings
from shopflow.workflows.shared import ArchiveRequest, CaseRecord

R = TypeVar("R")


# --- views ------------------------------------------------------------------------------------

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


def temporal_url(settings: Settings, workflow_id: str) -> str:
    """The case's workflow in the Temporal Web UI (for ops)."""
    ns = quote(settings.temporal_namespace)
    return f"{settings.temporal_ui_url}/namespaces/{ns}/workflows/{quote(workflow_id)}"


def _case_of(session: Session, kind: str, case_id: str) -> Case:
    case = session.get(Case, case_id)
    if case is None or case.kind != kind:
        raise Refused(404, "not_found", f"no {kind} {case_id}")
    return case


def case_detail(engine: Engine, settings: Settings, kind: str, case_id: str, *,
                feedback_url: bool = False) -> dict[str, Any]:
    """A case with its tasks, timeline and Temporal link (404 if there is no such case);
    ``feedback_url``: the customer's survey link too, for staff who call the customer (cs,
    ops: security.links.LINK_ROLES)."""
    with session_scope(engine, write=False) as session:
        case = _case_of(session, kind, case_id)
        view = case_view(case)
        view["tasks"] = [task_view(t) for t in tasks_of(session, case_id)]
        view["timeline"] = timeline_of(session, case_id)
        view["temporal_url"] = temporal_url(settings, case.workflow_id)
    present_feedback(settings, feedback_url, view)  # never the ref/hash; the url if allowed
    return view


def case_workflow_id(engine: Engine, kind: str, case_id: str) -> str:
    """The case's workflow id (404 if there is no such case), read alone: a case's data can be
    large (a long complaint's messages), and every message and decision starts here."""
    with session_scope(engine, write=False) as session:
        row = session.exec(select(Case.kind, Case.workflow_id).where(Case.id == case_id)).first()
    if row is None or row[0] != kind:
        raise Refused(404, "not_found", f"no {kind} {case_id}")
    return row[1]


def page_of(engine: Engine, conds: list[Any], page: int, page_size: int
            ) -> tuple[list[Case], int]:
    """One page of the case rows matching ``conds``, newest first, and how many match."""
    with session_scope(engine, write=False) as session:
        total = session.exec(select(func.count()).select_from(Case).where(*conds)).one()
        rows = session.exec(select(Case).where(*conds)
                            .order_by(col(Case.created_at).desc(), col(Case.id))
                            .offset((page - 1) * page_size).limit(page_size)).all()
    return list(rows), int(total)


def list_cases(engine: Engine, kind: str, page: int, page_size: int, *, scope: Any = None,
               **filters: str | None) -> dict[str, Any]:
    """``scope``: an extra condition (a channel token's own cases, services.scoping)."""
    conditions = [Case.kind == kind]
    if scope is not None:
        conditions.append(scope)
    for name, value in filters.items():
        if value is not None:
            conditions.append(getattr(Case, name) == value)
    with session_scope(engine, write=False) as session:
        total = session.exec(select(func.count()).select_from(Case).where(*conditions)).one()
        rows = session.exec(select(Case).where(*conditions)
                            .order_by(col(Case.created_at).desc(), col(Case.id))
                            .offset((page - 1) * page_size).limit(page_size)).all()
        items = [{"id": c.id, "kind": c.kind, "workflow_id": c.workflow_id, "status": c.status,
                  "stage": c.stage, "customer_id": c.customer_id,
                  "created_at": c.created_at.isoformat(), "updated_at": c.updated_at.isoformat()}
                 for c in rows]
    return {"items": items, "total": total, "page": page, "page_size": page_size}


def register_case(session: Session, case_id: str, kind: str, workflow_id: str, status: str,
                  stage: str, customer_id: str | None, data: dict[str, Any]) -> bool:
    """The case row a request makes visible at once (True when new) (its workflow writes it too: first wins,
    the workflow's snapshots replace it)."""
    now = utcnow()
    return insert_ignore(session, Case, [{
        "id": case_id, "kind": kind, "workflow_id": workflow_id, "status": status,
        "stage": stage, "customer_id": customer_id, "data": data, "version": 0,
        "created_at": now, "updated_at": now}], ["id"], any_conflict=True) > 0


def forget_case(engine: Engine, case_id: str, *also: Any) -> None:
    """Take back the rows a create wrote before its workflow start failed for sure (the case
    row, and the rows of ``also``, models keyed by the same id): all or nothing. A case the
    workflow has written since (version > 0) is kept."""
    with session_scope(engine) as session:
        case = session.get(Case, case_id)
        if case is None or case.version > 0:
            return
        for model in also:
            session.execute(delete(model).where(model.id == case_id))
        session.delete(case)


# --- commands from the workflows ------------------------------------------------------------

def record_case(engine: Engine, rec: CaseRecord) -> None:
    """Write a case snapshot and its new timeline lines (idempotent: keyed by version/seq)."""
    with session_scope(engine) as session:
        insert_ignore(session, Case, [{
            "id": rec.case_id, "kind": rec.kind, "workflow_id": rec.workflow_id,
            "status": rec.status, "stage": rec.stage, "customer_id": rec.customer_id,
            "data": rec.data, "version": 0, "created_at": rec.at, "updated_at": rec.at,
        }], ["id"], any_conflict=True)  # the request's register_case may race this one
        case = session.get(Case, rec.case_id, with_for_update=True)
        assert case is not None
        # Activities of one case may finish out of order; the newest snapshot wins (a
        # partial record holds every change since the last acknowledged one, so an older one
        # arriving late has nothing the newer lacks).
        data = case.data
        if rec.version > case.version:
            data = {**case.data, **rec.data} if rec.partial else rec.data
        if rec.appends:
            # Lists the database keeps (long texts): each item once, whatever the order.
            data = dict(data)
            for name, items in rec.appends.items():
                kept = list(data.get(name) or [])
                keys = {item.get("key") for item in kept}
                kept.extend(item for item in items if item.get("key") not in keys)
                data[name] = kept
        if data is not case.data:
            case.data = data
            session.add(case)
        if rec.version > case.version:
            case.status, case.stage = rec.status, rec.stage
            case.customer_id = rec.customer_id
            case.version, case.updated_at = rec.version, rec.at
            if rec.closed:
                case.closed_at = rec.at
            session.add(case)
        insert_ignore(session, TimelineEvent, [
            {"case_id": rec.case_id, "workflow_id": rec.workflow_id, **asdict(e)}
            for e in rec.events
        ], ["workflow_id", "seq"])


def archive_case(engine: Engine, req: ArchiveRequest) -> None:
    with session_scope(engine) as session:
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


def dossier(engine: Engine, kind: str, case_id: str) -> dict[str, Any]:
    """The archived dossier of a closed case (404 until it is archived)."""
    with session_scope(engine, write=False) as session:
        d = session.get(Dossier, case_id)
        if d is None or d.kind != kind:
            raise Refused(404, "not_found", f"no dossier for {kind} {case_id} (yet)")
        return d.data


# --- starting a case's workflow, and a person's changes to it ---------------------------------

async def start_once(client: Client, settings: Settings, workflow: Any, arg: Any,
                     workflow_id: str) -> bool:
    """Start a case's workflow under its business-key id, never twice: False when a workflow
    with this id was started before (running or finished; a retry starts nothing new)."""
    try:
        with temporal_errors():
            await client.start_workflow(
                workflow, arg, id=workflow_id, task_queue=settings.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            )
    except WorkflowAlreadyStartedError:
        return False
    return True


async def send_update(client: Client, workflow_id: str, update: str, arg: Any,
                      result_type: type[R], *, update_id: str | None = None) -> R:
    """A Temporal Update to a case's workflow; its rejections become refusals. ``update_id``:
    the same id sent again (a retry) is answered with the first one's result, not run twice."""
    handle = client.get_workflow_handle(workflow_id)
    with temporal_errors():
        return cast(R, await handle.execute_update(update, arg, id=update_id,
                                                   result_type=result_type))
