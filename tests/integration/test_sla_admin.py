"""The SLA admin screen (/console/admin/sla): policies with conditions, targets per priority ("1h 30m"),
warning share and calendar, in their order (moved up and down); calendars with several spans a day,
overnight shifts, a country's holidays plus dates, or 24/7; bad input refused next to its field."""
from __future__ import annotations

import re
from html import unescape

from sqlalchemy import select

from helpdesk.models import BusinessCalendar, Organization, SlaPolicy
from helpdesk.sla import admin as sla_admin
from tests.support.console import app, client, shop, sign_in  # noqa: F401

CALENDAR = {"name": "Berlin office", "timezone": "Europe/Berlin", "hours_mon": "09:00-12:00, 13:00–17:00",
            "hours_tue": "09:00-17:00", "hours_fri": "22:00-06:00", "holiday_country": "de", "holiday_region": "by",
            "holidays": "2026-12-24, 2026-12-31"}
POLICY = {"name": "Urgent email", "priority": "urgent", "channel": "email", "tags": "VIP, refund", "active": "1",
          "any_first_response": "4h", "any_resolution": "48h", "urgent_first_response": "30",
          "urgent_next_response": "1h 30m", "warn_at_percent": "80"}


def test_durations_and_spans_read_as_admins_write_them():
    assert [sla_admin.parse_duration(t) for t in ("90", "1h 30m", "2h", "45m", "45 min", " ")] == [90, 90, 120, 45, 45, None]
    assert sla_admin.format_duration(90) == "1h 30m" and sla_admin.format_duration(60) == "1h"
    assert sla_admin.parse_spans("9:00-12:00; 22:00 to 06:00, 00:00-24:00") == [
        ["09:00", "12:00"], ["22:00", "06:00"], ["00:00", "24:00"]]
    for bad in ("1x", "1h 30", "0", "h"):
        try:
            sla_admin.parse_duration(bad)
        except sla_admin.SlaSettingsError as error:
            assert "duration" in str(error) or "1 minute" in str(error)
        else:
            raise AssertionError(f"{bad!r} was read as a duration")


async def test_admin_creates_a_calendar_and_a_policy_and_sees_them_listed(client, session, shop):
    token = await sign_in(client, "admin")
    page = await client.get("/console/admin/sla")
    assert page.status_code == 200 and "No policies yet" in page.text
    assert 'href="/console/admin/sla" aria-current="page"' in page.text

    made = await client.post("/console/admin/sla/calendars", data={**CALENDAR, "_csrf_token": token})
    assert made.status_code == 200, made.text
    calendar = await session.scalar(select(BusinessCalendar).where(BusinessCalendar.name == "Berlin office"))
    assert calendar.weekly_hours == {"mon": [["09:00", "12:00"], ["13:00", "17:00"]], "tue": [["09:00", "17:00"]],
                                     "fri": [["22:00", "06:00"]]}
    assert (calendar.timezone, calendar.holiday_country, calendar.holiday_region) == ("Europe/Berlin", "DE", "BY")
    assert calendar.holidays == ["2026-12-24", "2026-12-31"]

    session.add(Organization(name="Acme Ltd"))
    await session.commit()
    made = await client.post("/console/admin/sla/policies", data={
        **POLICY, "any_resolution": "48h", "organization": "acme ltd", "team_id": str(shop.team_id),
        "calendar_id": str(calendar.id), "_csrf_token": token})
    assert made.status_code == 200, made.text
    assert "Policy Urgent email created" in made.text
    policy = await session.scalar(select(SlaPolicy).where(SlaPolicy.name == "Urgent email"))
    assert (policy.match_priority, policy.match_channel, policy.match_team_id, policy.calendar_id) == (
        "urgent", "email", shop.team_id, calendar.id)
    assert policy.match_organization_id is not None and policy.match_tags == ["vip", "refund"]
    assert (policy.first_response_minutes, policy.next_response_minutes, policy.resolution_minutes) == (240, None, 2880)
    assert policy.targets == {"urgent": {"first_response": 30, "next_response": 90}}
    assert policy.warn_at_percent == 80 and policy.active

    listed = await client.get("/console/admin/sla")
    row = re.search(rf'<tr data-policy-id="{policy.id}".*?</tr>', listed.text, re.S).group(0)
    assert "priority urgent; channel email; organization Acme Ltd; team Support; tags vip, refund" in unescape(row)
    assert "Berlin office" in row
    edit = await client.get(f"/console/admin/sla/policies/{policy.id}")
    assert 'name="urgent_next_response" value="1h 30m"' in edit.text and 'value="Acme Ltd"' in edit.text


async def test_a_bad_target_is_refused_next_to_its_cell_and_nothing_is_saved(client, session, shop):
    token = await sign_in(client, "admin")
    refused = await client.post("/console/admin/sla/policies",
                                data={**POLICY, "high_resolution": "1x", "_csrf_token": token})
    assert refused.status_code == 400
    assert "High, resolution: '1x' is not a duration" in unescape(refused.text)
    assert re.search(r'name="high_resolution" value="1x"[^>]*aria-invalid="true"', refused.text)
    assert 'name="urgent_next_response" value="1h 30m"' in refused.text  # what was typed comes back
    assert await session.scalar(select(SlaPolicy.id)) is None

    for field, value, message, input_id in (
            ("organization", "Nobody Inc", "no organization named 'Nobody Inc'", "policy-organization"),
            ("warn_at_percent", "120", "1 to 99 %", "policy-warn"),
            ("name", " ", "a name of 1 to 100 characters", "policy-name")):
        refused = await client.post("/console/admin/sla/policies", data={**POLICY, field: value, "_csrf_token": token})
        assert refused.status_code == 400 and message in unescape(refused.text), field
        assert re.search(rf'id="{input_id}"[^>]*aria-invalid="true"', refused.text), field
    assert await session.scalar(select(SlaPolicy.id)) is None


