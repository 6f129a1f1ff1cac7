"""A person's own settings (issue 17.4): ``GET``/``PUT /me/preferences``, for every signed-in
token. Definitions: shopflow/services/people.py."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from shopflow.api.auth import User
from shopflow.api.deps import ServicesDep, current_user
from shopflow.models.schemas import PreferencesIn, PreferencesOut
from shopflow.services import people
from shopflow.workflows.shared import Actor

router = APIRouter(prefix="/me", tags=["me"])
Me = Annotated[User, Depends(current_user)]


@router.get("/preferences", response_model=PreferencesOut)
async def get_preferences(svc: ServicesDep, user: Me) -> dict[str, Any]:
    """Your e-mail address, how you hear of new tasks (``now``, ``digest``, ``off``) and your
    language; the business's time zone, in which notices and pages show times."""
    return await svc.db(people.preferences, svc.engine, svc.settings,
                        Actor(user.name, user.role))


@router.put("/preferences", response_model=PreferencesOut, responses={422: {}})
async def put_preferences(body: PreferencesIn, svc: ServicesDep, user: Me) -> dict[str, Any]:
    """Set your own preferences (audited as entity ``person``). ``now`` or ``digest`` need an
    e-mail address (422 ``email_required``, field ``email``)."""
    actor = Actor(user.name, user.role)
    row = await svc.db(people.set_preferences, svc.engine, actor, email=body.email,
                       task_notices=body.task_notices, locale=body.locale)
    return people.view(svc.settings, actor, row)
