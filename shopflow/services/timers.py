"""The one place where a process's clocks are copied from the settings into its workflow input.

Each process declares its timers as a dataclass (``OrderTimers``, ``ReturnTimers`` …) whose
fields are named after a setting (``task_due``) or mapped here (``followup_delay`` is
``feedback_delay``). An open case keeps the policy it started with: the values are copied at
start, never read again. A field typed ``timedelta`` gets the duration; a field still typed
``float`` gets seconds (the older inputs' form). A field named ``clock`` gets the case's
``TaskClock`` (issue 17.5): the business calendar (``SHOPFLOW_TIMEZONE``,
``SHOPFLOW_BUSINESS_HOURS``, ``SHOPFLOW_HOLIDAYS``; none when every hour counts) and the due
times per task kind (``SHOPFLOW_TASK_DUE_<KIND>``), so a workflow computes its deadlines from
its input alone.
"""

from __future__ import annotations

import dataclasses
import typing
from datetime import timedelta
from typing import Any, TypeVar

from shopflow.settings import Settings
from shopflow.workflows.business_time import TaskClock

T = TypeVar("T")

# Timer field -> setting, where the names differ.
SETTING_OF: dict[str, str] = {
    "notice_send": "notice_send_timeout",
    "provider_call": "provider_call_timeout",
    "followup_delay": "feedback_delay",
    "info_timeout": "sample_info_timeout",
    "ship_timeout": "return_ship_timeout",
    "response_sla": "complaint_response_sla",
    "resolution_sla": "complaint_resolution_sla",
    "reopen_window": "complaint_reopen_window",
    "history_limit": "history_event_limit",
    "low_score": "sample_feedback_low_score",
}


def timers_for(cls: type[T], settings: Settings, **given: timedelta) -> T:
    """``cls`` filled from ``settings``; ``given`` durations win (a policy already fixed, such as
    a return's ship timeout recorded with the request)."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name == "clock":
            values[f.name] = clock_of(settings)
            continue
        if f.name in given:
            duration = given[f.name]
        else:
            setting = SETTING_OF.get(f.name, f.name)
            found = getattr(settings, setting, None)
            if hints[f.name] is int and isinstance(found, int):
                values[f.name] = found  # a count, not a duration (history_limit, low_score)
                continue
            if not isinstance(found, timedelta):
                raise LookupError(f"{cls.__name__}.{f.name}: no duration setting {setting!r}")
            duration = found
        values[f.name] = duration.total_seconds() if hints[f.name] is float else duration
    unknown = set(given) - set(values)
    if unknown:
        raise TypeError(f"{cls.__name__} has no timer {', '.join(sorted(unknown))}")
    return cls(**values)


def clock_of(settings: Settings) -> TaskClock | None:
    """The business calendar and per-kind due times a case starts with (None: neither set)."""
    calendar = settings.business_calendar()
    clock = TaskClock(None if calendar.always() else calendar, dict(settings.task_due_by_kind))
    return clock if clock.calendar is not None or clock.dues else None
