"""The KPI report activity, a thin adapter over services/reports.py."""

from __future__ import annotations

from sqlalchemy import Engine
from temporalio import activity

from shopflow.services import reports
from shopflow.settings import Settings
from shopflow.workflows.care import ReportGenerate, ReportStored
from shopflow.workflows.shared import Act


class ReportActivities:
    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings

    @activity.defn(name=Act.REPORT_GENERATE)
    def generate(self, req: ReportGenerate) -> ReportStored:
        return reports.generate(self.engine, self.settings, req)
