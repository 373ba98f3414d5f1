"""shops, import orders: where orders come from (a shop's webhook, a CSV file). docs/orders.md"""
from __future__ import annotations

import csv
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn
from rich.table import Table

from helpdesk.cli import CliError, console, run, settings_of, with_database

ROWS_SKIPPED_EXIT = 3  # the import ran and kept every valid row, but some rows were left out


def register(cli: click.Group) -> None:
    cli.add_command(shops)
    # `import` is shared with other sources (mail): join the group if it exists
    group = cli.commands.get("import")
    if group is None:
        group = click.Group("import", help="Bring data in from other systems.")
        cli.add_command(group)
    group.add_command(import_orders_command)


@click.group()
def shops() -> None:
    """Shops that send their orders by webhook (POST /webhooks/shopify)."""


@shops.command("add")
@click.option("--name", required=True, help="How agents will recognise the shop.")
@click.option("--domain", required=True, help="The shop's domain, as in X-Shopify-Shop-Domain (shop.myshopify.com).")
@click.option("--secret", prompt="Webhook secret", hide_input=True,
              help="The secret the shop signs its webhooks with (asked for when not given).")
@click.pass_context
def shops_add(ctx, name: str, domain: str, secret: str) -> None:
    """Add a shop; its deliveries are accepted from now on."""
    from helpdesk.customers.shops import ShopInvalid, create_shop

    settings = settings_of(ctx)

    async def add(sessions):
        async with sessions() as session:
            shop = await create_shop(session, settings, name=name, domain=domain, webhook_secret=secret)
            return shop.id, shop.domain

    try:
        shop_id, shop_domain = run(with_database(settings, add))
    except ShopInvalid as error:
        raise CliError(str(error)) from None
    console.print(f"shop {shop_domain} added (id {shop_id}): point its order webhooks at "
                  f"{settings.base_url.rstrip('/')}/webhooks/shopify")


@shops.command("list")
@click.pass_context
def shops_list(ctx) -> None:
    """The shops, without their secrets."""
    from helpdesk.customers.shops import list_shops

    async def rows(sessions):
        async with sessions() as session:
            return [(s.id, s.name, s.domain, s.active, s.last_webhook_at) for s in await list_shops(session)]

    table = Table("id", "name", "domain", "active", "last webhook")
    for shop_id, name, domain, active, last in run(with_database(settings_of(ctx), rows)):
        table.add_row(str(shop_id), name, domain, "yes" if active else "no",
                      last.strftime("%Y-%m-%d %H:%M UTC") if last else "never")
    Console().print(table)


@shops.command("remove")
@click.argument("shop")
@click.pass_context
def shops_remove(ctx, shop: str) -> None:
    """Remove a shop (by domain or id): its deliveries are refused; its orders stay."""
    from helpdesk.customers.shops import ShopInvalid, remove_shop

    async def remove(sessions):
        async with sessions() as session:
            return (await remove_shop(session, shop)).domain

    try:
        domain = run(with_database(settings_of(ctx), remove))
    except ShopInvalid as error:
        raise CliError(str(error)) from None
    console.print(f"shop {domain} removed")


@click.command("orders")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--source", default="csv", show_default=True,
              help="Where the orders come from: with the order id, what makes an order the same on a re-run.")
@click.option("--errors", "errors_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write every skipped row (line, reason) to this CSV file.")
@click.option("--batch-rows", default=5000, show_default=True, hidden=True)
@click.pass_context
def import_orders_command(ctx, file: Path, source: str, errors_file: Path | None, batch_rows: int) -> None:
    """Import orders from a CSV file, one row per line item (columns: docs/orders.md).

    Rows that cannot be read are reported with their line numbers and left out; every valid row is
    kept. Running it again changes nothing. Exits with 3 when rows were skipped."""
    from helpdesk.customers.order_import import FileInvalid, import_orders

    settings = settings_of(ctx)
    errors_out = errors_file.open("w", newline="", encoding="utf-8") if errors_file else None
    errors_csv = csv.writer(errors_out) if errors_out else None
    if errors_csv:
        errors_csv.writerow(["line", "error"])
    bar = Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                   TimeRemainingColumn(), console=console, disable=not console.is_terminal, transient=True)
    task = bar.add_task(f"importing {file.name}", total=file.stat().st_size)

    async def work(sessions):
        return await import_orders(sessions, file, source=source, batch_rows=batch_rows,
                                   progress=lambda done: bar.update(task, completed=done),
                                   on_error=(lambda line, why: errors_csv.writerow([line, why])) if errors_csv else None)

    try:
        with bar:
            report = run(with_database(settings, work))
    except FileInvalid as error:
        raise CliError(f"{file}: {error}") from None
    finally:
        if errors_out:
            errors_out.close()
    for line, why in report.errors:
        console.print(f"{file.name}:{line}: {why}", markup=False, highlight=False, soft_wrap=True)
    if report.rows_skipped > len(report.errors):
        console.print(f"… and {report.rows_skipped - len(report.errors)} more skipped rows"
                      + (f" (all in {errors_file})" if errors_file else " (--errors FILE lists them all)"), soft_wrap=True)
    console.print(f"{report.rows} rows: {report.orders_created} orders created, {report.orders_updated} updated, "
                  f"{report.orders_unchanged} unchanged (newer stored), {report.customers_created} customers created, "
                  f"{report.rows_skipped} rows skipped", soft_wrap=True)
    if report.rows_skipped:
        ctx.exit(ROWS_SKIPPED_EXIT)
