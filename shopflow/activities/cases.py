"""The case read-model and the archived dossier, written by the workflows (services/cases.py)."""

from __future__ import annotations

from sqlalchemy import Engine
from temporalio import activity

from shopflow.services import cases
from shopflow.workflows.shared import Act, ArchiveRequest, CaseRecord


class CaseActivities:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @activity.defn(name=Act.CASE_RECORD)
    def record(self, rec: CaseRecord) -> None:
        cases.record_case(self.engine, rec)

    @activity.defn(name=Act.CASE_ARCHIVE)
    def archive(self, req: ArchiveRequest) -> None:
        cases.archive_case(self.engine, req)
