"""People's own settings and the staff notices they choose (issue 17.4).

A person is a token's name (``Actor.name``; in dev also ``dev-<role>``). Each sets their own
e-mail address, language and how they hear of new tasks (``PUT /api/v1/me/preferences``, the
page ``/ui/me``): ``now`` (a mail per task), ``digest`` (an hourly mail gathering them) or
``off`` (the default). The notices go through the outbox like every other
(activities/notices.py): ``recipients`` says who a task's notice is for (its assignee, else the
people of its role), ``keep_for_digest``/``take_digest`` hold and gather a person's digest,
``overdue_summary`` is ops' daily list.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from shopflow.db import insert_ignore, session_scope
from shopflow.models import ApiToken, PersonPreference, StaffDigestItem, Task
from shopflow.models.people import TASK_NOTICE_MODES
from shopflow.models.types import utcnow
from shopflow.services.audit import audit
from shopflow.services.errors import Refused
from shopflow.settings import Settings
from shopflow.workflows.shared import Actor
from shopflow.workflows.vocab import ACTIVE_TASK_STATUSES, ROLES

EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+|[^@\s]+@localhost")
LOCALES = ("zh-CN", "en")
# Tasks listed in one digest or one overdue summary (the rest are counted).
LIST_LIMIT = 50


def preferences(engine: Engine, settings: Settings, actor: Actor) -> dict[str, Any]:
    """A person's preferences as they see them (the defaults when they never set any)."""
    with session_scope(engine, write=False) as session:
        found = session.get(PersonPreference, actor.name)
    return view(settings, actor, found)


def view(settings: Settings, actor: Actor, row: PersonPreference | None) -> dict[str, Any]:
    return {"name": actor.name, "role": actor.role,
            "email": row.email if row else None,
            "task_notices": row.task_notices if row else "off",
            "locale": row.locale if row else None, "timezone": settings.timezone,
            "updated_at": row.updated_at if row else None}


def set_preferences(engine: Engine, actor: Actor, *, email: str | None, task_notices: str,
                    locale: str | None) -> PersonPreference:
    """A person sets their own preferences (audited). 422 naming the field: an address that is
    not one, a mode or language not offered, notices without an address."""
    email = (email or "").strip() or None
    if email is not None and (len(email) > 254 or not EMAIL.fullmatch(email)):
        raise Refused(422, "invalid_email", "not an e-mail address", {"field": "email"})
    if task_notices not in TASK_NOTICE_MODES:
        raise Refused(422, "invalid_value", f"task_notices is one of {', '.join(TASK_NOTICE_MODES)}",
                      {"field": "task_notices"})
    if locale is not None and locale not in LOCALES:
        raise Refused(422, "invalid_value", f"locale is one of {', '.join(LOCALES)}",
                      {"field": "locale"})
    if task_notices != "off" and email is None:
        raise Refused(422, "email_required", "task notices need an e-mail address",
                      {"field": "email"})
    with session_scope(engine) as session:
        row = session.get(PersonPreference, actor.name, with_for_update=True)
        before = _plain(row) if row is not None else None
        row = row or PersonPreference(name=actor.name)
        row.email, row.task_notices, row.locale = email, task_notices, locale
        row.updated_at = utcnow()
        session.add(row)
        audit(session, actor.name, "person", actor.name, "preferences", before, _plain(row))
        session.flush()
        session.refresh(row)
        session.expunge(row)
    return row


def _plain(row: PersonPreference) -> dict[str, Any]:
    return {"email": row.email, "task_notices": row.task_notices, "locale": row.locale}


# --- who hears of a task -------------------------------------------------------------------------

def recipients(session: Session, dev: bool, task_id: str,
               only: str | None = None) -> list[PersonPreference]:
    """Who a task's notice is for, with an address and notices on: ``only`` (the person it was
    just handed to), else its assignee, else every person of its role. Empty for a task no
    longer open."""
    task = session.get(Task, task_id)
    if task is None or task.status not in ACTIVE_TASK_STATUSES:
        return []
    if only:
        names = [only]
    elif task.assignee:
        names = [task.assignee]
    else:
        names = list(session.exec(select(ApiToken.name).where(
            ApiToken.role == task.role, ApiToken.revoked == False)  # noqa: E712
            .limit(500)).all())
        if dev and task.role in ROLES:
            names.append(f"dev-{task.role}")
    if not names:
        return []
    rows = session.exec(select(PersonPreference).where(
        col(PersonPreference.name).in_(names), PersonPreference.task_notices != "off",
        col(PersonPreference.email).is_not(None)).order_by(col(PersonPreference.name))).all()
    return list(rows)


def keep_for_digest(session: Session, key: str, person: str, kind: str, case_id: str | None,
                    data: dict[str, Any]) -> None:
    """A task notice waits for the person's digest (once per key)."""
    insert_ignore(session, StaffDigestItem, [{
        "key": key, "person": person, "kind": kind, "case_id": case_id, "data": data,
        "created_at": utcnow(), "digest_key": None}], ["key"])


def digest_people(engine: Engine) -> list[str]:
    """The people with task notices waiting for a digest."""
    with session_scope(engine, write=False) as session:
        return list(session.exec(select(StaffDigestItem.person).where(
            col(StaffDigestItem.digest_key).is_(None)).group_by(StaffDigestItem.person)
            .order_by(StaffDigestItem.person)).all())


def take_digest(session: Session, person: str, digest_key: str) -> list[dict[str, Any]]:
    """The waiting items of a person, marked as taken by the digest ``digest_key`` (in the
    caller's transaction, with the digest's own row): their data, oldest first."""
    items = session.exec(select(StaffDigestItem).where(
        StaffDigestItem.person == person, col(StaffDigestItem.digest_key).is_(None))
        .order_by(col(StaffDigestItem.id)).with_for_update()).all()
    for item in items:
        item.digest_key = digest_key
        session.add(item)
    return [dict(item.data) for item in items]


# --- ops' daily overdue summary ----------------------------------------------------------------

def overdue_summary(engine: Engine, settings: Settings, now: datetime) -> dict[str, Any]:
    """Open tasks past their due time: how many, per role, and the oldest LIST_LIMIT."""
    overdue = (col(Task.status).in_(list(ACTIVE_TASK_STATUSES)), col(Task.due_at) < now)
    with session_scope(engine, write=False) as session:
        per_role = session.exec(select(Task.role, func.count()).where(*overdue)
                                .group_by(Task.role).order_by(Task.role)).all()
        rows = session.exec(select(Task).where(*overdue).order_by(col(Task.due_at))
                            .limit(LIST_LIMIT)).all()
    return {
        "day": local_text(settings, now, "%Y-%m-%d"),
        "count": sum(n for _, n in per_role),
        "per_role": {role: n for role, n in per_role},
        "tasks": [{"task_id": t.id, "task_kind": t.kind, "role": t.role, "case_id": t.case_id,
                   "assignee": t.assignee or "-", "due_local": local_text(settings, t.due_at)}
                  for t in rows],
    }


def local_text(settings: Settings, at: datetime | str, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A time as the business reads it (``SHOPFLOW_TIMEZONE``), with the zone's name."""
    if isinstance(at, str):
        at = datetime.fromisoformat(at)
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    zone = ZoneInfo(settings.timezone)
    text = at.astimezone(zone).strftime(fmt)
    return text if fmt == "%Y-%m-%d" else f"{text} ({settings.timezone})"
