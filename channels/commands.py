"""`helpdesk quarantine list|reingest`: inbound payloads of any channel that could not be ingested."""
from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from helpdesk.cli import CliError, run, settings_of, with_database
from helpdesk.inbound import pipeline

out = Console()
err = Console(stderr=True)


def register(cli: click.Group) -> None:
    cli.add_command(quarantine)


@click.group()
def quarantine() -> None:
    """Inbound messages (mail, webhooks, chat) that could not be ingested: kept with their reason."""


@quarantine.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include resolved entries.")
@click.option("--channel", default=None, help="Only this channel (email, chat, whatsapp, ...).")
@click.pass_context
def quarantine_list(ctx: click.Context, show_all: bool, channel: str | None) -> None:
    async def work(sessions):
        async with sessions() as session:
            return await pipeline.quarantined(session, include_resolved=show_all, channel=channel)

    rows = run(with_database(settings_of(ctx), work))
    table = Table("id", "received", "channel", "account", "reason", "raw", "resolved")
    for row in rows:
        table.add_row(str(row.id), row.received_at.isoformat(timespec="seconds"), row.channel, row.account or "-",
                      row.reason, row.raw_ref[:12],
                      (f"ticket {row.resolved_ticket_id}" if row.resolved_ticket_id else "yes") if row.resolved_at else "")
    out.print(table)


@quarantine.command("reingest")
@click.argument("quarantine_id", type=int)
@click.pass_context
def quarantine_reingest(ctx: click.Context, quarantine_id: int) -> None:
    """Try a quarantined message again, with its channel's parser."""
    from channels.registry import install_adapters

    settings = settings_of(ctx)
    install_adapters(settings)
    try:
        outcome = run(with_database(settings, lambda s: pipeline.reingest(s, quarantine_id, settings=settings)))
    except pipeline.NotQuarantined as error:
        raise CliError(str(error)) from None
    if outcome.status == "quarantined":
        raise CliError(f"still failing; see `helpdesk quarantine list` (id {outcome.quarantine_id})")
    if outcome.result is None:
        err.print("resolved: it carried no message")
    else:
        err.print(f"ingested into ticket {outcome.result.ticket_id}")
