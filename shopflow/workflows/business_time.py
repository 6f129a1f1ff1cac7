"""Business time: due times and SLAs counted in working hours (issue 17.5).

A ``BusinessCalendar`` says when the business works: a time zone, the weekdays and the hours of
a working day (``SHOPFLOW_BUSINESS_HOURS``, e.g. ``09:00-18:00 Mon-Fri``), holidays and extra
working days (``SHOPFLOW_HOLIDAYS``, a file of dates). ``add(start, duration, calendar)`` is the
moment ``duration`` of working time after ``start``: 8 business hours from Friday 17:00 is
Monday 16:00 (one hour on Friday, seven on Monday). ``between(a, b, calendar)`` is the working
time from ``a`` to ``b`` (a clock that pauses counts with it).

Pure and deterministic: standard library only (``zoneinfo``), no clock, so workflows compute
their deadlines with it from ``workflow.now()`` and the calendar copied into their input when
the case started (services/timers.py); listed in worker.PASSTHROUGH. A calendar without hours
(``None`` or ``always()``) is every hour of every day: plain arithmetic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Longest stretch looked through for working time (ten years of holidays would be needed to
# exhaust it).
HORIZON_DAYS = 3700


@dataclass
class BusinessCalendar:
    """When the business works. ``days``: weekdays (0 = Monday) with working hours from ``start``
    to ``end`` (minutes after local midnight); empty: every day, all day. ``holidays``: local
    dates (ISO) not worked; ``workdays``: local dates worked although their weekday is not (a
    make-up working Saturday)."""

    zone: str = "UTC"
    days: list[int] = field(default_factory=list)
    start: int = 0
    end: int = 24 * 60
    holidays: list[str] = field(default_factory=list)
    workdays: list[str] = field(default_factory=list)

    def always(self) -> bool:
        """Every hour counts: no working hours, no holidays."""
        return not self.days and not self.holidays


def parse_hours(text: str) -> tuple[list[int], int, int]:
    """``"09:00-18:00 Mon-Fri"`` (either order; days as ranges or comma lists, ``Sat``, ``daily``)
    to (weekdays, start minute, end minute). Raises ValueError saying what is wrong."""
    hours = re.search(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})", text)
    if hours is None:
        raise ValueError(f"business hours {text!r}: no HH:MM-HH:MM")
    h1, m1, h2, m2 = (int(g) for g in hours.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if not (0 <= start < end <= 24 * 60) or m1 > 59 or m2 > 59:
        raise ValueError(f"business hours {text!r}: the day must start before it ends, "
                         "within 00:00-24:00")
    rest = (text[:hours.start()] + " " + text[hours.end():]).strip().lower()
    if rest in ("", "daily", "every day"):
        return list(range(7)), start, end
    days: set[int] = set()
    for part in re.split(r"[\s,]+", rest):
        if not part:
            continue
        ends = part.split("-")
        if len(ends) > 2 or any(e[:3] not in DAY_NAMES for e in ends):
            raise ValueError(f"business hours {text!r}: {part!r} is not a day (Mon..Sun) or "
                             "a range of days (Mon-Fri)")
        a, b = DAY_NAMES.index(ends[0][:3]), DAY_NAMES.index(ends[-1][:3])
        days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
    return sorted(days), start, end


def parse_holidays(text: str) -> tuple[list[str], list[str]]:
    """A holidays file: one ISO date per line (``2026-10-01``), optionally followed by a note;
    ``2026-09-27 workday`` marks a make-up working day; ``#`` starts a comment. Returns
    (holidays, workdays). Raises ValueError naming the line."""
    holidays: list[str] = []
    workdays: list[str] = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        first, _, note = line.partition(" ")
        try:
            day = date.fromisoformat(first)
        except ValueError:
            raise ValueError(f"holidays line {n}: {first!r} is not a date (YYYY-MM-DD)") from None
        target = workdays if note.strip().lower() in ("workday", "working", "工作日", "上班") \
            else holidays
        target.append(day.isoformat())
    return sorted(set(holidays)), sorted(set(workdays))


def make(zone: str, hours: str = "", holidays: str = "") -> BusinessCalendar:
    """A checked calendar from the settings' texts (hours empty: every hour counts)."""
    ZoneInfo(zone)  # raises for an unknown zone
    days, start, end = parse_hours(hours) if hours.strip() else ([], 0, 24 * 60)
    off, on = parse_holidays(holidays)
    return BusinessCalendar(zone, days, start, end, off, on)


