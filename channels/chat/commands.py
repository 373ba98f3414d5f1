"""CLI for the live chat: `helpdesk chat channels list|add|edit|rotate-secret` (docs/chat.md).
The rules are `helpdesk.chat.channels`', as on the admin screen; an identity secret is printed once,
when it is made, and never again."""
from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from helpdesk.cli import CliError, run, settings_of, with_database
from helpdesk.chat import channels as chat_channels
from helpdesk.chat.channels import ChatChannelError
from helpdesk.models import BusinessCalendar, ChatChannel, Team
from helpdesk.models.base import parse_id
from helpdesk.settings import Settings

out = Console()
err = Console(stderr=True)


def register(cli: click.Group) -> None:
    cli.add_command(chat)


@click.group()
def chat() -> None:
    """Live chat: the widget's channels."""


@chat.group("channels")
def channels() -> None:
    """Chat channels: one per widget embed (its key goes in data-channel)."""


def _settings_options(editing: bool):
    """The options `add` and `edit` share; on `edit` a flag left out keeps the setting."""
    def apply(command):
        options = [
            click.option("--origin", "origins", multiple=True,
                         help="An origin allowed to embed the widget (https://host[:port]); repeat for more."
                              + (" Replaces the list." if editing else "")),
            click.option("--prechat", help="Pre-chat fields, comma-separated: name,email (or '' for none)."),
            click.option("--team", help="The team that answers (name or id); 'none': every agent."),
            click.option("--calendar", help="Business hours: a business calendar (name or id); 'none': always open."),
            click.option("--enforce-verification/--no-enforce-verification", default=None,
                         help="Only signed-in shop users may give an email."),
            click.option("--colour", "--color", "colour", help="The widget's colour, #rrggbb."),
            click.option("--greeting"),
        ]
        if editing:
            options.append(click.option("--name"))
            options.append(click.option("--active/--inactive", default=None, help="An inactive channel's widget does not open."))
        else:
            options.append(click.option("--name", required=True))
            options.append(click.option("--key", help="The public key (default: a random one)."))
        for option in reversed(options):
            command = option(command)
        return command
    return apply


async def _fields(session, options: dict) -> dict:
    """Command-line options as `helpdesk.chat.channels` settings: only those given."""
    fields = {name: options[name] for name in ("name", "colour", "greeting", "enforce_verification", "active")
              if options.get(name) is not None}
    if options.get("origins"):
        fields["allowed_origins"] = list(options["origins"])
    if options.get("prechat") is not None:
        fields["prechat_fields"] = [f.strip() for f in options["prechat"].split(",") if f.strip()]
    if options.get("team") is not None:
        fields["team_id"] = await _row_id(session, Team, Team.name, options["team"], "team")
    if options.get("calendar") is not None:
        fields["calendar_id"] = await _row_id(session, BusinessCalendar, BusinessCalendar.name, options["calendar"],
                                              "business calendar")
    return fields


async def _row_id(session, model, name_column, given: str, what: str) -> int | None:
    if given.strip().lower() in ("", "none"):
        return None
    found = await session.scalar(select(model.id).where(name_column == given.strip()))
    if found is None and parse_id(given) is not None:
        found = await session.scalar(select(model.id).where(model.id == parse_id(given)))
    if found is None:
        raise CliError(f"no {what} named {given!r}")
    return found


async def _channel(session, key: str) -> ChatChannel:
    found = await chat_channels.find_channel(session, key)
    if found is None:
        raise CliError(f"no chat channel {key!r}; see `helpdesk chat channels list`")
    return found


def _describe(channel: ChatChannel, settings: Settings) -> dict:
    return {"id": channel.id, "key": channel.key, "name": channel.name, "active": channel.active,
            "allowed_origins": channel.allowed_origins, "prechat_fields": channel.prechat_fields,
            "team_id": channel.team_id, "calendar_id": channel.calendar_id,
            "enforce_verification": channel.enforce_verification, "colour": channel.colour,
            "snippet": chat_channels.embed_snippet(settings, channel)}


@channels.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def channels_list(ctx: click.Context, as_json: bool) -> None:
    """List chat channels (never their secrets)."""
    settings = settings_of(ctx)

    async def work(sessions):
        async with sessions() as session:
            return [_describe(c, settings) for c in await chat_channels.list_channels(session)]

    rows = run(with_database(settings, work))
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table("key", "name", "allowed origins", "pre-chat", "verification", "state")
    for row in rows:
        table.add_row(row["key"], row["name"], "\n".join(row["allowed_origins"]) or "(none)",
                      ",".join(row["prechat_fields"]) or "-", "enforced" if row["enforce_verification"] else "optional",
                      "active" if row["active"] else "off")
    out.print(table)


@channels.command("add")
@_settings_options(editing=False)
@click.pass_context
def channels_add(ctx: click.Context, key: str | None, **options) -> None:
    """Add a chat channel; prints its identity secret once (keep it on the shop's server) and the embed snippet."""
    settings = settings_of(ctx)

    async def work(sessions):
        async with sessions() as session:
            fields = await _fields(session, options)
            fields.setdefault("prechat_fields", ["name", "email"])
            try:
                made = await chat_channels.create_channel(session, settings, key=key, **fields)
            except ChatChannelError as error:
                raise CliError(str(error)) from None
            return made.channel.key, made.identity_secret, chat_channels.embed_snippet(settings, made.channel)

    key, secret, snippet = run(with_database(settings, work))
    err.print(f"added chat channel {key}")
    click.echo(f"identity secret (shown once): {secret}")
    click.echo(f"embed: {snippet}")


@channels.command("edit")
@click.argument("key")
@_settings_options(editing=True)
@click.pass_context
def channels_edit(ctx: click.Context, key: str, **options) -> None:
    """Change a chat channel's settings (KEY: its key or id); only the options given change."""
    settings = settings_of(ctx)

    async def work(sessions):
        async with sessions() as session:
            channel = await _channel(session, key)
            fields = await _fields(session, options)
            if not fields:
                raise CliError("nothing to change: give at least one option (see --help)")
            try:
                await chat_channels.update_channel(session, channel, **fields)
            except ChatChannelError as error:
                raise CliError(str(error)) from None
            return channel.key, sorted(fields)

    key, changed = run(with_database(settings, work))
    err.print(f"updated chat channel {key}: {', '.join(changed)}")


@channels.command("rotate-secret")
@click.argument("key")
@click.pass_context
def channels_rotate_secret(ctx: click.Context, key: str) -> None:
    """A new identity secret for a channel (KEY: its key or id), printed once; the old one stops verifying."""
    settings = settings_of(ctx)

    async def work(sessions):
        async with sessions() as session:
            channel = await _channel(session, key)
            return channel.key, await chat_channels.rotate_identity_secret(session, settings, channel)

    key, secret = run(with_database(settings, work))
    err.print(f"new identity secret for chat channel {key}; signatures made with the old one no longer verify")
    click.echo(secret)
