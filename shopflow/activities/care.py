"""Scheduled care's activities, thin adapters over services/care.py."""

from __future__ import annotations

from sqlalchemy import Engine
from temporalio import activity
from temporalio.client import Client

from shopflow.activities.clients import need_client
from shopflow.services import care
from shopflow.settings import Settings
from shopflow.workflows.care_payloads import (
    BirthdayGreet,
    BirthdaysDue,
    CaseStart,
    DayQuery,
    Greeting,
    RevisitClose,
    RevisitContext,
    RevisitOpen,
    RevisitsDue,
    StocktakeAdjust,
    StocktakeAdjusted,
    StocktakeSheet,
)
from shopflow.workflows.shared import Act


class CareActivities:
    def __init__(self, engine: Engine, settings: Settings, client: Client | None = None) -> None:
        self.engine = engine
        self.settings = settings
        self.client = client

    @activity.defn(name=Act.CARE_START_CASE)
    async def start_case(self, req: CaseStart) -> bool:
        """Start a revisit or stocktake case by its business key; False if it exists."""
        return await care.start_case(need_client(self.client, Act.CARE_START_CASE),
                                     self.settings, req)

    @activity.defn(name=Act.CARE_BIRTHDAYS_DUE)
    def birthdays_due(self, q: DayQuery) -> BirthdaysDue:
        return care.birthdays_due(self.engine, self.settings, q)

    @activity.defn(name=Act.CARE_BIRTHDAY_GREET)
    def birthday_greet(self, req: BirthdayGreet) -> Greeting:
        return care.birthday_greet(self.engine, self.settings, req)

    @activity.defn(name=Act.CARE_REVISITS_DUE)
    def revisits_due(self, q: DayQuery) -> RevisitsDue:
        return care.revisits_due(self.engine, self.settings, q)

    @activity.defn(name=Act.CARE_REVISIT_OPEN)
    def revisit_open(self, req: RevisitOpen) -> RevisitContext:
        return care.revisit_open(self.engine, self.settings, req)

    @activity.defn(name=Act.CARE_REVISIT_CLOSE)
    def revisit_close(self, req: RevisitClose) -> None:
        care.revisit_close(self.engine, self.settings, req)

    @activity.defn(name=Act.CARE_STOCKTAKE_SHEET)
    def stocktake_sheet(self, q: DayQuery) -> StocktakeSheet:
        return care.stocktake_sheet(self.engine, self.settings, q)

    @activity.defn(name=Act.CARE_STOCKTAKE_ADJUST)
    def stocktake_adjust(self, req: StocktakeAdjust) -> StocktakeAdjusted:
        return care.stocktake_adjust(self.engine, self.settings, req)
