"""helpdesk/tickets/snooze.py's pure rules: what time a snooze form means, in the agent's zone."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from helpdesk.tickets.actions import TicketError
from helpdesk.tickets.snooze import agent_zone, snooze_time

BERLIN = ZoneInfo("Europe/Berlin")
# Tuesday 1 Dec 2026, 23:30 in Berlin (22:30 UTC): "tomorrow" is Wednesday there, still Tuesday in UTC
LATE_TUESDAY = datetime(2026, 12, 1, 22, 30, tzinfo=timezone.utc)


def test_presets_are_nine_in_the_morning_where_the_agent_is():
    assert snooze_time("1h", "", BERLIN, LATE_TUESDAY) == LATE_TUESDAY + timedelta(hours=1)
    assert snooze_time("tomorrow", "", BERLIN, LATE_TUESDAY) == datetime(2026, 12, 2, 8, 0, tzinfo=timezone.utc)
    assert snooze_time("monday", "", BERLIN, LATE_TUESDAY) == datetime(2026, 12, 7, 8, 0, tzinfo=timezone.utc)
    # on a Monday, "next Monday" is a week on, not today
    monday = datetime(2026, 12, 7, 6, 0, tzinfo=timezone.utc)
    assert snooze_time("monday", "", BERLIN, monday) == datetime(2026, 12, 14, 8, 0, tzinfo=timezone.utc)
    # in New York it is still Tuesday afternoon: tomorrow is Wednesday 9:00 there (14:00 UTC)
    assert snooze_time("tomorrow", "", ZoneInfo("America/New_York"), LATE_TUESDAY) == \
        datetime(2026, 12, 2, 14, 0, tzinfo=timezone.utc)


def test_a_chosen_time_is_read_in_the_agents_zone_across_summer_time():
    assert snooze_time("", "2026-12-02T09:00", BERLIN, LATE_TUESDAY) == datetime(2026, 12, 2, 8, 0, tzinfo=timezone.utc)
    assert snooze_time("", "2027-07-01T09:00", BERLIN, LATE_TUESDAY) == datetime(2027, 7, 1, 7, 0, tzinfo=timezone.utc)


def test_the_zone_falls_back_to_the_browsers_offset_then_utc():
    assert agent_zone("Europe/Berlin") == BERLIN
    assert agent_zone("Not/AZone", "-60").utcoffset(None) == timedelta(hours=1)  # getTimezoneOffset: minutes behind
    assert agent_zone("", "300").utcoffset(None) == timedelta(hours=-5)
    assert agent_zone("../../etc/passwd", "nonsense") == timezone.utc
    assert agent_zone("", "100000") == timezone.utc


@pytest.mark.parametrize("preset, local, message", [
    ("", "", "choose a date and time"),
    ("", "next week", "is not a date and time"),
    ("someday", "", "there is no snooze preset"),
])
def test_a_form_without_a_time_says_what_is_missing(preset, local, message):
    with pytest.raises(TicketError, match=message) as raised:
        snooze_time(preset, local, BERLIN, LATE_TUESDAY)
    assert raised.value.field == "until"
