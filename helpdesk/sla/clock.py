"""The pure business-time clock: calendars, due times, elapsed business time, pauses. No I/O.

Every SLA computation goes through here: ingest, ticket actions, the outbox, the sweep and the
screens. A due time is a UTC moment; a pause keeps the *business* time that was left (or the
business time it was overdue by), not the wall-clock time (`resume`). A clock is read as running,
overdue, paused or met (`read`), and overdue is its own state: "overdue by 1d 2h", never "-1d 2h left".
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
UTC = timezone.utc
_ZERO = timedelta()


@dataclass(frozen=True, eq=False)
class Calendar:
    """Weekly opening hours in a time zone, minus holidays. No hours at all means 24/7.

    `weekly_hours` may hold several spans a day; a span ending at or before it starts ("22:00" to
    "06:00") runs past midnight. Holidays are the explicit `holidays` plus, with `holiday_country`
    (ISO 3166, e.g. "DE") and `holiday_region` (its subdivision, e.g. "BY"), the public holidays
    the `holidays` package knows for it.
    """

    timezone: str = "UTC"
    weekly_hours: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    holidays: frozenset[date] = frozenset()
    holiday_country: str | None = None
    holiday_region: str | None = None
    # day -> its open intervals in UTC; a calendar is asked about the same few days again and again
    _days: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        zone = ZoneInfo(self.timezone)  # an unknown zone fails here, where the calendar is made
        spans = {}
        for index, name in enumerate(DAYS):
            parsed = []
            for start, end in self.weekly_hours.get(name, []):
                opens = time.fromisoformat(start)
                closes, next_day = (time(0), True) if end == "24:00" else (time.fromisoformat(end), False)
                parsed.append((opens, closes, next_day or closes <= opens))
            spans[index] = tuple(parsed)
        object.__setattr__(self, "_zone", zone)
        object.__setattr__(self, "_spans", spans)
        object.__setattr__(self, "_country", _country_holidays(self.holiday_country, self.holiday_region))

    @property
    def always_open(self) -> bool:
        return not self.weekly_hours  # {"mon": []} is a calendar that is never open

    def is_holiday(self, day: date) -> bool:
        return day in self.holidays or (self._country is not None and day in self._country)

    def intervals_on(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        """Open intervals that start on one local day, as UTC datetimes.

        UTC, because arithmetic between two datetimes sharing a ZoneInfo is wall-clock
        arithmetic: across a DST change 08:00-18:00 would count 10 hours instead of 9 or 11.
        """
        found = self._days.get(day)
        if found is not None:
            return found
        result = []
        if not self.is_holiday(day):
            zone = self._zone
            for opens, closes, next_day in self._spans[day.weekday()]:
                start = datetime.combine(day, opens, zone).astimezone(UTC)
                end = datetime.combine(day + timedelta(days=1) if next_day else day, closes, zone).astimezone(UTC)
                if end > start:  # a span inside a skipped DST hour has no length
                    result.append((start, end))
        if len(self._days) > 4096:
            self._days.clear()
        self._days[day] = found = tuple(result)
        return found

    def local_date(self, at: datetime) -> date:
        return at.astimezone(self._zone).date()


def _country_holidays(country: str | None, region: str | None):
    if not country:
        return None
    import holidays  # the package's data is pure Python: no I/O

    return holidays.country_holidays(country.upper(), subdiv=region or None)


def calendar_from_row(timezone_name: str, weekly_hours: dict, holidays: list,
                      holiday_country: str | None = None, holiday_region: str | None = None) -> Calendar:
    """A calendar from a `business_calendars` row's columns."""
    return Calendar(
        timezone=timezone_name,
        weekly_hours={day: [tuple(span) for span in spans] for day, spans in (weekly_hours or {}).items()},
        holidays=frozenset(date.fromisoformat(d) for d in holidays or []),
        holiday_country=holiday_country,
        holiday_region=holiday_region,
    )


