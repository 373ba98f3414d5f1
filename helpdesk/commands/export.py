"""`helpdesk export tickets`: every ticket as JSON, for migrating out or into other tools."""
from __future__ import annotations

import json

import click

from helpdesk.cli import run, settings_of, with_database
from helpdesk.tickets.export import ticket_documents


def register(cli: click.Group) -> None:
    cli.add_command(export)


@click.group()
def export() -> None:
    """Write data out in documented formats."""


@export.command("tickets")
@click.option("--json", "fmt", flag_value="json", default=True, help='One document: {"tickets": [...]} (default).')
@click.option("--jsonl", "fmt", flag_value="jsonl", help="One ticket per line.")
@click.option("-o", "--output", type=click.File("w", encoding="utf-8"), default="-", help="Default: stdout.")
@click.pass_context
def export_tickets(ctx: click.Context, fmt: str, output) -> None:
    """Export every ticket with its customer and messages."""
    run(with_database(settings_of(ctx), lambda sessions: _write(sessions, fmt, output), migrate=False))


async def _write(sessions, fmt: str, output) -> None:
    async with sessions() as session:
        # streamed ticket by ticket: memory stays flat however large the export
        first = True
        if fmt == "json":
            output.write('{"tickets": [')
        async for document in ticket_documents(session):
            line = json.dumps(document, ensure_ascii=False)
            if fmt == "jsonl":
                output.write(line + "\n")
            else:
                output.write(line if first else ", " + line)
            first = False
        if fmt == "json":
            output.write("]}\n")
        output.flush()

