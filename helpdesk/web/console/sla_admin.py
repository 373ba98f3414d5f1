"""Admin screen: SLA policies (in the order they are tried, moved up and down) and business calendars.
Admins only; what a value may be is `helpdesk.sla.admin`'s, as for `helpdesk sla` on the command line."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, make_dataclass
from typing import Annotated, Any

from litestar import Controller, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Template
from litestar_htmx import HTMXRequest
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.models import PRIORITIES, SLA_TARGETS, Agent, BusinessCalendar, SlaPolicy
from helpdesk.models.base import parse_id
from helpdesk.sla import admin as sla_admin
from helpdesk.sla.admin import SlaSettingsError
from helpdesk.sla.clock import DAYS
from helpdesk.staff import directory as staff
from helpdesk.models.tickets import CHANNELS
from helpdesk.web.auth import admin_only
from helpdesk.web.console.pages import FORM, render

# The targets table: a row for any priority (the policy's own three columns) and one per priority
# (its `targets`); each cell is an input named "<row>_<target>" holding minutes or "1h 30m".
TARGET_ROWS = ("any", *reversed(PRIORITIES))
TARGET_INPUTS = tuple(f"{row}_{target}" for row in TARGET_ROWS for target in SLA_TARGETS)

PolicyForm = make_dataclass("PolicyForm", [(name, str, field(default="")) for name in (
    "name", "priority", "channel", "organization", "team_id", "tags", "calendar_id", "warn_at_percent", "active",
    *TARGET_INPUTS)])
PolicyForm.__doc__ = "A policy as its form sends it; every field a string, so a bad one is the form's error."

CalendarForm = make_dataclass("CalendarForm", [(name, str, field(default="")) for name in (
    "name", "timezone", "always_open", "holiday_country", "holiday_region", "holidays",
    *(f"hours_{day}" for day in DAYS))])
CalendarForm.__doc__ = "A calendar as its form sends it: a day's hours as text, '09:00-12:00, 13:00-17:00'."


@dataclass
class MoveForm:
    direction: str = ""  # "up" (tried sooner) or "down"


async def policy_fields(db: AsyncSession, form) -> dict[str, Any]:
    """The form's text as `sla_admin.create_policy` settings; a bad cell raises naming its input."""
    targets: dict[str, dict[str, int | None]] = {}
    fields: dict[str, Any] = {}
    for row in TARGET_ROWS:
        for target in SLA_TARGETS:
            name = f"{row}_{target}"
            try:
                minutes = sla_admin.parse_duration(getattr(form, name), field=name)
            except SlaSettingsError as error:
                label = "Any priority" if row == "any" else row.capitalize()
                raise SlaSettingsError(f"{label}, {sla_admin.TARGET_TITLES[target].lower()}: {error}", field=name) from None
            if row == "any":
                fields[f"{target}_minutes"] = minutes
            else:
                targets.setdefault(row, {})[target] = minutes
    warn = form.warn_at_percent.strip().rstrip("%").strip()
    if warn and not warn.isdigit():
        raise SlaSettingsError(f"{form.warn_at_percent!r}: the warning share is a whole percentage, like 80",
                               field="warn_at_percent")
    return {
        **fields, "targets": targets, "name": form.name,
        "match_priority": form.priority or None, "match_channel": form.channel or None,
        "match_organization_id": await sla_admin.find_organization(db, form.organization),
        "match_team_id": parse_id(form.team_id), "calendar_id": parse_id(form.calendar_id),
        "match_tags": form.tags.replace(";", ",").split(","), "warn_at_percent": int(warn) if warn else None,
        "active": bool(form.active),
    }


def calendar_fields(form) -> dict[str, Any]:
    always = bool(form.always_open)
    hours = {} if always else {day: sla_admin.parse_spans(getattr(form, f"hours_{day}"), field=f"hours_{day}")
                               for day in DAYS}
    if not always and not any(hours.values()):
        raise SlaSettingsError("no opening hours: give a day's hours, or tick Open 24/7", field="hours_mon")
    return {"name": form.name, "timezone": form.timezone, "weekly_hours": hours,
            "holidays": sla_admin.parse_dates(form.holidays), "holiday_country": form.holiday_country,
            "holiday_region": form.holiday_region}


