"""People's own settings (issue 17.4): how a person (a token's name) hears of their work, at
which e-mail address and in which language; and the task notices kept for a person's hourly
digest until it goes out. Revision 0008."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Field, SQLModel

from shopflow.models.types import json_field, time_field

# How a person hears of a new task: each at once, gathered in an hourly digest, or not at all.
TASK_NOTICE_MODES = ("now", "digest", "off")


class PersonPreference(SQLModel, table=True):
    """One person's preferences, set by themselves (``PUT /api/v1/me/preferences``)."""

    __tablename__ = "person_preferences"

    name: str = Field(primary_key=True, max_length=100)
    email: str | None = Field(default=None, max_length=254)
    task_notices: str = Field(default="off", max_length=10)
    locale: str | None = Field(default=None, max_length=10)
    updated_at: datetime = time_field()


class StaffDigestItem(SQLModel, table=True):
    """A task notice kept for one person's digest. ``key`` (the notice's dedup key and the
    person) makes it once; ``digest_key`` is the digest notice that took it (null: waiting)."""

    __tablename__ = "staff_digest_items"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, max_length=300)
    person: str = Field(index=True, max_length=100)
    kind: str = Field(max_length=50)
    case_id: str | None = Field(default=None, max_length=100)
    data: dict[str, Any] = json_field()
    created_at: datetime = time_field()
    digest_key: str | None = Field(default=None, index=True, max_length=300)
