"""bench: measure the ingest path on fresh SQLite and PostgreSQL databases (see docs/performance.md)."""
from __future__ import annotations

import click

from helpdesk.cli import CliError, console


def register(cli: click.Group) -> None:
    @cli.group()
    def bench() -> None:
        """Benchmarks (not tests): figures for docs/performance.md."""

    @bench.command("ingest")
    @click.option("--n", "n", default=20000, show_default=True, help="Messages to ingest per database.")
    @click.option("--database", type=click.Choice(["sqlite", "postgres", "both"]), default="both", show_default=True)
    @click.option("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres", show_default=True,
                  help="A PostgreSQL URL allowed to CREATE DATABASE; a fresh database is created and dropped.")
    @click.option("--customers", default=3000, show_default=True, help="Distinct senders.")
    @click.option("--sqlite-workers", default=1, show_default=True,
                  help="Concurrent ingest coroutines (one session each) on SQLite: one writer is the embedded shape.")
    @click.option("--pg-workers", default=8, show_default=True,
                  help="Concurrent ingest coroutines (one session each) on PostgreSQL, like N worker threads.")
    @click.option("--batch", default=1, show_default=True,
                  help="Messages per transaction: 1 calls ingest() per message; more calls ingest_many() "
                       "with that many, as a mailbox poll or an import does.")
    def bench_ingest(n: int, database: str, pg_url: str, customers: int, sqlite_workers: int, pg_workers: int,
                     batch: int) -> None:
        """Push synthetic mail (70% new, 30% replies, 1 in 10 with 50 KB attached) through ingest."""
        from helpdesk.tools.bench import bench_in_child

        targets = ["sqlite", "postgres"] if database == "both" else [database]
        results = []
        for target in targets:
            workers = sqlite_workers if target == "sqlite" else pg_workers
            console.print(f"[bold]{target}[/]: {n} messages, {workers} concurrent ingest session(s), "
                          f"{batch} message(s) per transaction")
            try:
                result = bench_in_child(target, n=n, customers=customers, concurrency=workers, pg_url=pg_url,
                                        batch=batch)
            except RuntimeError as exc:
                raise CliError(str(exc)) from None
            results.append(result)
        for r in results:
            click.echo(f"{r.database:<9} {r.messages} messages, {r.concurrency} worker(s), batch {r.batch}: "
                       f"{r.seconds:.1f} s, "
                       f"{r.messages_per_second:,.0f} messages/s, peak RSS {r.peak_rss_mb:.0f} MB "
                       f"({r.tickets} tickets, {r.customers} customers)")
