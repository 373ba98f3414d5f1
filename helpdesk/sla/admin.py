"""SLA policies and business calendars as admins keep them (the console's /console/admin/sla and
`helpdesk sla`): reading what was typed ("1h 30m", "22:00-06:00"), checking it, and the policies'
order. Which policy a ticket falls under and its due times are `helpdesk.sla.policies`'."""
from __future__ import annotations

import re
from datetime import date, time
from functools import cache
from zoneinfo import available_timezones

import holidays as holiday_data
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.models import PRIORITIES, SLA_TARGETS, BusinessCalendar, Organization, OrganizationDomain, SlaPolicy, Team
from helpdesk.models.tickets import CHANNELS
from helpdesk.sla import policies
from helpdesk.sla.clock import DAYS

TARGET_TITLES = {"first_response": "First response", "next_response": "Next response", "resolution": "Resolution"}
DAY_TITLES = dict(zip(DAYS, ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")))
_DURATION = re.compile(r"(?:(\d+)\s*h(?:ours?)?)?\s*(?:(\d+)\s*m(?:in(?:utes?)?)?)?", re.IGNORECASE)
_SPAN = re.compile(r"(\d{1,2}:\d{2})\s*(?:-|–|—|to)\s*(\d{1,2}:\d{2})", re.IGNORECASE)
_LONGEST_TARGET = 366 * 24 * 60


class SlaSettingsError(ValueError):
    """Bad input for a policy or a calendar: the message says why, `field` which field it is about."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


# -- what admins type ---------------------------------------------------------------------------------

def parse_duration(text: str | None, *, field: str | None = None) -> int | None:
    """Minutes from "90", "1h 30m", "2h", "45 min"; empty: no target."""
    value = (text or "").strip()
    if not value:
        return None
    if value.isdigit():
        minutes = int(value)
    else:
        found = _DURATION.fullmatch(value)
        if not found or not any(found.groups()):
            raise SlaSettingsError(f"{value!r} is not a duration: write minutes (90) or hours and minutes (1h 30m)",
                                   field=field)
        minutes = int(found.group(1) or 0) * 60 + int(found.group(2) or 0)
    if not 0 < minutes <= _LONGEST_TARGET:
        raise SlaSettingsError(f"{value!r}: a target is from 1 minute to 366 days", field=field)
    return minutes


def format_duration(minutes: int | None) -> str:
    """90 -> "1h 30m", 60 -> "1h", 45 -> "45m"; None -> ""."""
    if minutes is None:
        return ""
    hours, rest = divmod(int(minutes), 60)
    return " ".join(part for part in (f"{hours}h" if hours else "", f"{rest}m" if rest else "") if part) or "0m"


def parse_spans(text: str | None, *, field: str | None = None) -> list[list[str]]:
    """A day's opening hours, "09:00-12:00, 13:00-17:00"; a span that ends before it starts runs past
    midnight ("22:00-06:00"); "00:00-24:00" is the whole day; empty: closed."""
    spans = []
    for part in re.split(r"[,;\n]", text or ""):
        part = part.strip()
        if not part:
            continue
        found = _SPAN.fullmatch(part)
        if not found:
            raise SlaSettingsError(f"{part!r} is not a span of hours: write 09:00-17:00 (or 22:00-06:00 overnight)",
                                   field=field)
        start, end = (_clock_time(t, part, field, allow_24=(i == 1)) for i, t in enumerate(found.groups()))
        if start == end:
            raise SlaSettingsError(f"{part!r} opens and closes at the same time", field=field)
        spans.append([start, end])
    return spans


def _clock_time(value: str, part: str, field: str | None, *, allow_24: bool) -> str:
    hours, minutes = value.split(":")
    normal = f"{int(hours):02d}:{minutes}"
    if allow_24 and normal == "24:00":
        return normal
    try:
        time.fromisoformat(normal)
    except ValueError:
        raise SlaSettingsError(f"{part!r}: {value} is not a time of day", field=field) from None
    return normal


def format_spans(spans: list) -> str:
    return ", ".join(f"{start}–{end}" for start, end in spans or [])


def parse_dates(text: str | None, *, field: str | None = "holidays") -> list[str]:
    """Explicit holidays, ISO dates separated by commas, spaces or lines; sorted, once each."""
    dates = set()
    for part in re.split(r"[,;\s]+", text or ""):
        if part:
            try:
                dates.add(date.fromisoformat(part).isoformat())
            except ValueError:
                raise SlaSettingsError(f"{part!r} is not a date: write 2026-12-24", field=field) from None
    return sorted(dates)


@cache
def time_zones() -> tuple[str, ...]:
    """Every IANA zone zoneinfo knows, sorted (the time-zone select's options)."""
    return tuple(sorted(available_timezones()))


@cache
def holiday_countries() -> dict[str, tuple[str, ...]]:
    """Country code -> its subdivision codes, as the `holidays` package knows them."""
    return {code: tuple(regions) for code, regions in sorted(holiday_data.list_supported_countries().items())}


# -- calendars -----------------------------------------------------------------------------------------

CALENDAR_FIELDS = ("name", "timezone", "weekly_hours", "holidays", "holiday_country", "holiday_region")


def check_calendar(fields: dict) -> dict:
    """The calendar's settings made ready to store; raises SlaSettingsError naming the field.
    `weekly_hours` {} is 24/7; a day left out is closed."""
    unknown = set(fields) - set(CALENDAR_FIELDS)
    if unknown:
        raise SlaSettingsError(f"unknown calendar settings: {', '.join(sorted(unknown))}")
    checked = dict(fields)
    if "name" in fields:
        checked["name"] = _name(fields["name"])
    if "timezone" in fields:
        zone = (fields["timezone"] or "").strip()
        if zone not in time_zones():
            raise SlaSettingsError(f"{zone!r} is not a time zone: pick one like Europe/Berlin", field="timezone")
        checked["timezone"] = zone
    if "weekly_hours" in fields:
        hours = fields["weekly_hours"] or {}
        strange = set(hours) - set(DAYS)
        if strange:
            raise SlaSettingsError(f"days are {', '.join(DAYS)}, not {', '.join(sorted(strange))}", field="weekly_hours")
        checked["weekly_hours"] = {day: [list(span) for span in hours[day]] for day in DAYS if hours.get(day)}
    if "holidays" in fields:
        checked["holidays"] = sorted({date.fromisoformat(d).isoformat() for d in fields["holidays"] or []})
    country = (fields.get("holiday_country") or "").strip().upper() or None
    region = (fields.get("holiday_region") or "").strip().upper() or None
    if "holiday_country" in fields or "holiday_region" in fields:
        if country is None and region is not None:
            raise SlaSettingsError("a region needs its country", field="holiday_region")
        if country is not None and country not in holiday_countries():
            raise SlaSettingsError(f"{country!r} is not a country the holidays package knows (ISO codes like DE, US)",
                                   field="holiday_country")
        if region is not None and region not in holiday_countries()[country]:
            known = ", ".join(holiday_countries()[country]) or "none"
            raise SlaSettingsError(f"{country} has no region {region!r} (known: {known})", field="holiday_region")
        if "holiday_country" in fields:
            checked["holiday_country"] = country
        checked["holiday_region"] = region
    return checked


async def list_calendars(session: AsyncSession) -> list[BusinessCalendar]:
    return await policies.calendars(session)


async def find_calendar(session: AsyncSession, name_or_id: str | int) -> BusinessCalendar | None:
    return await _by_name_or_id(session, BusinessCalendar, name_or_id)


async def create_calendar(session: AsyncSession, **fields) -> BusinessCalendar:
    """A new calendar (commits); unnamed settings default to 24/7 in UTC without holidays."""
    calendar = BusinessCalendar(timezone="UTC", weekly_hours={}, holidays=[])
    await _save_calendar(session, calendar, {"name": fields.pop("name", ""), **fields})
    return calendar


async def update_calendar(session: AsyncSession, calendar: BusinessCalendar, **fields) -> BusinessCalendar:
    """Change a calendar (commits): the due times of the open tickets its policies cover follow."""
    await _save_calendar(session, calendar, fields)
    covered = await session.scalars(select(SlaPolicy.id).where(SlaPolicy.calendar_id == calendar.id))
    await _recompute(session, list(covered))
    return calendar


async def _save_calendar(session: AsyncSession, calendar: BusinessCalendar, fields: dict) -> None:
    await _store(session, calendar, check_calendar(fields), "calendar")


async def _store(session: AsyncSession, row: BusinessCalendar | SlaPolicy, checked: dict, what: str) -> None:
    """Checked settings onto a calendar or policy, its name unique; commits, and the policy cache forgets."""
    if "name" in checked:
        await _unique_name(session, type(row), checked["name"], row.id, what)
    for name, value in checked.items():
        setattr(row, name, value)
    session.add(row)
    await session.commit()
    policies.forget_cached_policies()


# -- policies ------------------------------------------------------------------------------------------

POLICY_FIELDS = ("name", "match_priority", "match_channel", "match_organization_id", "match_team_id", "match_tags",
                 "calendar_id", "first_response_minutes", "next_response_minutes", "resolution_minutes", "targets",
                 "warn_at_percent", "active")


async def list_policies(session: AsyncSession) -> list[SlaPolicy]:
    """Every policy in the order they are tried (the first that matches a ticket applies)."""
    return list(await session.scalars(select(SlaPolicy).order_by(SlaPolicy.position, SlaPolicy.id)))


async def find_policy(session: AsyncSession, name_or_id: str | int) -> SlaPolicy | None:
    return await _by_name_or_id(session, SlaPolicy, name_or_id)


async def create_policy(session: AsyncSession, **fields) -> SlaPolicy:
    """A new policy, tried after the existing ones (commits); its tickets' due times follow."""
    last = await session.scalar(select(func.max(SlaPolicy.position)))
    policy = SlaPolicy(position=(last or 0) + 1, active=True)
    await _save_policy(session, policy, {"name": fields.pop("name", ""), **fields})
    return policy


async def update_policy(session: AsyncSession, policy: SlaPolicy, **fields) -> SlaPolicy:
    """Change a policy (commits); the open tickets it covers, before or after, get new due times."""
    await _save_policy(session, policy, fields)
    return policy


async def move_policy(session: AsyncSession, policy: SlaPolicy, *, by: int = 0, to: int | None = None) -> int:
    """Move a policy `by` places (-1: up, tried sooner) or `to` a place (1 is first); returns its place.
    Positions are renumbered 1..n, so the order never depends on ids breaking a tie."""
    ordered = await list_policies(session)
    place = (to - 1) if to is not None else ordered.index(policy) + by
    ordered.remove(policy)
    place = max(0, min(len(ordered), place))
    ordered.insert(place, policy)
    for number, each in enumerate(ordered, start=1):
        each.position = number
    await session.commit()
    policies.forget_cached_policies()
    await _recompute(session, [p.id for p in ordered if p.active])
    return place + 1


async def check_policy(session: AsyncSession, fields: dict) -> dict:
    """The policy's settings made ready to store; raises SlaSettingsError naming the field."""
    unknown = set(fields) - set(POLICY_FIELDS)
    if unknown:
        raise SlaSettingsError(f"unknown policy settings: {', '.join(sorted(unknown))}")
    checked = dict(fields)
    if "name" in fields:
        checked["name"] = _name(fields["name"])
    if fields.get("match_priority") is not None and fields["match_priority"] not in PRIORITIES:
        raise SlaSettingsError(f"a priority is one of {', '.join(PRIORITIES)}", field="match_priority")
    if fields.get("match_channel") is not None and fields["match_channel"] not in CHANNELS:
        raise SlaSettingsError(f"a channel is one of {', '.join(CHANNELS)}", field="match_channel")
    for name, model, what in (("match_organization_id", Organization, "organization"), ("match_team_id", Team, "team"),
                              ("calendar_id", BusinessCalendar, "business calendar")):
        if fields.get(name) is not None and await session.get(model, fields[name]) is None:
            raise SlaSettingsError(f"there is no such {what}", field=name)
    if "match_tags" in fields:
        tags = [t.strip().lower() for t in fields["match_tags"] or [] if t.strip()]
        if any(len(t) > 50 for t in tags):
            raise SlaSettingsError("a tag has at most 50 characters", field="match_tags")
        checked["match_tags"] = list(dict.fromkeys(tags)) or None
    for target in SLA_TARGETS:
        minutes = fields.get(f"{target}_minutes")
        if minutes is not None and not 0 < minutes <= _LONGEST_TARGET:
            raise SlaSettingsError("a target is from 1 minute to 366 days", field=f"{target}_minutes")
    if "targets" in fields:
        targets = {}
        for priority, values in (fields["targets"] or {}).items():
            if priority not in PRIORITIES or set(values) - set(SLA_TARGETS):
                raise SlaSettingsError(f"targets are per priority ({', '.join(PRIORITIES)}) and target "
                                       f"({', '.join(SLA_TARGETS)})", field="targets")
            kept = {t: m for t, m in values.items() if m is not None}
            if any(not 0 < m <= _LONGEST_TARGET for m in kept.values()):
                raise SlaSettingsError("a target is from 1 minute to 366 days", field=f"{priority}_targets")
            if kept:
                targets[priority] = kept
        checked["targets"] = targets or None
    if fields.get("warn_at_percent") is not None and not 1 <= fields["warn_at_percent"] <= 99:
        raise SlaSettingsError("the warning comes at 1 to 99 % of a target", field="warn_at_percent")
    if "active" in fields:
        checked["active"] = bool(fields["active"])
    return checked


async def _save_policy(session: AsyncSession, policy: SlaPolicy, fields: dict) -> None:
    await _store(session, policy, await check_policy(session, fields), "policy")
    await _recompute(session, [policy.id])


async def _recompute(session: AsyncSession, policy_ids: list[int]) -> None:
    """The open tickets these policies cover (before or after the change) get their due times again
    from their history (`policies.recompute_open_tickets`, which commits per batch)."""
    if policy_ids:
        await policies.recompute_open_tickets(session, policy_ids=policy_ids)


async def find_organization(session: AsyncSession, given: str) -> int | None:
    """An organization by its name (any case) or one of its email domains; None for "" or "any"."""
    value = (given or "").strip()
    if value.lower() in ("", "any", "none"):
        return None
    found = await session.scalar(
        select(Organization.id).outerjoin(OrganizationDomain, OrganizationDomain.organization_id == Organization.id)
        .where(or_(func.lower(Organization.name) == value.lower(), OrganizationDomain.domain == value.lower()))
        .order_by(Organization.id).limit(1))
    if found is None:
        raise SlaSettingsError(f"no organization named {value!r} (its name or email domain)",
                               field="match_organization_id")
    return found


async def organization_names(session: AsyncSession, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict((await session.execute(select(Organization.id, Organization.name).where(Organization.id.in_(ids)))).all())


def _name(value: str | None) -> str:
    name = (value or "").strip()
    if not name or len(name) > 100:
        raise SlaSettingsError("a name of 1 to 100 characters, please", field="name")
    return name


async def _unique_name(session: AsyncSession, model, name: str, own_id: int | None, what: str) -> None:
    clash = await session.scalar(select(model.id).where(model.name == name, model.id != (own_id or 0)))
    if clash is not None:
        raise SlaSettingsError(f"a {what} named {name!r} exists already", field="name")


async def _by_name_or_id(session: AsyncSession, model, name_or_id: str | int):
    if isinstance(name_or_id, int):
        return await session.get(model, name_or_id)
    found = await session.scalar(select(model).where(model.name == name_or_id.strip()))
    if found is None and name_or_id.strip().isdigit():
        found = await session.get(model, int(name_or_id.strip()))
    return found