def _window(day: date, calendar: BusinessCalendar, zone: ZoneInfo
            ) -> tuple[datetime, datetime] | None:
    """The working hours of a local day, as UTC instants; None for a day off."""
    iso = day.isoformat()
    if iso in calendar.holidays:
        return None
    days = calendar.days or list(range(7))
    if day.weekday() not in days and iso not in calendar.workdays:
        return None
    start = datetime.combine(day, time(calendar.start // 60, calendar.start % 60), zone)
    if calendar.end >= 24 * 60:
        end = datetime.combine(day + timedelta(days=1), time(0), zone)
    else:
        end = datetime.combine(day, time(calendar.end // 60, calendar.end % 60), zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def add(start: datetime, duration: timedelta, calendar: BusinessCalendar | None) -> datetime:
    """The instant ``duration`` of working time after ``start`` (an aware datetime); a start
    outside working hours counts from the next working hour. UTC-aware result."""
    if calendar is None or calendar.always() or duration <= timedelta(0):
        # In UTC: an aware datetime plus a duration is wall-clock arithmetic in its own zone.
        return start if not duration else start.astimezone(UTC) + duration
    zone = ZoneInfo(calendar.zone)
    now = start.astimezone(UTC)
    left = duration
    day = now.astimezone(zone).date()
    for _ in range(HORIZON_DAYS):
        window = _window(day, calendar, zone)
        if window is not None:
            opens, closes = window
            at = max(now, opens)
            if at < closes:
                if at + left <= closes:
                    return at + left
                left -= closes - at
                now = closes
        day += timedelta(days=1)
    raise ValueError("no working time found within the calendar's horizon")


def between(a: datetime, b: datetime, calendar: BusinessCalendar | None) -> timedelta:
    """Working time from ``a`` to ``b`` (zero when ``b`` is not after ``a``)."""
    if b <= a:
        return timedelta(0)
    if calendar is None or calendar.always():
        return b.astimezone(UTC) - a.astimezone(UTC)
    zone = ZoneInfo(calendar.zone)
    a, b = a.astimezone(UTC), b.astimezone(UTC)
    total = timedelta(0)
    day = a.astimezone(zone).date()
    last = b.astimezone(zone).date()
    while day <= last:
        window = _window(day, calendar, zone)
        if window is not None:
            lo, hi = max(a, window[0]), min(b, window[1])
            if hi > lo:
                total += hi - lo
        day += timedelta(days=1)
    return total


def fraction(duration: timedelta, share: float) -> timedelta:
    """``share`` of a duration, whole seconds (a timer's length stays a plain number)."""
    return timedelta(seconds=int(duration.total_seconds() * share))


@dataclass
class TaskClock:
    """What a case counts its task due times and SLAs with, copied from the settings into its
    input when it starts (services/timers.py; absent from older cases' inputs: 24/7 and the one
    due time). ``calendar``: None when every hour counts; ``dues``: task kind -> due time
    (``SHOPFLOW_TASK_DUE_<KIND>``)."""

    calendar: BusinessCalendar | None = None
    dues: dict[str, timedelta] = field(default_factory=dict)


def clock_from(value: TaskClock | dict[str, object] | None) -> TaskClock | None:
    """A clock back from carried state (continue-as-new gives plain dicts)."""
    if value is None or isinstance(value, TaskClock):
        return value
    calendar = value.get("calendar")
    dues = value.get("dues") or {}
    assert isinstance(dues, dict)
    return TaskClock(
        BusinessCalendar(**calendar) if isinstance(calendar, dict) else None,
        {str(k): v if isinstance(v, timedelta) else timedelta(seconds=float(v))
         for k, v in dues.items()})