async def test_bad_calendars_are_refused_with_the_reason(client, session, shop):
    token = await sign_in(client, "admin")
    for field, value, message, input_id in (
            ("hours_tue", "9-17", "'9-17' is not a span of hours", "hours-tue"),
            ("hours_wed", "25:00-26:00", "25:00 is not a time of day", "hours-wed"),
            ("timezone", "Mars/Olympus", "'Mars/Olympus' is not a time zone", "calendar-timezone"),
            ("holiday_country", "XX", "'XX' is not a country", "calendar-country"),
            ("holiday_region", "ZZ", "DE has no region 'ZZ'", "calendar-region"),
            ("holidays", "24.12.2026", "'24.12.2026' is not a date", "calendar-holidays")):
        refused = await client.post("/console/admin/sla/calendars", data={**CALENDAR, field: value, "_csrf_token": token})
        assert refused.status_code == 400, field
        assert message in unescape(refused.text), (field, unescape(refused.text)[-3000:])
        assert re.search(rf'id="{input_id}"[^>]*aria-invalid="true"', refused.text), field
    closed = {k: v for k, v in CALENDAR.items() if not k.startswith("hours_")}
    refused = await client.post("/console/admin/sla/calendars", data={**closed, "_csrf_token": token})
    assert refused.status_code == 400 and "no opening hours" in unescape(refused.text)
    assert await session.scalar(select(BusinessCalendar.id)) is None

    always = await client.post("/console/admin/sla/calendars", data={**closed, "always_open": "1", "_csrf_token": token})
    assert always.status_code == 200
    calendar = await session.scalar(select(BusinessCalendar))
    assert calendar.weekly_hours == {} and "Open 24/7" in always.text


async def test_policies_move_up_and_down_and_can_be_switched_off(client, sessions, shop):
    async with sessions() as s:
        for name in ("First", "Second", "Third"):
            await sla_admin.create_policy(s, name=name, first_response_minutes=60)
    token = await sign_in(client, "admin")

    async def order():
        async with sessions() as s:
            return [(p.name, p.position, p.active) for p in await sla_admin.list_policies(s)]

    assert [name for name, *_ in await order()] == ["First", "Second", "Third"]
    async with sessions() as s:
        third = await sla_admin.find_policy(s, "Third")
    moved = await client.post(f"/console/admin/sla/policies/{third.id}/move", data={"direction": "up", "_csrf_token": token})
    assert moved.status_code == 200 and "Policy Third is now number 2" in moved.text
    assert await order() == [("First", 1, True), ("Third", 2, True), ("Second", 3, True)]
    await client.post(f"/console/admin/sla/policies/{third.id}/move", data={"direction": "up", "_csrf_token": token})
    await client.post(f"/console/admin/sla/policies/{third.id}/move", data={"direction": "up", "_csrf_token": token})
    assert [name for name, *_ in await order()] == ["Third", "First", "Second"]  # first stays first

    off = await client.post(f"/console/admin/sla/policies/{third.id}",
                            data={"name": "Third", "any_first_response": "1h", "_csrf_token": token})
    assert off.status_code == 200
    assert await order() == [("Third", 1, False), ("First", 2, True), ("Second", 3, True)]
    assert f'<tr data-policy-id="{third.id}" class="inactive">' in off.text


async def test_saving_a_policy_recomputes_the_due_times_of_the_open_tickets_it_covers(client, sessions, shop):
    from datetime import timedelta

    from helpdesk.models import Ticket

    token = await sign_in(client, "admin")

    async def due_times():
        async with sessions() as s:
            rows = (await s.execute(select(Ticket.created_at, Ticket.first_response_due_at, Ticket.sla_policy_id)
                                    .where(Ticket.id.in_(shop.ticket_ids)).order_by(Ticket.id))).all()
            return [(due - created if due else None, policy) for created, due, policy in rows]

    assert await due_times() == [(None, None), (None, None)]  # made before any policy
    made = await client.post("/console/admin/sla/policies", data={"name": "Email", "channel": "email",
                                                                  "any_first_response": "1h", "active": "1",
                                                                  "_csrf_token": token})
    assert made.status_code == 200, made.text
    async with sessions() as s:
        policy = await sla_admin.find_policy(s, "Email")
    assert await due_times() == [(timedelta(hours=1), policy.id)] * 2

    edited = await client.post(f"/console/admin/sla/policies/{policy.id}", data={
        "name": "Email", "channel": "email", "any_first_response": "30m", "active": "1", "_csrf_token": token})
    assert edited.status_code == 200, edited.text
    assert await due_times() == [(timedelta(minutes=30), policy.id)] * 2
