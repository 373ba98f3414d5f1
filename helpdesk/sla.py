"""The pure business-time clock: calendars, due times, elapsed business time. No I/O."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Calendar:
    """Weekly opening hours in a time zone, minus holidays. No hours at all means 24/7."""

    timezone: str = "UTC"
    weekly_hours: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    holidays: frozenset[date] = frozenset()

    @property
    def always_open(self) -> bool:
        return not self.weekly_hours

    def intervals_on(self, day: date) -> list[tuple[datetime, datetime]]:
        """Open intervals of one local day, as aware datetimes."""
        if day in self.holidays:
            return []
        tz = ZoneInfo(self.timezone)
        result = []
        for start, end in self.weekly_hours.get(DAYS[day.weekday()], []):
            opens = datetime.combine(day, time.fromisoformat(start), tz)
            closes = datetime.combine(day, time.fromisoformat(end), tz) if end != "24:00" else (
                datetime.combine(day + timedelta(days=1), time(0), tz)
            )
            result.append((opens, closes))
        return result


def calendar_from_row(timezone_name: str, weekly_hours: dict, holidays: list) -> Calendar:
    return Calendar(
        timezone=timezone_name,
        weekly_hours={day: [tuple(span) for span in spans] for day, spans in (weekly_hours or {}).items()},
        holidays=frozenset(date.fromisoformat(d) for d in holidays or []),
    )


def add_business_time(start: datetime, minutes: float, calendar: Calendar | None) -> datetime:
    """The moment `minutes` of business time after `start`."""
    if calendar is None or calendar.always_open:
        return start + timedelta(minutes=minutes)
    remaining = timedelta(minutes=minutes)
    local = start.astimezone(ZoneInfo(calendar.timezone))
    day = local.date()
    for _ in range(366 * 2):  # a calendar open at least once in two years ends the loop
        for opens, closes in calendar.intervals_on(day):
            begin = max(opens, local)
            if begin >= closes:
                continue
            available = closes - begin
            if remaining <= available:
                return (begin + remaining).astimezone(timezone.utc)
            remaining -= available
        day += timedelta(days=1)
    raise ValueError("calendar has no business hours in the next two years")


def business_minutes_between(start: datetime, end: datetime, calendar: Calendar | None) -> float:
    """Business time elapsed from `start` to `end` (negative if end is earlier)."""
    if end < start:
        return -business_minutes_between(end, start, calendar)
    if calendar is None or calendar.always_open:
        return (end - start).total_seconds() / 60
    tz = ZoneInfo(calendar.timezone)
    local_start, local_end = start.astimezone(tz), end.astimezone(tz)
    total = timedelta()
    day = local_start.date()
    while day <= local_end.date():
        for opens, closes in calendar.intervals_on(day):
            begin, finish = max(opens, local_start), min(closes, local_end)
            if finish > begin:
                total += finish - begin
        day += timedelta(days=1)
    return total.total_seconds() / 60