async def policy_form_values(db: AsyncSession, policy: SlaPolicy | None) -> dict[str, str]:
    if policy is None:
        return {**asdict(PolicyForm()), "active": "1", "warn_at_percent": "80"}
    values = {"name": policy.name, "priority": policy.match_priority or "", "channel": policy.match_channel or "",
              "organization": "", "team_id": str(policy.match_team_id or ""), "tags": ", ".join(policy.match_tags or []),
              "calendar_id": str(policy.calendar_id or ""), "active": "1" if policy.active else "",
              "warn_at_percent": "" if policy.warn_at_percent is None else str(policy.warn_at_percent)}
    if policy.match_organization_id:
        values["organization"] = (await sla_admin.organization_names(db, {policy.match_organization_id})).get(
            policy.match_organization_id, "")
    for target in SLA_TARGETS:
        values[f"any_{target}"] = sla_admin.format_duration(getattr(policy, f"{target}_minutes"))
        for priority in PRIORITIES:
            values[f"{priority}_{target}"] = sla_admin.format_duration((policy.targets or {}).get(priority, {}).get(target))
    return values


def calendar_form_values(calendar: BusinessCalendar | None) -> dict[str, str]:
    if calendar is None:
        return {**asdict(CalendarForm()), "timezone": "UTC",
                **{f"hours_{day}": "09:00–17:00" for day in DAYS[:5]}}
    return {"name": calendar.name, "timezone": calendar.timezone, "always_open": "" if calendar.weekly_hours else "1",
            "holiday_country": calendar.holiday_country or "", "holiday_region": calendar.holiday_region or "",
            "holidays": ", ".join(calendar.holidays or []),
            **{f"hours_{day}": sla_admin.format_spans((calendar.weekly_hours or {}).get(day)) for day in DAYS}}


