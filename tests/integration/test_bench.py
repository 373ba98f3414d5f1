"""The benchmark drives the real ingest path: a small run on SQLite and PostgreSQL."""
from __future__ import annotations

from helpdesk.tools.bench import run_ingest


async def test_small_bench_run_ingests_every_message(settings):
    seconds, tickets, customers = await run_ingest(settings, n=60, customers=15, concurrency=3)
    assert seconds > 0
    assert 30 <= tickets < 60 and customers <= 15
