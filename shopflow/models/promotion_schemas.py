"""Promotion plans' API request models (seed 003 第九条)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, Field, ValidationInfo, field_validator

from shopflow.models.schemas import ShortText, Sku, Strict

Status = Literal["draft", "reviewed", "approved", "running", "completed", "rejected",
                 "cancelled"]
Segment = Literal["all", "buyers"]  # promotion_rules.SEGMENTS
MAX_DAYS = 366  # promotion_rules.MAX_DAYS


class PromotionCreate(Strict):
    name: ShortText
    skus: Annotated[list[Sku], Field(min_length=1, max_length=50)]
    discount_percent: int = Field(ge=1, le=90)
    start_at: AwareDatetime
    end_at: AwareDatetime
    target_tag: str | None = Field(default=None, min_length=1, max_length=64,
                                   pattern=r"^[A-Za-z0-9_.:-]+$",
                                   description="only customers with this tag")
    segment: Segment = Field(default="all", description="all (of the tag), or buyers: "
                                                        "customers who ordered its products")
    description: str = Field(default="", max_length=2000)

    @field_validator("skus")
    @classmethod
    def _distinct(cls, skus: list[str]) -> list[str]:
        if len(set(skus)) != len(skus):
            raise ValueError("each SKU once")
        return skus

    @field_validator("end_at")
    @classmethod
    def _after_start(cls, end: datetime, info: ValidationInfo) -> datetime:
        start = info.data.get("start_at")
        if start is not None and not start < end <= start + timedelta(days=MAX_DAYS):
            raise ValueError(f"end_at is after start_at, within {MAX_DAYS} days")
        return end


class CancelPlan(Strict):
    reason: ShortText


class PromotionSummary(BaseModel):
    id: str
    workflow_id: str
    status: str
    stage: str
    name: str
    skus: list[str]
    discount_percent: int
    start_at: str
    end_at: str
    created_at: datetime
