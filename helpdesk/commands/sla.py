"""`helpdesk sla policies list|add|edit|move` and `helpdesk sla calendars list|add|edit`: the admin
screen's rules (`helpdesk.sla.admin`) from a terminal, one clear line on bad input."""
from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from helpdesk.cli import CliError, run, settings_of, with_database
from helpdesk.models import PRIORITIES, SLA_TARGETS, Team
from helpdesk.models.base import parse_id
from helpdesk.sla import admin as sla_admin
from helpdesk.sla.admin import SlaSettingsError
from helpdesk.sla.clock import DAYS

out = Console()
err = Console(stderr=True)


def register(cli: click.Group) -> None:
    cli.add_command(sla)


@click.group()
def sla() -> None:
    """SLA policies and business calendars."""


@sla.group("policies")
def policies() -> None:
    """SLA policies, tried in order: the first that matches a ticket sets its targets."""


@sla.group("calendars")
def calendars() -> None:
    """Business calendars: the hours SLA targets count."""


def _work(ctx: click.Context, work):
    """Run `work(session)` on the database; a refused setting is one line and exit status 1."""
    async def session_work(sessions):
        async with sessions() as session:
            try:
                return await work(session)
            except SlaSettingsError as error:
                raise CliError(str(error)) from None

    return run(with_database(settings_of(ctx), session_work))


# -- policies --------------------------------------------------------------------------------------------

def _policy_options(editing: bool):
    def apply(command):
        options = [
            click.option("--name", required=not editing),
            click.option("--priority", help=f"Only tickets of this priority ({', '.join(PRIORITIES)}); 'any': all."),
            click.option("--channel", help="Only tickets from this channel (email, chat, ...); 'any': all."),
            click.option("--organization", help="Only this organization's tickets (name or email domain); 'any': all."),
            click.option("--team", help="Only this team's tickets (name or id); 'any': all."),
            click.option("--tag", "tags", multiple=True, help="Only tickets with this tag (repeat: all of them)."
                         + (" Replaces the list; --tag '' clears it." if editing else "")),
            click.option("--first-response", help="Target for any priority: minutes or '1h 30m'; '' for none."),
            click.option("--next-response", help="Target for any priority: minutes or '1h 30m'; '' for none."),
            click.option("--resolution", help="Target for any priority: minutes or '1h 30m'; '' for none."),
            click.option("--target", "targets", multiple=True, metavar="PRIORITY:TARGET=DURATION",
                         help="A priority's own target, e.g. urgent:first_response=30m (repeat)."
                         + (" Replaces the per-priority targets." if editing else "")),
            click.option("--warn-at", help="Warn the assignee at this % of a target; '' for no warning."),
            click.option("--calendar", help="Business calendar (name or id); 'none': around the clock."),
        ]
        if editing:
            options.append(click.option("--active/--inactive", default=None, help="An inactive policy is skipped."))
        for option in reversed(options):
            command = option(command)
        return command
    return apply


async def _policy_fields(session, options: dict) -> dict:
    """Command-line options as `helpdesk.sla.admin` settings: only those given."""
    fields: dict = {}
    if options.get("name") is not None:
        fields["name"] = options["name"]
    for option, name in (("priority", "match_priority"), ("channel", "match_channel")):
        if options.get(option) is not None:
            fields[name] = None if options[option].strip().lower() in ("", "any") else options[option].strip().lower()
    if options.get("organization") is not None:
        fields["match_organization_id"] = await sla_admin.find_organization(session, options["organization"])
    if options.get("team") is not None:
        fields["match_team_id"] = await _team(session, options["team"])
    if options.get("tags"):
        fields["match_tags"] = [t for tag in options["tags"] for t in tag.split(",")]
    for target in SLA_TARGETS:
        given = options.get(target)
        if given is not None:
            fields[f"{target}_minutes"] = sla_admin.parse_duration(given, field=f"{target}_minutes")
    if options.get("targets"):
        targets: dict = {}
        for given in options["targets"]:
            key, _, duration = given.partition("=")
            priority, _, target = key.strip().partition(":")
            if not duration or priority not in PRIORITIES or target not in SLA_TARGETS:
                raise SlaSettingsError(f"--target {given!r}: write PRIORITY:TARGET=DURATION, a priority of "
                                       f"{', '.join(PRIORITIES)} and a target of {', '.join(SLA_TARGETS)}")
            targets.setdefault(priority, {})[target] = sla_admin.parse_duration(duration)
        fields["targets"] = targets
    if options.get("warn_at") is not None:
        warn = options["warn_at"].strip().rstrip("%").strip()
        if warn and not warn.isdigit():
            raise SlaSettingsError(f"--warn-at {options['warn_at']!r}: a whole percentage, like 80")
        fields["warn_at_percent"] = int(warn) if warn else None
    if options.get("calendar") is not None:
        fields["calendar_id"] = await _calendar_id(session, options["calendar"])
    if options.get("active") is not None:
        fields["active"] = options["active"]
    return fields


