"""`helpdesk seed large`: a big PostgreSQL dataset for benchmarks, loaded with COPY."""
from __future__ import annotations

import click

from helpdesk.cli import CliError, console, run, settings_of


def register(cli: click.Group) -> None:
    @cli.group()
    def seed() -> None:
        """Generate datasets."""

    @seed.command()
    @click.option("--tickets", default=1_000_000, show_default=True)
    @click.option("--customers", default=200_000, show_default=True)
    @click.option("--messages", default=3_000_000, show_default=True)
    @click.option("--orders", default=500_000, show_default=True)
    @click.option("--database-url", help="PostgreSQL URL (created if missing); default HELPDESK_DATABASE_URL.")
    @click.option("--reset", is_flag=True, help="Empty the database first if it already has tickets.")
    @click.option("--seed", "random_seed", default=1, show_default=True, help="Random seed: same seed, same data.")
    @click.pass_context
    def large(ctx, tickets: int, customers: int, messages: int, orders: int, database_url: str | None,
              reset: bool, random_seed: int) -> None:
        """Build the benchmark dataset on PostgreSQL with COPY, refresh the search index, ANALYZE."""
        from helpdesk.commands.core import _upgrade
        from helpdesk.tools.seed_large import BENCH_AGENT, BENCH_PASSWORD, SeedError, ensure_database, seed_large

        settings = settings_of(ctx)
        if database_url:
            settings = settings.with_(database_url=database_url)
        if settings.is_sqlite:
            raise CliError("seed large needs PostgreSQL: pass --database-url postgresql://.../helpdesk_bench")
        try:
            run(ensure_database(settings.database_url))
            run(_upgrade(settings))
            report = run(seed_large(settings.database_url, tickets=tickets, customers=customers, messages=messages,
                                    orders=orders, reset=reset, seed=random_seed,
                                    progress=lambda line: console.print(f"  {line}")))
        except SeedError as exc:
            raise CliError(str(exc)) from exc
        load = report.phases["load"]
        loaded = sum(n for name, n in report.counts.items() if name != "ticket_search")
        console.print(f"seeded {', '.join(f'{n:,} {name}' for name, n in report.counts.items())}")
        console.print(f"elapsed {report.elapsed:.1f}s; COPY {loaded:,} rows in {load:.1f}s = {loaded / load:,.0f} rows/s; "
                      f"end to end {loaded / report.elapsed:,.0f} rows/s")
        console.print(f"sign in as {BENCH_AGENT} / {BENCH_PASSWORD}")
