"""The channel-scope guard: routers of case resources include it, so every route naming a case
(``/samples/{sample_id}``, ``/orders/{order_no}``, ``/tasks/{task_id}`` …) answers 404 to a
channel token bound to other channels. Lists filter with ``services.scoping.case_filter``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from shopflow.api.auth import User
from shopflow.api.deps import ServicesDep, current_user
from shopflow.api.errors import ApiError
from shopflow.services.scoping import visible

# path parameter → the kind of case it names
CASE_PARAMS = {"sample_id": "sample", "order_no": "order", "return_id": "return",
               "complaint_id": "complaint", "followup_id": "followup", "task_id": "task",
               "tracking_no": "shipment", "enquiry_id": "enquiry"}


async def channel_scope(request: Request, svc: ServicesDep,
                        user: Annotated[User, Depends(current_user)]) -> None:
    if not user.scoped:
        return
    for name, kind in CASE_PARAMS.items():
        value = request.path_params.get(name)
        if value is not None and not await svc.db(visible, svc.engine, user, kind, str(value)):
            raise ApiError(404, "not_found", f"no {kind} {value}")


def require_channel(user: User, channel: str) -> None:
    """A bound channel token creates cases only for its own channels."""
    if user.scoped and channel not in user.channels:
        raise ApiError(403, "channel_not_allowed",
                       f"this token acts for {', '.join(user.channels)}, not {channel}",
                       {"channels": list(user.channels)})