async def _team(session, given: str) -> int | None:
    if given.strip().lower() in ("", "any", "none"):
        return None
    found = await session.scalar(select(Team.id).where(Team.name == given.strip()))
    if found is None and parse_id(given) is not None:
        found = await session.scalar(select(Team.id).where(Team.id == parse_id(given)))
    if found is None:
        raise SlaSettingsError(f"no team named {given!r}")
    return found


async def _calendar_id(session, given: str) -> int | None:
    if given.strip().lower() in ("", "none"):
        return None
    found = await sla_admin.find_calendar(session, given)
    if found is None:
        raise SlaSettingsError(f"no business calendar named {given!r}; see `helpdesk sla calendars list`")
    return found.id


async def _policy(session, given: str):
    found = await sla_admin.find_policy(session, given)
    if found is None:
        raise SlaSettingsError(f"no SLA policy named {given!r}; see `helpdesk sla policies list`")
    return found


def _describe_policy(policy) -> dict:
    return {"position": policy.position, "id": policy.id, "name": policy.name, "active": policy.active,
            "priority": policy.match_priority, "channel": policy.match_channel,
            "organization_id": policy.match_organization_id, "team_id": policy.match_team_id,
            "tags": policy.match_tags or [],
            **{target: getattr(policy, f"{target}_minutes") for target in SLA_TARGETS},
            "targets": policy.targets or {}, "warn_at_percent": policy.warn_at_percent, "calendar_id": policy.calendar_id}


@policies.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def policies_list(ctx: click.Context, as_json: bool) -> None:
    """List the policies in the order they are tried."""
    async def work(session):
        return [_describe_policy(p) for p in await sla_admin.list_policies(session)]

    rows = _work(ctx, work)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table("#", "name", "applies to", "first response", "next response", "resolution", "per priority", "state")
    for number, row in enumerate(rows, start=1):
        conditions = [f"{k} {row[k]}" for k in ("priority", "channel") if row[k]]
        conditions += [f"{k} #{row[k + '_id']}" for k in ("organization", "team") if row[k + "_id"]]
        conditions += [f"tags {','.join(row['tags'])}"] if row["tags"] else []
        per_priority = "; ".join(f"{p}: " + ", ".join(f"{t} {sla_admin.format_duration(m)}" for t, m in v.items())
                                 for p, v in row["targets"].items())
        table.add_row(str(number), row["name"], "; ".join(conditions) or "every ticket",
                      *(sla_admin.format_duration(row[t]) or "-" for t in SLA_TARGETS), per_priority or "-",
                      "active" if row["active"] else "off")
    out.print(table)


@policies.command("add")
@_policy_options(editing=False)
@click.pass_context
def policies_add(ctx: click.Context, **options) -> None:
    """Add a policy, tried after the existing ones."""
    async def work(session):
        policy = await sla_admin.create_policy(session, **await _policy_fields(session, options))
        return policy.name, policy.position

    name, position = _work(ctx, work)
    err.print(f"added SLA policy {name!r} (number {position} in the order)")


@policies.command("edit")
@click.argument("policy")
@_policy_options(editing=True)
@click.pass_context
def policies_edit(ctx: click.Context, policy: str, **options) -> None:
    """Change a policy (POLICY: its name or id); only the options given change. The open tickets it
    covers get their due times again."""
    async def work(session):
        found = await _policy(session, policy)
        fields = await _policy_fields(session, options)
        if not fields:
            raise SlaSettingsError("nothing to change: give at least one option (see --help)")
        await sla_admin.update_policy(session, found, **fields)
        return found.name, sorted(fields)

    name, changed = _work(ctx, work)
    err.print(f"updated SLA policy {name!r}: {', '.join(changed)}")


@policies.command("move")
@click.argument("policy")
@click.option("--up", "direction", flag_value=-1, help="One place up (tried sooner).")
@click.option("--down", "direction", flag_value=1, help="One place down.")
@click.option("--to", "place", type=click.IntRange(min=1), help="To this place (1: tried first).")
@click.pass_context
def policies_move(ctx: click.Context, policy: str, direction: int | None, place: int | None) -> None:
    """Move a policy in the order (POLICY: its name or id)."""
    if (direction is None) == (place is None):
        raise CliError("say where to: --up, --down or --to N")

    async def work(session):
        found = await _policy(session, policy)
        return found.name, await sla_admin.move_policy(session, found, by=direction or 0, to=place)

    name, now = _work(ctx, work)
    err.print(f"SLA policy {name!r} is now number {now} in the order")


