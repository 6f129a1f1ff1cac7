"""The API's handle on the cases service: the same functions with the request's ``Services``."""

from __future__ import annotations

from typing import Any, TypeVar

from shopflow.api.deps import Page, Services
from shopflow.services import cases

R = TypeVar("R")


def temporal_url(svc: Services, workflow_id: str) -> str:
    return cases.temporal_url(svc.settings, workflow_id)


def load_case(svc: Services, kind: str, case_id: str) -> dict[str, Any]:
    return cases.case_detail(svc.engine, svc.settings, kind, case_id)


def case_workflow_id(svc: Services, kind: str, case_id: str) -> str:
    return cases.case_workflow_id(svc.engine, kind, case_id)


def list_cases(svc: Services, kind: str, page: Page, *, scope: Any = None,
               **filters: str | None) -> dict[str, Any]:
    return cases.list_cases(svc.engine, kind, page.page, page.page_size, scope=scope, **filters)


async def send_update(svc: Services, workflow_id: str, update: str, arg: Any,
                      result_type: type[R]) -> R:
    return await cases.send_update(svc.client(), workflow_id, update, arg, result_type)
