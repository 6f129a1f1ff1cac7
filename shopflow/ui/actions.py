"""Actions on a case page besides tasks (answer a question for the customer, cancel …): each calls
the API's own handler, so its rules and errors are the API's. A process adds its own with
``register(CaseAction(...))``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from shopflow.api.auth import User
from shopflow.api.deps import Services
from shopflow.ui.decisions import FormField

Run = Callable[[Services, User, str, dict[str, str]], Awaitable[str]]  # -> a note code


@dataclass(frozen=True)
class CaseAction:
    case_kind: str
    name: str
    title: str
    roles: tuple[str, ...]  # admin always
    fields: tuple[FormField, ...]
    run: Run
    shown: Callable[[dict[str, Any]], bool] = lambda case: True
    style: str = "primary"

    def input(self, f: FormField) -> str:
        return f"{self.name}.{f.name}"


ACTIONS: dict[tuple[str, str], CaseAction] = {}


def register(action: CaseAction) -> CaseAction:
    ACTIONS[(action.case_kind, action.name)] = action
    return action


def of_case(case: dict[str, Any], user: User) -> list[CaseAction]:
    return [a for (kind, _), a in ACTIONS.items()
            if kind == case.get("kind") and user.has(*a.roles) and a.shown(case)]


# --- samples ----------------------------------------------------------------------------------

async def _sample_info(svc: Services, user: User, case_id: str, values: dict[str, str]) -> str:
    from shopflow.api.routers.samples import answer_info
    from shopflow.models.schemas import InfoAnswer

    await answer_info(case_id, InfoAnswer(text=values.get("text", "")), svc, user)
    return "info_sent"


async def _sample_cancel(svc: Services, user: User, case_id: str, values: dict[str, str]) -> str:
    from shopflow.api.routers.samples import cancel_sample
    from shopflow.models.schemas import CancelRequest

    await cancel_sample(case_id, svc, user, CancelRequest(reason=values.get("reason", "")))
    return "cancelled"


register(CaseAction(
    "sample", "info", "提交客户补充信息 Answer for the customer", ("channel", "cs"),
    (FormField("text", "客户的回答 The customer's answer", "textarea", True),), _sample_info,
    shown=lambda case: case.get("status") == "waiting_info"))
register(CaseAction(
    "sample", "cancel", "取消样品申请 Cancel the sample request", ("cs", "ops"),
    (FormField("reason", "原因 Reason", "textarea"),), _sample_cancel,
    shown=lambda case: not case.get("closed_at") and not case.get("shipment")
    and case.get("stage") in ("preliminary_review", "review", "dispatch"), style="danger"))
