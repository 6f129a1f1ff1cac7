"""The staff notices' scheduled runs' reads (issue 17.4), thin adapters over services/people.py."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine
from temporalio import activity

from shopflow.services import people
from shopflow.settings import Settings
from shopflow.workflows.care_payloads import DayQuery
from shopflow.workflows.staff_notices import DIGEST_PEOPLE, OVERDUE_SUMMARY


class StaffActivities:
    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings

    @activity.defn(name=DIGEST_PEOPLE)
    def digest_people(self, query: DayQuery) -> list[str]:
        return people.digest_people(self.engine)

    @activity.defn(name=OVERDUE_SUMMARY)
    def overdue_summary(self, query: DayQuery) -> dict[str, Any]:
        return people.overdue_summary(self.engine, self.settings, query.at)
