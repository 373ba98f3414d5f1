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
        """Open intervals that start on one local day, as UTC datetimes.

        UTC, because arithmetic between two datetimes sharing a ZoneInfo is wall-clock
        arithmetic: across a DST change 08:00-18:00 would count 10 hours instead of 9 or 11.
        A span ending at or before it starts ("22:00"-"06:00") runs past midnight.
        """
        if day in self.holidays:
            return []
        tz = ZoneInfo(self.timezone)
        result = []
        for start, end in self.weekly_hours.get(DAYS[day.weekday()], []):
            opens = datetime.combine(day, time.fromisoformat(start), tz)
            if end == "24:00":
                closes = datetime.combine(day + timedelta(days=1), time(0), tz)
            else:
                closes = datetime.combine(day, time.fromisoformat(end), tz)
                if closes <= opens:
                    closes = datetime.combine(day + timedelta(days=1), time.fromisoformat(end), tz)
            opens, closes = opens.astimezone(timezone.utc), closes.astimezone(timezone.utc)
            if closes > opens:  # a span inside a skipped DST hour has no length
                result.append((opens, closes))
        return result


def calendar_from_row(timezone_name: str, weekly_hours: dict, holidays: list) -> Calendar:
    return Calendar(
        timezone=timezone_name,
        weekly_hours={day: [tuple(span) for span in spans] for day, spans in (weekly_hours or {}).items()},
        holidays=frozenset(date.fromisoformat(d) for d in holidays or []),
    )


def is_open(at: datetime, calendar: Calendar | None) -> bool:
    """Whether `at` falls in the calendar's business hours (no calendar, or no hours: always)."""
    if calendar is None or calendar.always_open:
        return True
    at = at.astimezone(timezone.utc)
    today = at.astimezone(ZoneInfo(calendar.timezone)).date()
    # yesterday's spans too: one that runs past midnight may still be open
    return any(opens <= at < closes for day in (today - timedelta(days=1), today)
               for opens, closes in calendar.intervals_on(day))


def add_business_time(start: datetime, minutes: float, calendar: Calendar | None) -> datetime:
    """The moment `minutes` of business time after `start` (as UTC)."""
    if calendar is None or calendar.always_open:
        return (start + timedelta(minutes=minutes)).astimezone(timezone.utc)
    remaining = timedelta(minutes=minutes)
    start = start.astimezone(timezone.utc)
    # from the day before: an overnight span that opened yesterday may still be open
    day = start.astimezone(ZoneInfo(calendar.timezone)).date() - timedelta(days=1)
    closed_days = 0
    while closed_days < 366 * 2:  # sparse calendars may take long; one never open must not loop forever
        closed_days += 1
        for opens, closes in calendar.intervals_on(day):
            begin = max(opens, start)
            if begin >= closes:
                continue
            closed_days = 0
            available = closes - begin
            if remaining <= available:
                return begin + remaining
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
    start, end = start.astimezone(timezone.utc), end.astimezone(timezone.utc)
    total = timedelta()
    day = start.astimezone(tz).date() - timedelta(days=1)
    last = end.astimezone(tz).date()
    while day <= last:
        for opens, closes in calendar.intervals_on(day):
            begin, finish = max(opens, start), min(closes, end)
            if finish > begin:
                total += finish - begin
        day += timedelta(days=1)
    return total.total_seconds() / 60
