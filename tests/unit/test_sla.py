"""The pure business-time clock: properties over random calendars, and the cases they stand for."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from helpdesk.sla.clock import (
    DAYS, Calendar, add_business_time, business_minutes_between, calendar_from_row, is_open, read, resume,
)

UTC = timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "America/Sao_Paulo"]

WEEKDAYS_9_TO_5 = Calendar(
    timezone="Europe/Berlin", weekly_hours={d: [("09:00", "17:00")] for d in DAYS[:5]}
)


@st.composite
def spans(draw) -> list[tuple[str, str]]:
    """Zero to two non-overlapping opening spans of one day, on quarter hours."""
    count = draw(st.integers(0, 2))
    marks = sorted(draw(st.lists(st.integers(0, 96), min_size=2 * count, max_size=2 * count, unique=True)))
    clock = lambda q: "24:00" if q == 96 else f"{q // 4:02d}:{q % 4 * 15:02d}"  # noqa: E731
    return [(clock(marks[i]), clock(marks[i + 1])) for i in range(0, len(marks), 2)]


@st.composite
def business_calendars(draw) -> Calendar:
    hours = {day: draw(spans()) for day in DAYS}
    assume(any(hours.values()))  # open at least once a week
    holidays = draw(st.frozensets(st.dates(date(2024, 1, 1), date(2026, 12, 31)), max_size=20))
    return Calendar(timezone=draw(st.sampled_from(ZONES)), weekly_hours={d: s for d, s in hours.items() if s},
                    holidays=holidays)


moments = st.datetimes(datetime(2024, 1, 1), datetime(2026, 6, 30), timezones=st.just(UTC))
durations = st.integers(0, 60 * 24 * 20)  # up to twenty days of business time


@settings(max_examples=300, deadline=None)
@given(start=moments, minutes=durations, calendar=business_calendars())
def test_business_minutes_between_undoes_add_business_time(start, minutes, calendar):
    due = add_business_time(start, minutes, calendar)
    assert due >= start and due.utcoffset() == timedelta(0)
    assert business_minutes_between(start, due, calendar) == pytest.approx(minutes, abs=1e-6)


@settings(max_examples=200, deadline=None)
@given(start=moments, a=durations, b=durations, calendar=business_calendars())
def test_adding_business_time_in_two_steps_equals_one_step(start, a, b, calendar):
    # zero minutes from a closed moment (a due time can be a closing time) moves to the next opening
    assume(a > 0 and b > 0)
    assert add_business_time(add_business_time(start, a, calendar), b, calendar) == add_business_time(
        start, a + b, calendar
    )


@settings(max_examples=200, deadline=None)
@given(start=moments, minutes=durations, calendar=business_calendars())
def test_due_time_never_falls_on_a_holiday_or_outside_opening_hours(start, minutes, calendar):
    assume(minutes > 0)
    due = add_business_time(start, minutes, calendar)
    just_before = due - timedelta(microseconds=1)
    local = just_before.astimezone(ZoneInfo(calendar.timezone))
    open_then = any(
        opens <= just_before < closes
        for day in (local.date() - timedelta(days=1), local.date())
        for opens, closes in calendar.intervals_on(day)
    )
    assert open_then
    assert all(not calendar.intervals_on(h) for h in calendar.holidays)


@settings(max_examples=200, deadline=None)
@given(start=moments, end=moments, calendar=business_calendars())
def test_elapsed_business_time_is_antisymmetric_and_bounded_by_wall_time(start, end, calendar):
    elapsed = business_minutes_between(start, end, calendar)
    assert elapsed == -business_minutes_between(end, start, calendar)
    assert abs(elapsed) <= abs((end - start).total_seconds()) / 60 + 1e-9


@given(start=moments, minutes=st.floats(0, 1e6, allow_nan=False),
       zone=st.sampled_from(ZONES))
def test_a_24_7_calendar_is_plain_wall_time(start, minutes, zone):
    for calendar in (None, Calendar(timezone=zone)):
        assert add_business_time(start, minutes, calendar) == start + timedelta(minutes=minutes)
        end = start + timedelta(minutes=minutes)
        assert business_minutes_between(start, end, calendar) == pytest.approx((end - start).total_seconds() / 60)


def at(year, month, day, hour, minute=0, tz=BERLIN) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=tz)


def test_friday_afternoon_request_is_due_on_monday():
    due = add_business_time(at(2025, 3, 7, 16), 120, WEEKDAYS_9_TO_5)  # Friday 16:00 + 2 business hours
    assert due == at(2025, 3, 10, 10).astimezone(UTC)


def test_request_outside_hours_starts_counting_at_opening():
    assert add_business_time(at(2025, 3, 5, 22), 30, WEEKDAYS_9_TO_5) == at(2025, 3, 6, 9, 30).astimezone(UTC)
    assert add_business_time(at(2025, 3, 8, 12), 0, WEEKDAYS_9_TO_5) == at(2025, 3, 10, 9).astimezone(UTC)


def test_holidays_are_skipped():
    easter = Calendar(timezone="Europe/Berlin", weekly_hours=WEEKDAYS_9_TO_5.weekly_hours,
                      holidays=frozenset({date(2025, 4, 18), date(2025, 4, 21)}))  # Good Friday, Easter Monday
    due = add_business_time(at(2025, 4, 17, 16), 120, easter)  # Thursday 16:00
    assert due == at(2025, 4, 22, 10).astimezone(UTC)
    assert business_minutes_between(at(2025, 4, 17, 16), at(2025, 4, 22, 10), easter) == 120


def test_business_day_across_the_spring_dst_change_has_real_hours():
    # 30 March 2025: Berlin skips 02:00-03:00. A 00:00-06:00 span is five real hours long.
    sunday = Calendar(timezone="Europe/Berlin", weekly_hours={"sun": [("00:00", "06:00")]})
    assert business_minutes_between(at(2025, 3, 29, 12), at(2025, 3, 31, 12), sunday) == 5 * 60
    assert add_business_time(at(2025, 3, 30, 0), 5 * 60, sunday) == at(2025, 3, 30, 6).astimezone(UTC)


def test_business_day_across_the_autumn_dst_change_has_real_hours():
    # 26 October 2025: Berlin repeats 02:00-03:00, so a 24-hour Sunday lasts 25 hours.
    sunday = Calendar(timezone="Europe/Berlin", weekly_hours={"sun": [("00:00", "24:00")]})
    assert business_minutes_between(at(2025, 10, 25, 12), at(2025, 10, 27, 12), sunday) == 25 * 60
    due = add_business_time(at(2025, 10, 26, 0), 3 * 60, sunday)
    assert due == datetime(2025, 10, 26, 1, tzinfo=UTC)  # 00:00 CEST (22:00 UTC) + 3 h = 02:00 CET


def test_new_york_9_to_5_keeps_its_local_hours_across_dst():
    ny = ZoneInfo("America/New_York")
    calendar = Calendar(timezone="America/New_York", weekly_hours={d: [("09:00", "17:00")] for d in DAYS[:5]})
    # Friday 7 March 2025 16:00 EST + 2 h -> Monday 10 March 10:00 EDT (clocks moved on Sunday)
    due = add_business_time(datetime(2025, 3, 7, 16, tzinfo=ny), 120, calendar)
    assert due == datetime(2025, 3, 10, 10, tzinfo=ny).astimezone(UTC)
    assert due == datetime(2025, 3, 10, 14, tzinfo=UTC)


def test_overnight_span_runs_past_midnight():
    night_shift = Calendar(timezone="UTC", weekly_hours={d: [("22:00", "06:00")] for d in DAYS})
    start = datetime(2025, 5, 5, 23, tzinfo=UTC)
    assert add_business_time(start, 120, night_shift) == datetime(2025, 5, 6, 1, tzinfo=UTC)
    assert add_business_time(datetime(2025, 5, 6, 5, tzinfo=UTC), 120, night_shift) == datetime(2025, 5, 6, 23, tzinfo=UTC)


def test_calendar_with_no_opening_in_two_years_says_so():
    closed = Calendar(timezone="UTC", weekly_hours={"mon": []}, holidays=frozenset())
    with pytest.raises(ValueError, match="no business hours"):
        add_business_time(datetime(2025, 1, 1, tzinfo=UTC), 1, closed)


def test_calendar_from_database_row():
    calendar = calendar_from_row("Europe/Berlin", {"mon": [["09:00", "17:00"]]}, ["2025-12-25"])
    assert calendar.weekly_hours == {"mon": [("09:00", "17:00")]} and calendar.holidays == {date(2025, 12, 25)}


# -- calendars with overnight shifts, holidays by country, pauses in business time, readings --------

@st.composite
def shift_calendars(draw) -> Calendar:
    """Calendars with an overnight shift (22:00-06:00 style) beside day spans, in the DST zones."""
    night_start = draw(st.integers(17 * 4, 23 * 4))
    night_end = draw(st.integers(1 * 4, 7 * 4))
    clock = lambda q: f"{q // 4:02d}:{q % 4 * 15:02d}"  # noqa: E731
    days = draw(st.lists(st.sampled_from(DAYS), min_size=1, max_size=7, unique=True))
    hours = {d: [("09:00", "12:00"), ("13:00", "16:00")] for d in DAYS[:5]}
    for d in days:
        hours.setdefault(d, []).append((clock(night_start), clock(night_end)))
    return Calendar(timezone=draw(st.sampled_from(["Europe/Berlin", "America/New_York"])), weekly_hours=hours,
                    holiday_country=draw(st.sampled_from([None, "DE", "US"])))


dst_moments = st.sampled_from([
    datetime(2025, 3, 29, 20, tzinfo=UTC), datetime(2025, 3, 8, 20, tzinfo=UTC),  # spring: Berlin, New York
    datetime(2025, 10, 25, 20, tzinfo=UTC), datetime(2025, 11, 1, 20, tzinfo=UTC),  # autumn
]) | moments


@settings(max_examples=300, deadline=None)
@given(start=dst_moments, minutes=durations, calendar=shift_calendars())
def test_overnight_shifts_and_country_holidays_round_trip_across_dst(start, minutes, calendar):
    due = add_business_time(start, minutes, calendar)
    assert business_minutes_between(start, due, calendar) == pytest.approx(minutes, abs=1e-6)
    if minutes:
        assert is_open(due - timedelta(microseconds=1), calendar)
        assert not calendar.is_holiday(calendar.local_date(due - timedelta(microseconds=1))) or any(
            # an overnight span opened the evening before a holiday runs into it
            opens <= due - timedelta(microseconds=1) < closes
            for opens, closes in calendar.intervals_on(calendar.local_date(due) - timedelta(days=1)))


@settings(max_examples=300, deadline=None)
@given(start=dst_moments, target=durations, pause=st.integers(0, 60 * 24 * 10), resume_after=st.integers(0, 60 * 24 * 30),
       calendar=st.one_of(business_calendars(), shift_calendars(), st.none()))
def test_a_pause_keeps_the_business_time_that_was_left_or_overdue(start, target, pause, resume_after, calendar):
    due = add_business_time(start, target, calendar)
    paused_at = start + timedelta(minutes=pause)
    resumed_at = paused_at + timedelta(minutes=resume_after)
    left_at_pause = business_minutes_between(paused_at, due, calendar)
    moved = resume(due, paused_at, resumed_at, calendar)
    assert moved >= due
    assert business_minutes_between(resumed_at, moved, calendar) == pytest.approx(left_at_pause, abs=1e-6)
    # and the reading agrees: paused shows what is left, never a negative "left"
    paused = read(due, resumed_at, calendar, paused_at=paused_at)
    assert paused.state == "paused" and paused.minutes >= 0
    assert paused.overdue == (due <= paused_at)


def test_resuming_adds_the_paused_business_time_not_the_wall_clock():
    # paused Friday 16:00 with 1 business hour left, resumed Monday 10:00 (1 business hour paused)
    due = at(2025, 3, 7, 17)
    moved = resume(due, at(2025, 3, 7, 16), at(2025, 3, 10, 10), WEEKDAYS_9_TO_5)
    assert moved == at(2025, 3, 10, 11).astimezone(UTC)  # wall clock would have said Monday 11:00 + 2 days


def test_country_and_region_holidays_are_closed():
    bavaria = Calendar(timezone="Europe/Berlin", weekly_hours=WEEKDAYS_9_TO_5.weekly_hours,
                       holiday_country="DE", holiday_region="BY")
    berlin = Calendar(timezone="Europe/Berlin", weekly_hours=WEEKDAYS_9_TO_5.weekly_hours, holiday_country="DE")
    epiphany = date(2026, 1, 6)  # a holiday in Bavaria, not in the rest of Germany
    assert bavaria.is_holiday(epiphany) and not berlin.is_holiday(epiphany)
    assert bavaria.intervals_on(epiphany) == ()
    # Monday 5 January 2026 16:00 + 2 business hours: Bavaria skips Tuesday the 6th
    assert add_business_time(at(2026, 1, 5, 16), 120, bavaria) == at(2026, 1, 7, 10).astimezone(UTC)
    assert add_business_time(at(2026, 1, 5, 16), 120, berlin) == at(2026, 1, 6, 10).astimezone(UTC)
    assert calendar_from_row("Europe/Berlin", {}, [], "DE", "BY").is_holiday(epiphany)


def test_a_reading_says_overdue_by_never_negative_time_left():
    due = datetime(2025, 5, 1, 12, tzinfo=UTC)
    assert read(due, due - timedelta(hours=3, minutes=5), None).text == "3h 05m left"
    overdue = read(due, due + timedelta(days=1, hours=2), None)
    assert (overdue.state, overdue.text) == ("overdue", "overdue by 1d 2h")
    paused = read(due, due + timedelta(days=5), None, paused_at=due + timedelta(days=1, hours=2))
    assert (paused.state, paused.text) == ("paused", "paused, overdue by 1d 2h")
    assert read(due, due, None, paused_at=due - timedelta(minutes=12)).text == "paused, 12m left"
    assert read(due, due, None, met=True).text == "met"