def is_open(at: datetime, calendar: Calendar | None) -> bool:
    """Whether `at` falls in the calendar's business hours (no calendar, or no hours: always)."""
    if calendar is None or calendar.always_open:
        return True
    at = at.astimezone(UTC)
    today = calendar.local_date(at)
    # yesterday's spans too: one that runs past midnight may still be open
    return any(opens <= at < closes for day in (today - timedelta(days=1), today)
               for opens, closes in calendar.intervals_on(day))


def add_business_time(start: datetime, minutes: float, calendar: Calendar | None) -> datetime:
    """The moment `minutes` of business time after `start` (as UTC). From a closed moment the count
    starts at the next opening, so the result always lies in (or at the end of) open hours."""
    start = start.astimezone(UTC)
    remaining = timedelta(minutes=minutes)
    if calendar is None or calendar.always_open:
        return start + remaining
    # from the day before: an overnight span that opened yesterday may still be open
    day = calendar.local_date(start) - timedelta(days=1)
    closed_days = 0
    one_day = timedelta(days=1)
    while closed_days < 366 * 2:  # sparse calendars may take long; one never open must not loop forever
        closed_days += 1
        for opens, closes in calendar.intervals_on(day):
            begin = opens if opens > start else start
            if begin >= closes:
                continue
            closed_days = 0
            available = closes - begin
            if remaining <= available:
                return begin + remaining
            remaining -= available
        day += one_day
    raise ValueError("calendar has no business hours in the next two years")


def business_minutes_between(start: datetime, end: datetime, calendar: Calendar | None) -> float:
    """Business time elapsed from `start` to `end` (negative if end is earlier)."""
    if end < start:
        return -business_minutes_between(end, start, calendar)
    if calendar is None or calendar.always_open:
        return (end - start).total_seconds() / 60
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    total = _ZERO
    day = calendar.local_date(start) - timedelta(days=1)
    last = calendar.local_date(end)
    while day <= last:
        for opens, closes in calendar.intervals_on(day):
            begin, finish = max(opens, start), min(closes, end)
            if finish > begin:
                total += finish - begin
        day += timedelta(days=1)
    return total.total_seconds() / 60


def resume(due: datetime, paused_at: datetime, resumed_at: datetime, calendar: Calendar | None) -> datetime:
    """The due time after a pause: moved on by the *business* time the clock stood still, so what
    was left (or what it was overdue by) is the same business time as when it paused."""
    paused_for = business_minutes_between(paused_at, resumed_at, calendar)
    if paused_for <= 0:
        return due
    return add_business_time(due, paused_for, calendar)


@dataclass(frozen=True)
class Reading:
    """A clock as a person reads it. `minutes` is business time: left while running or paused with
    time left, overdue by when overdue (always >= 0)."""

    state: str  # running | overdue | paused | met
    minutes: float
    overdue: bool = False  # also for a paused clock that was overdue when it paused

    @property
    def text(self) -> str:
        if self.state == "met":
            return "met"
        span = format_span(self.minutes)
        what = f"overdue by {span}" if self.overdue else f"{span} left"
        return f"paused, {what}" if self.state == "paused" else what


def read(due: datetime, now: datetime, calendar: Calendar | None, *, paused_at: datetime | None = None,
         met: bool = False) -> Reading:
    """The clock due at `due`, read at `now` (or at the moment it paused, if it is paused)."""
    if met:
        return Reading("met", 0)
    at = paused_at if paused_at is not None else now
    left = business_minutes_between(at, due, calendar)
    overdue = due <= at
    state = "paused" if paused_at is not None else ("overdue" if overdue else "running")
    return Reading(state, abs(left), overdue)


def format_span(minutes: float) -> str:
    """Business minutes as a person says them: "1d 2h", "3h 05m", "12m"."""
    minutes = int(round(abs(minutes)))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {mins:02d}m"
    return f"{mins}m"
