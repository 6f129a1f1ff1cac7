from __future__ import annotations

from datetime import date, datetime

from sqlmodel import Field, SQLModel

from shopflow.models.types import json_field, time_field


class Customer(SQLModel, table=True):
    __tablename__ = "customers"

    id: str = Field(primary_key=True, max_length=64)
    name: str = ""
    company: str | None = None
    email: str | None = None
    phone: str | None = None
    address: str | None = None
    locale: str = "zh-CN"
    preferred_channel: str | None = None  # email | sms: how the customer wants notices
    birthday: date | None = None
    tags: list[str] = json_field(list)
    credit_rating: str | None = None  # A|B|C|D; None: unrated
    updated_by: str | None = None
    created_at: datetime = time_field()
    updated_at: datetime = time_field()