# -- calendars -------------------------------------------------------------------------------------------

def _calendar_options(editing: bool):
    def apply(command):
        options = [
            click.option("--name", required=not editing),
            click.option("--timezone", help="IANA time zone, e.g. Europe/Berlin" + ("" if editing else " (default UTC).")),
            click.option("--hours", multiple=True, metavar="DAYS=SPANS",
                         help="Opening hours, e.g. mon-fri=09:00-12:00,13:00-17:00 or sun=22:00-06:00 (repeat)."
                         + (" Replaces the week." if editing else "")),
            click.option("--always-open", is_flag=True, default=None, help="Open 24/7."),
            click.option("--holiday-country", help="Public holidays of this country (ISO code, e.g. DE); '' for none."),
            click.option("--holiday-region", help="The country's region (e.g. BY); '' for the whole country."),
            click.option("--holiday", "holidays", multiple=True, help="A date closed, e.g. 2026-12-24 (repeat)."
                         + (" Replaces the list; --holiday '' clears it." if editing else "")),
        ]
        for option in reversed(options):
            command = option(command)
        return command
    return apply


def _week(given: tuple[str, ...]) -> dict[str, list]:
    """--hours mon-fri=09:00-17:00 --hours sat=10:00-14:00 as weekly hours."""
    week: dict[str, list] = {}
    for item in given:
        days, _, spans = item.partition("=")
        first, _, last = days.strip().lower().partition("-")
        if first not in DAYS or (last and last not in DAYS) or not spans:
            raise SlaSettingsError(f"--hours {item!r}: write DAYS=SPANS, like mon-fri=09:00-17:00 (days: {', '.join(DAYS)})")
        chosen = DAYS[DAYS.index(first):DAYS.index(last or first) + 1]
        if not chosen:
            raise SlaSettingsError(f"--hours {item!r}: {first} comes after {last}")
        for day in chosen:
            week.setdefault(day, []).extend(sla_admin.parse_spans(spans, field="weekly_hours"))
    return week


def _calendar_fields(options: dict) -> dict:
    fields: dict = {k: options[k] for k in ("name", "timezone", "holiday_country", "holiday_region")
                    if options.get(k) is not None}
    if options.get("always_open") and options.get("hours"):
        raise SlaSettingsError("either --always-open or --hours, not both")
    if options.get("always_open"):
        fields["weekly_hours"] = {}
    elif options.get("hours"):
        fields["weekly_hours"] = _week(options["hours"])
    if options.get("holidays"):
        fields["holidays"] = sla_admin.parse_dates(" ".join(options["holidays"]))
    return fields


async def _calendar(session, given: str):
    found = await sla_admin.find_calendar(session, given)
    if found is None:
        raise SlaSettingsError(f"no business calendar named {given!r}; see `helpdesk sla calendars list`")
    return found


@calendars.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def calendars_list(ctx: click.Context, as_json: bool) -> None:
    """List business calendars."""
    async def work(session):
        return [{"id": c.id, "name": c.name, "timezone": c.timezone, "weekly_hours": c.weekly_hours,
                 "holiday_country": c.holiday_country, "holiday_region": c.holiday_region, "holidays": c.holidays}
                for c in await sla_admin.list_calendars(session)]

    rows = _work(ctx, work)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table("name", "time zone", "hours", "holidays")
    for row in rows:
        hours = "\n".join(f"{day} {sla_admin.format_spans(spans)}" for day, spans in row["weekly_hours"].items())
        public = "-".join(filter(None, (row["holiday_country"], row["holiday_region"])))
        table.add_row(row["name"], row["timezone"], hours or "24/7",
                      " + ".join(filter(None, (public, f"{len(row['holidays'])} date(s)" if row["holidays"] else ""))) or "-")
    out.print(table)


@calendars.command("add")
@_calendar_options(editing=False)
@click.pass_context
def calendars_add(ctx: click.Context, **options) -> None:
    """Add a business calendar (without --hours: open 24/7)."""
    async def work(session):
        return (await sla_admin.create_calendar(session, **_calendar_fields(options))).name

    err.print(f"added business calendar {_work(ctx, work)!r}")


@calendars.command("edit")
@click.argument("calendar")
@_calendar_options(editing=True)
@click.pass_context
def calendars_edit(ctx: click.Context, calendar: str, **options) -> None:
    """Change a calendar (CALENDAR: its name or id); only the options given change."""
    async def work(session):
        found = await _calendar(session, calendar)
        fields = _calendar_fields(options)
        if not fields:
            raise SlaSettingsError("nothing to change: give at least one option (see --help)")
        await sla_admin.update_calendar(session, found, **fields)
        return found.name, sorted(fields)

    name, changed = _work(ctx, work)
    err.print(f"updated business calendar {name!r}: {', '.join(changed)}")
