"""Reading cases from the read-model, and sending Updates to their workflows."""

from __future__ import annotations

from typing import Any, TypeVar
from urllib.parse import quote

from sqlalchemy import func
from sqlmodel import col, select

from shopflow.activities.cases import case_view, task_view, tasks_of, timeline_of
from shopflow.api.deps import Page, Services
from shopflow.api.errors import ApiError, temporal_errors
from shopflow.db import session_scope
from shopflow.models import Case

R = TypeVar("R")


def temporal_url(svc: Services, workflow_id: str) -> str:
    ns = quote(svc.settings.temporal_namespace)
    return f"{svc.settings.temporal_ui_url}/namespaces/{ns}/workflows/{quote(workflow_id)}"


def load_case(svc: Services, kind: str, case_id: str) -> dict[str, Any]:
    with session_scope(svc.engine, write=False) as session:
        case = session.get(Case, case_id)
        if case is None or case.kind != kind:
            raise ApiError(404, "not_found", f"no {kind} {case_id}")
        view = case_view(case)
        view["tasks"] = [task_view(t) for t in tasks_of(session, case_id)]
        view["timeline"] = timeline_of(session, case_id)
        view["temporal_url"] = temporal_url(svc, case.workflow_id)
        return view


def case_workflow_id(svc: Services, kind: str, case_id: str) -> str:
    with session_scope(svc.engine, write=False) as session:
        case = session.get(Case, case_id)
        if case is None or case.kind != kind:
            raise ApiError(404, "not_found", f"no {kind} {case_id}")
        return case.workflow_id


def list_cases(svc: Services, kind: str, page: Page, **filters: str | None) -> dict[str, Any]:
    conditions = [Case.kind == kind]
    for name, value in filters.items():
        if value is not None:
            conditions.append(getattr(Case, name) == value)
    with session_scope(svc.engine, write=False) as session:
        total = session.exec(select(func.count()).select_from(Case).where(*conditions)).one()
        rows = session.exec(select(Case).where(*conditions)
                            .order_by(col(Case.created_at).desc(), col(Case.id))
                            .offset(page.offset).limit(page.page_size)).all()
        items = [{"id": c.id, "kind": c.kind, "workflow_id": c.workflow_id, "status": c.status,
                  "stage": c.stage, "customer_id": c.customer_id,
                  "created_at": c.created_at.isoformat(), "updated_at": c.updated_at.isoformat()}
                 for c in rows]
    return {"items": items, "total": total, "page": page.page, "page_size": page.page_size}


async def send_update(svc: Services, workflow_id: str, update: str, arg: Any,
                      result_type: type[R]) -> R:
    handle = svc.client().get_workflow_handle(workflow_id)
    with temporal_errors():
        return await handle.execute_update(update, arg, result_type=result_type)
