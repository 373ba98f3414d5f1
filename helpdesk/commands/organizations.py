"""`helpdesk organizations list|show|create|rename|add-domain|remove-domain`: the organization
screens' rules (`helpdesk.customers.organizations`) from a terminal, one clear line on bad input.
An organization is named by its id, its name or one of its domains."""
from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from helpdesk.cli import CliError, run, settings_of, with_database
from helpdesk.customers import organizations as orgs
from helpdesk.customers.organizations import OrganizationError
from helpdesk.models import Organization

out = Console()


def register(cli: click.Group) -> None:
    cli.add_command(organizations)


@click.group()
def organizations() -> None:
    """Organizations and the email domains that link customers to them."""


def _work(ctx: click.Context, work):
    """Run `work(session)` on the database; a refused change is one line and exit status 1."""
    async def session_work(sessions):
        async with sessions() as session:
            try:
                return await work(session)
            except OrganizationError as error:
                raise CliError(str(error)) from None

    return run(with_database(settings_of(ctx), session_work))


async def _find(session, named: str) -> Organization:
    found = await orgs.find_organization(session, named)
    if found is None:
        raise CliError(f"no organization {named!r} (give its id, name or one of its domains)")
    return found


@organizations.command("list")
@click.pass_context
def list_organizations(ctx: click.Context) -> None:
    """Every organization with its domains, customers and open tickets."""
    async def work(session):
        table = Table("id", "name", "domains", "customers", "open tickets")
        for row in await orgs.organization_rows(session):
            table.add_row(str(row.id), row.name, ", ".join(row.domains), str(row.customers), str(row.open_tickets))
        out.print(table)

    _work(ctx, work)


@organizations.command("show")
@click.argument("organization")
@click.pass_context
def show(ctx: click.Context, organization: str) -> None:
    """One organization's numbers: customers, open tickets, orders per currency."""
    async def work(session):
        view = await orgs.load_organization_view(session, (await _find(session, organization)).id)
        out.print(f"[bold]{view.organization.name}[/bold] (id {view.organization.id})")
        out.print(f"domains: {', '.join(view.domains) or 'none'}")
        out.print(f"customers: {view.customer_count}, open tickets: {view.open_ticket_count}")
        for total in view.order_totals:
            out.print(f"orders in {total.currency}: {total.orders}, spent {total.spent:,.2f} {total.currency}")

    _work(ctx, work)


@organizations.command("create")
@click.argument("name")
@click.option("--domain", "domains", multiple=True, help="An email domain of the organization (repeat).")
@click.pass_context
def create(ctx: click.Context, name: str, domains: tuple[str, ...]) -> None:
    """Create an organization; with --domain, its customers at that domain are linked (all or nothing)."""
    freemail = orgs.freemail_domains(settings_of(ctx).freemail_domains)

    async def work(session):
        made = await orgs.create_organization(session, name, domains=domains, freemail=freemail)
        view = await orgs.load_organization_view(session, made.id)
        out.print(f"created organization {made.id}: {made.name}, domains: {', '.join(view.domains) or 'none'}, "
                  f"{view.customer_count} customer{'' if view.customer_count == 1 else 's'} linked")

    _work(ctx, work)


@organizations.command("rename")
@click.argument("organization")
@click.argument("name")
@click.pass_context
def rename(ctx: click.Context, organization: str, name: str) -> None:
    """Give an organization a new name."""
    async def work(session):
        renamed = await orgs.rename_organization(session, await _find(session, organization), name)
        out.print(f"organization {renamed.id} is now {renamed.name}")

    _work(ctx, work)


@organizations.command("add-domain")
@click.argument("organization")
@click.argument("domain")
@click.pass_context
def add_domain(ctx: click.Context, organization: str, domain: str) -> None:
    """Add an email domain; customers at it without an organization are linked now."""
    settings = settings_of(ctx)

    async def work(session):
        found = await _find(session, organization)
        _linked(domain, await orgs.add_domain(session, found, domain,
                                              freemail=orgs.freemail_domains(settings.freemail_domains)))

    _work(ctx, work)


@organizations.command("remove-domain")
@click.argument("organization")
@click.argument("domain")
@click.pass_context
def remove_domain(ctx: click.Context, organization: str, domain: str) -> None:
    """Remove an email domain (its customers stay in the organization)."""
    async def work(session):
        found = await _find(session, organization)
        await orgs.remove_domain(session, found, domain)
        out.print(f"removed {domain.strip().lower()} from {found.name}")

    _work(ctx, work)


def _linked(domain: str, count: int) -> None:
    out.print(f"added {orgs.normalise_domain(domain)}: {count} customer{'' if count == 1 else 's'} linked")
