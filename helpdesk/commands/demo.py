"""`helpdesk demo`: seed realistic demo data."""
from __future__ import annotations

import click

from helpdesk.cli import console, run, settings_of


def register(cli: click.Group) -> None:
    @cli.command()
    @click.option("--customers", default=60, show_default=True)
    @click.option("--tickets", default=220, show_default=True)
    @click.pass_context
    def demo(ctx, customers: int, tickets: int) -> None:
        """Seed demo customers, orders, agents, an SLA policy and conversations (idempotent)."""
        from helpdesk.commands.core import _upgrade
        from helpdesk.tools.demo import seed_demo

        settings = settings_of(ctx)
        run(_upgrade(settings))
        with console.status("seeding demo data"):
            email, password = run(seed_demo(settings, customers=customers, tickets=tickets))
        console.print(f"demo data ready; sign in as [bold]{email}[/] / [bold]{password}[/]")
