"""Where cases wait (issue 17.8): the step map of each process, drawn from the records.

Definitions (the period is [start, end), times in UTC; durations in hours):
- a step is one timeline event of a case to the case's next event (``created -> approved``);
  it counts in the period when its second event happened in the period.
- a task kind's time is a done task's opening (``created_at``) to its completion; it counts in
  the period when it was completed in the period. ``open`` is how many of that kind are open
  or claimed now.
- median and p90 (nearest rank) as the KPI report's (``reports.median``, ``reports.p90``).
- waiting: the open cases of the process per ``Case.stage`` now (the period does not apply).
- channel: only cases whose data carries that ``channel`` (orders, samples, complaints,
  enquiries); a process without one then shows nothing.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Engine, func, or_
from sqlmodel import Session, col, select

from shopflow.db import session_scope
from shopflow.models import Case, Task, TimelineEvent
from shopflow.security.csvsafe import safe_rows
from shopflow.services.reports import hours, median, p90
from shopflow.workflows.vocab import CaseKind, TaskStatus

CSV_HEADER = ["process", "section", "step", "count", "median_hours", "p90_hours", "waiting_now"]


def _figures(durations: list[float]) -> dict[str, Any]:
    return {"count": len(durations), "median_hours": median(durations),
            "p90_hours": p90(durations)}


def _case_conditions(process: str, channel: str | None) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = [col(Case.kind) == process]
    if channel:
        conds.append(Case.data["channel"].as_string() == channel)
    return conds


def _steps(session: Session, process: str, channel: str | None, start: datetime,
           end: datetime) -> list[dict[str, Any]]:
    """Each case's events in order, paired with the next: cases alive in the period only."""
    rows = session.exec(
        select(TimelineEvent.case_id, TimelineEvent.type, TimelineEvent.at)
        .join(Case, col(Case.id) == col(TimelineEvent.case_id))
        .where(*_case_conditions(process, channel), col(Case.created_at) < end,
               or_(col(Case.closed_at).is_(None), col(Case.closed_at) >= start),
               col(TimelineEvent.at) < end)
        .order_by(col(TimelineEvent.case_id), col(TimelineEvent.seq))).all()
    durations: dict[tuple[str, str], list[float]] = defaultdict(list)
    for (case, kind, at), (next_case, next_kind, next_at) in zip(rows, rows[1:], strict=False):
        if case == next_case and next_at >= start:
            durations[(kind, next_kind)].append(hours(next_at - at))
    return [{"from": a, "to": b, **_figures(d)} for (a, b), d in durations.items()]


def _tasks(session: Session, process: str, channel: str | None, start: datetime,
           end: datetime) -> list[dict[str, Any]]:
    cases = select(Case.id).where(*_case_conditions(process, channel))
    done = session.exec(
        select(Task.kind, Task.created_at, Task.completed_at)
        .where(col(Task.case_kind) == process, col(Task.status) == TaskStatus.DONE,
               col(Task.completed_at) >= start, col(Task.completed_at) < end,
               col(Task.case_id).in_(cases))).all()
    durations: dict[str, list[float]] = defaultdict(list)
    for kind, opened, closed in done:
        if closed is not None:
            durations[kind].append(hours(closed - opened))
    open_now = dict(session.exec(
        select(Task.kind, func.count())
        .where(col(Task.case_kind) == process,
               col(Task.status).in_([TaskStatus.OPEN, TaskStatus.CLAIMED]),
               col(Task.case_id).in_(cases))
        .group_by(col(Task.kind))).all())
    return [{"kind": kind, **_figures(durations.get(kind, [])), "open": open_now.get(kind, 0)}
            for kind in sorted(set(durations) | set(open_now))]


def _waiting(session: Session, process: str, channel: str | None) -> list[dict[str, Any]]:
    rows = session.exec(
        select(Case.stage, func.count())
        .where(*_case_conditions(process, channel), col(Case.closed_at).is_(None))
        .group_by(col(Case.stage))).all()
    return [{"stage": stage, "cases": n} for stage, n in sorted(rows, key=lambda r: -r[1])]


def step_map(engine: Engine, processes: list[str] | None, start: datetime, end: datetime,
             channel: str | None = None) -> list[dict[str, Any]]:
    """One entry per process (default every ``CaseKind``): its steps (slowest median first),
    its task kinds and where its open cases wait now."""
    out = []
    with session_scope(engine, write=False) as session:
        for process in processes or list(CaseKind):
            steps = sorted(_steps(session, process, channel, start, end),
                           key=lambda s: (-(s["median_hours"] or 0), s["from"], s["to"]))
            out.append({"process": str(process), "steps": steps,
                        "tasks": _tasks(session, process, channel, start, end),
                        "waiting": _waiting(session, process, channel)})
    return out


def render_csv(processes: list[dict[str, Any]]) -> str:
    """One row per step, task kind and waiting stage (cells made safe for a spreadsheet)."""
    rows: list[list[Any]] = [CSV_HEADER]
    for p in processes:
        name = p["process"]
        rows += [[name, "step", f"{s['from']} -> {s['to']}", s["count"], s["median_hours"],
                  s["p90_hours"], ""] for s in p["steps"]]
        rows += [[name, "task", t["kind"], t["count"], t["median_hours"], t["p90_hours"],
                  t["open"]] for t in p["tasks"]]
        rows += [[name, "waiting", w["stage"], "", "", "", w["cases"]] for w in p["waiting"]]
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(safe_rows(rows))
    return out.getvalue()
