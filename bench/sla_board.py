"""The SLA board on the 1M-ticket database (`helpdesk_bench`), timed from a client over HTTP and in
process:

    python -m bench.sla_board seed [DATABASE_URL]     # once: 30 days of met/breached stamps (idempotent)
    HELPDESK_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/helpdesk_bench helpdesk serve --port 8795 &
    python -m bench.sla_board http [URL]              # the page, its live re-fetch (htmx fragment), a filter, the CSV
    python -m bench.sla_board inprocess [DATABASE_URL] # sla_board.board() alone: the server's own time

`seed` stamps what the sweep and the clock rules would have written for the tickets created in the
last 30 days (first response met on time, or breached; resolution and next response for some), as
INSERT ... ON CONFLICT DO NOTHING on the events' unique key, so running it again adds nothing and
rows the real rules wrote stay as they are. It changes no ticket.
"""
from __future__ import annotations

import asyncio
import sys
import time

from bench.console_http import Browser, percentile, report_turns

DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/helpdesk_bench"
SAMPLES = 200

SEED = """
INSERT INTO sla_events (ticket_id, target, kind, cycle, at, due_at, business_minutes, agent_id, team_id, channel, priority)
SELECT id, target, CASE WHEN r < miss THEN 'breached' ELSE 'met' END, 0,
       LEAST(created_at + make_interval(mins => (CASE WHEN r < miss THEN 1 ELSE r END * target_minutes)::int),
             now() - interval '1 minute'),
       created_at + make_interval(mins => target_minutes),
       CASE WHEN r < miss THEN NULL ELSE (r * target_minutes)::int END, assignee_id, team_id, channel, priority
FROM (
  -- random() in the select list: once per row (a LATERAL subquery of it would be run once for all)
  SELECT t.id, t.created_at, t.assignee_id, t.team_id, t.channel, t.priority, g.target, g.target_minutes, g.miss,
         g.share, random() AS r, random() AS pick
  FROM tickets t
  CROSS JOIN (VALUES ('first_response', 240, 0.12, 1.0), ('next_response', 480, 0.08, 0.3),
                     ('resolution', 2880, 0.05, 0.6)) AS g(target, target_minutes, miss, share)
  WHERE t.created_at > now() - interval '31 days'
) AS chances
WHERE pick < share
ON CONFLICT DO NOTHING
"""


async def seed(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        status = await conn.execute(SEED)
        await conn.execute("ANALYZE sla_events")
        total = await conn.fetchval("SELECT count(*) FROM sla_events WHERE at > now() - interval '30 days'")
        print(f"{status}; {total} stamps in the last 30 days")
    finally:
        await conn.close()


def http(url: str) -> None:
    browser = Browser(url)
    browser.sign_in()
    team = "?team=2"
    report_turns(browser, {
        "board page": ["/console/sla/"] * SAMPLES,
        "board page, team filter": [f"/console/sla/{team}"] * SAMPLES,
        "CSV report": ["/console/sla/report.csv"] * (SAMPLES // 2),
    })
    fragment = Browser(url)
    fragment.cookies = browser.cookies
    times = []
    for i in range(SAMPLES + 10):  # the live re-fetch: htmx asks for the board's fragment
        start = time.perf_counter()
        conn = fragment.connect()
        status, _ = fragment.request(conn, "GET", "/console/sla/", headers={"HX-Request": "true", "HX-Target": "sla-board"})
        conn.close()
        if i >= 10:
            times.append((time.perf_counter() - start) * 1000)
        assert status == 200, status
    print(f"{'board fragment (live re-fetch)':40s} n={len(times)} p50 {percentile(times, .5):6.1f} ms  "
          f"p95 {percentile(times, .95):6.1f} ms")


async def inprocess(url: str) -> None:
    from helpdesk.db import make_engine, make_session_factory
    from helpdesk.settings import Settings
    from helpdesk.tickets import sla_board

    engine = make_engine(Settings(database_url=url))
    sessions = make_session_factory(engine)
    try:
        for label, filters, cold in (("board()", sla_board.BoardFilters(), False),
                                     ("board(), team filter", sla_board.BoardFilters(team_id=2), False),
                                     ("board(), closed days not cached", sla_board.BoardFilters(), True)):
            times = []
            for i in range(SAMPLES + 10):
                if cold:
                    sla_board.forget_closed_days()
                async with sessions() as session:
                    start = time.perf_counter()
                    await sla_board.board(session, filters)
                    if i >= 10:
                        times.append((time.perf_counter() - start) * 1000)
            print(f"{label:40s} n={len(times)} p50 {percentile(times, .5):6.1f} ms  p95 {percentile(times, .95):6.1f} ms")
    finally:
        await engine.dispose()


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else "http"
    target = sys.argv[2] if len(sys.argv) > 2 else None
    if command == "seed":
        asyncio.run(seed(target or DATABASE_URL))
    elif command == "inprocess":
        asyncio.run(inprocess(target or DATABASE_URL))
    else:
        http(target or "http://127.0.0.1:8795")
