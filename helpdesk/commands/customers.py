"""`helpdesk customers export ID` and `helpdesk customers erase ID`: a customer's data as a zip
(right of access) and its irreversible anonymisation (right to erasure); docs/privacy.md."""
from __future__ import annotations

from pathlib import Path

import click

from helpdesk.cli import CliError, console, run, settings_of, with_database
from helpdesk.customers import gdpr
from helpdesk.customers.records import CustomerError


def register(cli: click.Group) -> None:
    if "customers" in cli.commands:  # another module made the group: add to it
        group = cli.commands["customers"]
        group.add_command(export_customer)
        group.add_command(erase_customer)
    else:
        cli.add_command(customers)


@click.group()
def customers() -> None:
    """Customers: their data for a GDPR request (export, erase)."""


def _work(ctx: click.Context, work):
    settings = settings_of(ctx)

    async def session_work(sessions):
        async with sessions() as session:
            try:
                return await work(session, settings)
            except CustomerError as error:
                raise CliError(str(error)) from None

    return run(with_database(settings, session_work))


@customers.command("export")
@click.argument("customer_id", type=int)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="The zip to write (default: customer-<ID>.zip in the current folder).")
@click.pass_context
def export_customer(ctx: click.Context, customer_id: int, output: Path | None) -> None:
    """Everything held about a customer: customer.json and the attachments, in a zip."""
    output = output or Path(f"customer-{customer_id}.zip")
    summary = _work(ctx, lambda session, settings: gdpr.export_customer(session, settings, customer_id, output))
    merged = f" (customer {customer_id} was merged into {summary.customer_id})" \
        if summary.customer_id != customer_id else ""
    missing = f", {summary.missing_files} files missing from the store" if summary.missing_files else ""
    click.echo(f"{summary.path}: customer {summary.customer_id}{merged}, {summary.tickets} tickets, "
               f"{summary.messages} messages, {summary.attachments} attachments{missing}")


@customers.command("erase")
@click.argument("customer_id", type=int)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def erase_customer(ctx: click.Context, customer_id: int, yes: bool) -> None:
    """Anonymise a customer's personal data, irreversibly (GDPR erasure)."""
    if not yes:
        console.print(f"This erases customer {customer_id}'s name, identities, messages, attachments and raw "
                      "payloads for good. It cannot be undone.")
        typed = click.prompt(f"Type the customer id ({customer_id}) to confirm", default="", show_default=False)
        if typed.strip().lstrip("#") != str(customer_id):
            raise CliError("not confirmed: nothing was erased")
    erasure = _work(ctx, lambda session, settings: gdpr.erase_customer(session, settings, customer_id))
    counts = ", ".join(f"{value} {name.replace('_', ' ')}" for name, value in erasure.counts().items())
    click.echo(f"customer {erasure.customer_id} erased: {counts}")
