"""`helpdesk webhooks add|list|remove|deliveries|test`: outbound webhook endpoints and their
deliveries (docs/webhooks.md), as on the admin screen. A new endpoint's secret is printed once."""
from __future__ import annotations

import json

import click
from rich.console import Console
from sqlalchemy import select

from helpdesk.cli import CliError, run, settings_of, with_database
from helpdesk.integrations import deliveries, webhooks
from helpdesk.integrations.webhooks import EVENTS, EndpointInvalid
from helpdesk.models import WebhookDelivery

err = Console(stderr=True)


def register(cli: click.Group) -> None:
    cli.add_command(webhooks_group)


@click.group("webhooks")
def webhooks_group() -> None:
    """Outbound webhooks: endpoints that receive our events, signed (docs/webhooks.md)."""


@webhooks_group.command("add")
@click.argument("url")
@click.option("-e", "--event", "events", multiple=True, type=click.Choice(EVENTS), required=True,
              help="An event to send; repeat for several.")
@click.option("--description", default="", help="Which integration it is, for the admins.")
@click.pass_context
def add(ctx: click.Context, url: str, events: tuple[str, ...], description: str) -> None:
    """Add an endpoint; prints its signing secret, once."""
    settings = settings_of(ctx)

    async def work(sessions):
        async with sessions() as session:
            return await webhooks.add_endpoint(session, settings, url=url, events=list(events),
                                               description=description)

    created = _refused_as_cli_error(lambda: run(with_database(settings, work)))
    err.print(f"Endpoint {created.endpoint.id} added for {', '.join(created.endpoint.events)}. "
              "Its signing secret (shown once; give it to the integration):")
    click.echo(created.secret)


@webhooks_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON document instead of a table.")
@click.pass_context
def list_endpoints(ctx: click.Context, as_json: bool) -> None:
    """The endpoints, their events and state (never their secrets)."""
    async def work(sessions):
        async with sessions() as session:
            return await webhooks.list_endpoints(session)

    endpoints = run(with_database(settings_of(ctx), work))
    rows = [{"id": e.id, "url": e.url, "events": e.events, "active": e.active, "description": e.description}
            for e in endpoints]
    if as_json:
        click.echo(json.dumps({"endpoints": rows}, indent=2))
        return
    _print_rows(("id", "url", "events", "state", "description"),
                [(row["id"], row["url"], ",".join(row["events"]), "active" if row["active"] else "off",
                  row["description"] or "") for row in rows], empty="No webhook endpoints.")


@webhooks_group.command("remove")
@click.argument("endpoint_id", type=int)
@click.pass_context
def remove(ctx: click.Context, endpoint_id: int) -> None:
    """Remove an endpoint and its deliveries."""
    async def work(sessions):
        async with sessions() as session:
            await webhooks.remove_endpoint(session, endpoint_id)

    _refused_as_cli_error(lambda: run(with_database(settings_of(ctx), work)))
    err.print(f"Endpoint {endpoint_id} removed.")


@webhooks_group.command("deliveries")
@click.option("--endpoint", "endpoint_id", type=int, help="Only this endpoint's.")
@click.option("--status", type=click.Choice(["queued", "sending", "delivered", "failed"]))
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@click.pass_context
def list_deliveries(ctx: click.Context, endpoint_id: int | None, status: str | None, limit: int) -> None:
    """The last deliveries, newest first, with their attempts and last answer."""
    async def work(sessions):
        async with sessions() as session:
            query = select(WebhookDelivery).order_by(WebhookDelivery.id.desc()).limit(limit)
            if endpoint_id is not None:
                query = query.where(WebhookDelivery.endpoint_id == endpoint_id)
            if status is not None:
                query = query.where(WebhookDelivery.status == status)
            return list(await session.scalars(query))

    found = run(with_database(settings_of(ctx), work))
    _print_rows(("id", "endpoint", "event", "status", "attempts", "created", "last answer"),
                [(d.id, d.endpoint_id, d.event, d.status, d.attempts, f"{d.created_at:%Y-%m-%dT%H:%M:%SZ}",
                  "; ".join(filter(None, (f"HTTP {d.last_status_code}" if d.last_status_code else None, d.last_error))))
                 for d in found], empty="No deliveries.")


@webhooks_group.command("test")
@click.argument("endpoint_id", type=int)
@click.pass_context
def send_test(ctx: click.Context, endpoint_id: int) -> None:
    """Send a `webhook.test` event to an endpoint now and print its answer."""
    settings = settings_of(ctx)

    async def work(sessions):
        async with sessions() as session:
            delivery_id = await deliveries.send_test(session, endpoint_id)
            await deliveries.deliver(session, delivery_id, settings=settings)
            return await session.get(WebhookDelivery, delivery_id, populate_existing=True)

    delivery = _refused_as_cli_error(lambda: run(with_database(settings, work)))
    answer = f"HTTP {delivery.last_status_code}" if delivery.last_status_code else delivery.last_error
    if delivery.status != "delivered":
        raise CliError(f"delivery {delivery.id} not delivered ({answer}); it is {delivery.status}"
                       + (", retried with back-off" if delivery.status == "queued" else ""))
    err.print(f"Delivery {delivery.id} delivered: {answer}.")


def _print_rows(header: tuple[str, ...], rows: list[tuple], *, empty: str) -> None:
    """Tab-separated, one row a line: whole URLs and errors, never wrapped, easy to grep and cut."""
    if not rows:
        click.echo(empty)
        return
    for row in (header, *rows):
        click.echo("\t".join(str(value) for value in row))


def _refused_as_cli_error(call):
    try:
        return call()
    except EndpointInvalid as error:
        raise CliError(str(error)) from error
