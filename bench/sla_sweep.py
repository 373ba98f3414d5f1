"""One SLA sweep over N open tickets on PostgreSQL (issue 11's target: < 200 ms at 200,000).

    .venv/bin/python bench/sla_sweep.py [--tickets 200000] [--url postgresql://postgres@127.0.0.1:5432/helpdesk_sla_bench]

Makes (or empties) its own database, never the shared `helpdesk_bench`: N open tickets over the last
ten days on four teams with leads and twenty agents, their due times spread from five days overdue
to five days ahead (first response met on 40 %, next response running on 30 %, pending ones paused),
one policy warning at 80 %. Then times, in the sweep's own transaction and commit:
- the first full sweep (stamps every breach there is: a catch-up after days without a sweep),
- a full sweep with nothing new (the one a process runs at start and every 10 minutes),
- incremental sweeps every 30 s of simulated time (the steady state), median and worst.
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import asyncpg

from helpdesk import db
from helpdesk.migrate import upgrade
from helpdesk.settings import Settings
from helpdesk.sla import sweep
from helpdesk.tools.seed_large import ensure_database, plain_dsn

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/helpdesk_sla_bench"

SEED = """
INSERT INTO teams (id, name) SELECT t, 'Team ' || t FROM generate_series(1, 4) t;
INSERT INTO agents (id, email, name, role, password_hash, team_id, active, created_at)
  SELECT a, 'agent' || a || '@bench.test', 'Agent ' || a, CASE WHEN a <= 4 THEN 'lead' ELSE 'agent' END, 'x',
         1 + a % 4, true, now() FROM generate_series(1, 20) a;
UPDATE teams SET lead_id = id;
INSERT INTO customers (id, name, created_at, updated_at) VALUES (1, 'Bench Customer', now(), now());
INSERT INTO sla_policies (id, name, position, first_response_minutes, next_response_minutes, resolution_minutes,
                          warn_at_percent, active)
  VALUES (1, 'standard', 1, 240, 480, 4320, 80, true);
INSERT INTO tickets (id, number, subject, status, priority, channel, customer_id, assignee_id, team_id,
                     sla_policy_id, created_at, updated_at, first_response_due_at, first_responded_at,
                     next_response_due_at, resolution_due_at, sla_paused_at)
  SELECT i, i, 'Ticket ' || i,
         (ARRAY['new', 'open', 'open', 'open', 'pending'])[1 + i % 5],
         (ARRAY['low', 'normal', 'normal', 'high', 'urgent'])[1 + (i * 7) % 5],
         'email', 1, CASE WHEN i % 10 < 7 THEN 5 + i % 16 END, 1 + i % 4, 1,
         $1::timestamptz - (i % 14400) * interval '1 minute', $1::timestamptz - (i % 1440) * interval '1 minute',
         CASE WHEN i % 10 >= 4 THEN $1::timestamptz + ((i::bigint * 7919) % 14400 - 7200) * interval '1 minute' END,
         CASE WHEN i % 10 < 4 THEN $1::timestamptz - interval '1 day' END,
         CASE WHEN i % 10 < 3 THEN $1::timestamptz + ((i::bigint * 104729) % 14400 - 7200) * interval '1 minute' END,
         $1::timestamptz + ((i::bigint * 1299709) % 14400 - 7200) * interval '1 minute',
         CASE WHEN i % 5 = 4 THEN $1::timestamptz - interval '1 hour' END
  FROM generate_series(1, $2::int) i;
SELECT setval('tickets_id_seq', $1::int);
"""


async def seed(url: str, tickets: int, now: datetime) -> None:
    await ensure_database(url)
    settings = Settings(data_dir=Path(tempfile.mkdtemp()), database_url=url)
    await upgrade(db.make_engine(settings))
    conn = await asyncpg.connect(plain_dsn(url))
    try:
        tables = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                                  "AND tablename <> 'alembic_version'")
        await conn.execute("TRUNCATE " + ", ".join(f'"{r["tablename"]}"' for r in tables) + " RESTART IDENTITY CASCADE")
        statements = [s.strip() for s in SEED.split(";") if s.strip()]
        for statement in statements:
            if "$2" in statement:
                await conn.execute(statement, now, tickets)
            elif "setval" in statement:
                await conn.fetchval(statement, tickets)
            else:
                await conn.execute(statement)
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


async def timed(sessions, now: datetime, *, full: bool | None = None) -> tuple[float, sweep.SweepResult]:
    async with sessions() as session:
        began = time.perf_counter()
        result = await sweep.sweep(session, now=now, full=full)
        return (time.perf_counter() - began) * 1000, result


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=200_000)
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    if args.url.rstrip("/").endswith("/helpdesk_bench"):
        parser.error("helpdesk_bench is shared: give the sweep bench a database of its own")
    now = datetime.now(timezone.utc).replace(microsecond=0)
    began = time.perf_counter()
    await seed(args.url, args.tickets, now)
    print(f"seeded {args.tickets:,} open tickets in {time.perf_counter() - began:.1f} s")
    settings = Settings(data_dir=Path(tempfile.mkdtemp()), database_url=args.url)
    sessions = db.sessions(settings)
    sweep.forget_last_sweep()
    took, result = await timed(sessions, now)
    print(f"first full sweep (catch-up):  {took:8.1f} ms  {len(result.breached):,} breached, "
          f"{len(result.warned):,} warned, {result.notified:,} notified")
    took, result = await timed(sessions, now + timedelta(seconds=1), full=True)
    print(f"full sweep, nothing new:      {took:8.1f} ms  {len(result.breached)} breached")
    times, stamped = [], 0
    for n in range(1, args.rounds + 1):
        took, result = await timed(sessions, now + timedelta(seconds=1 + 30 * n), full=False)
        times.append(took)
        stamped += len(result.breached) + len(result.warned)
    times.sort()
    print(f"incremental sweep every 30 s: {statistics.median(times):8.1f} ms median, {times[-1]:.1f} ms worst "
          f"({args.rounds} sweeps, {stamped} stamps)")
    await db.dispose_sessions()


if __name__ == "__main__":
    asyncio.run(main())