class SlaAdminController(Controller):
    path = "/admin/sla"
    guards = [admin_only]

    async def _context(self, db: AsyncSession, agent: Agent, **extra) -> dict:
        calendars = await sla_admin.list_calendars(db)
        listed = await sla_admin.list_policies(db)
        return {"agent": agent, "section": "sla", "policies": listed, "calendars": calendars,
                "calendar_names": {c.id: c.name for c in calendars}, "teams": await staff.teams(db),
                "team_names": {t.id: t.name for t in await staff.teams(db)},
                "organization_names": await sla_admin.organization_names(
                    db, {p.match_organization_id for p in listed if p.match_organization_id}),
                "priorities": PRIORITIES, "channels": CHANNELS, "targets": sla_admin.TARGET_TITLES,
                "target_rows": TARGET_ROWS, "days": sla_admin.DAY_TITLES, "time_zones": sla_admin.time_zones(),
                "countries": sla_admin.holiday_countries(), "format_duration": sla_admin.format_duration,
                "format_spans": sla_admin.format_spans, "policy": None, "calendar": None, "form": {},
                "error": None, "failed_form": None, "notice": None, **extra}

    async def _index(self, request: HTMXRequest, db: AsyncSession, agent: Agent, **extra) -> Template:
        return render(request, "console/admin_sla.html", await self._context(db, agent, **extra))

    async def _policy_page(self, request: HTMXRequest, db: AsyncSession, agent: Agent, policy: SlaPolicy | None,
                           *, status_code: int = 200, **extra) -> Template:
        extra.setdefault("form", await policy_form_values(db, policy))
        return render(request, "console/admin_sla_policy.html", await self._context(db, agent, policy=policy, **extra),
                      status_code=status_code)

    async def _calendar_page(self, request: HTMXRequest, db: AsyncSession, agent: Agent,
                             calendar: BusinessCalendar | None, *, status_code: int = 200, **extra) -> Template:
        extra.setdefault("form", calendar_form_values(calendar))
        return render(request, "console/admin_sla_calendar.html",
                      await self._context(db, agent, calendar=calendar, **extra), status_code=status_code)

    @get("/", name="admin_sla")
    async def index(self, request: HTMXRequest, db: AsyncSession, agent: Agent) -> Template:
        return await self._index(request, db, agent)

    # --- policies ---------------------------------------------------------------------------------

    async def _policy(self, db: AsyncSession, policy_id: int) -> SlaPolicy:
        policy = await db.get(SlaPolicy, policy_id)
        if policy is None:
            raise NotFoundException(f"no SLA policy {policy_id}")
        return policy

    @get("/policies/new", name="admin_sla_policy_new")
    async def new_policy(self, request: HTMXRequest, db: AsyncSession, agent: Agent) -> Template:
        return await self._policy_page(request, db, agent, None)

    @post("/policies", name="admin_sla_policy_create")
    async def create_policy(self, request: HTMXRequest, db: AsyncSession, agent: Agent,
                            data: Annotated[PolicyForm, FORM]) -> Template:
        try:
            made = await sla_admin.create_policy(db, **await policy_fields(db, data))
        except SlaSettingsError as error:
            return await self._policy_page(request, db, agent, None, status_code=400, error=error,
                                           failed_form="sla-policy-form", form=asdict(data))
        return await self._index(request, db, agent, notice=f"Policy {made.name} created; it is tried last.")

    @get("/policies/{policy_id:int}", name="admin_sla_policy")
    async def show_policy(self, request: HTMXRequest, db: AsyncSession, agent: Agent, policy_id: int) -> Template:
        return await self._policy_page(request, db, agent, await self._policy(db, policy_id))

    @post("/policies/{policy_id:int}", name="admin_sla_policy_update")
    async def update_policy(self, request: HTMXRequest, db: AsyncSession, agent: Agent, policy_id: int,
                            data: Annotated[PolicyForm, FORM]) -> Template:
        policy = await self._policy(db, policy_id)
        try:
            await sla_admin.update_policy(db, policy, **await policy_fields(db, data))
        except SlaSettingsError as error:
            return await self._policy_page(request, db, agent, policy, status_code=400, error=error,
                                           failed_form="sla-policy-form", form=asdict(data))
        return await self._index(request, db, agent, notice=f"Policy {policy.name} saved.")

    @post("/policies/{policy_id:int}/move", name="admin_sla_policy_move")
    async def move_policy(self, request: HTMXRequest, db: AsyncSession, agent: Agent, policy_id: int,
                          data: Annotated[MoveForm, FORM]) -> Template:
        policy = await self._policy(db, policy_id)
        place = await sla_admin.move_policy(db, policy, by=-1 if data.direction == "up" else 1)
        return await self._index(request, db, agent, notice=f"Policy {policy.name} is now number {place} in the order.")

    # --- calendars --------------------------------------------------------------------------------

    async def _calendar(self, db: AsyncSession, calendar_id: int) -> BusinessCalendar:
        calendar = await db.get(BusinessCalendar, calendar_id)
        if calendar is None:
            raise NotFoundException(f"no business calendar {calendar_id}")
        return calendar

    @get("/calendars/new", name="admin_sla_calendar_new")
    async def new_calendar(self, request: HTMXRequest, db: AsyncSession, agent: Agent) -> Template:
        return await self._calendar_page(request, db, agent, None)

    @post("/calendars", name="admin_sla_calendar_create")
    async def create_calendar(self, request: HTMXRequest, db: AsyncSession, agent: Agent,
                              data: Annotated[CalendarForm, FORM]) -> Template:
        try:
            made = await sla_admin.create_calendar(db, **calendar_fields(data))
        except SlaSettingsError as error:
            return await self._calendar_page(request, db, agent, None, status_code=400, error=error,
                                             failed_form="sla-calendar-form", form=asdict(data))
        return await self._index(request, db, agent, notice=f"Calendar {made.name} created.")

    @get("/calendars/{calendar_id:int}", name="admin_sla_calendar")
    async def show_calendar(self, request: HTMXRequest, db: AsyncSession, agent: Agent, calendar_id: int) -> Template:
        return await self._calendar_page(request, db, agent, await self._calendar(db, calendar_id))

    @post("/calendars/{calendar_id:int}", name="admin_sla_calendar_update")
    async def update_calendar(self, request: HTMXRequest, db: AsyncSession, agent: Agent, calendar_id: int,
                              data: Annotated[CalendarForm, FORM]) -> Template:
        calendar = await self._calendar(db, calendar_id)
        try:
            await sla_admin.update_calendar(db, calendar, **calendar_fields(data))
        except SlaSettingsError as error:
            return await self._calendar_page(request, db, agent, calendar, status_code=400, error=error,
                                             failed_form="sla-calendar-form", form=asdict(data))
        return await self._index(request, db, agent, notice=f"Calendar {calendar.name} saved.")

