"""Benchmark: server time of console pages and search on a seeded PostgreSQL database.

Runs the real app in-process (Litestar's AsyncTestClient: no sockets) signed in as a seeded
agent. "Server time" is taken inside an ASGI wrapper around the app: from the request entering
the app to its last response byte, so routing, middleware, the session store, queries and
template rendering count, and the test client does not. Search is also timed as the bare
domain function, `helpdesk.tickets.search.search`, to separate the SQL from the page around it.

    .venv/bin/helpdesk seed large --database-url postgresql://postgres@127.0.0.1/helpdesk_bench
    .venv/bin/python -m bench.console_pages [--database-url ...] [--requests 500]

URL patterns are options because the console screens are written alongside this harness;
a pattern whose route answers 404 is reported as missing rather than timed.
"""
from __future__ import annotations

import argparse
import asyncio
import random
import re
import statistics
import tempfile
import time
from pathlib import Path
from urllib.parse import quote_plus

import asyncpg
import logging
from litestar.testing import AsyncTestClient

from helpdesk.app import create_app
from helpdesk.db import make_engine, make_session_factory
from helpdesk.tickets.search import search
from helpdesk.tools.seed_large import BENCH_AGENT, BENCH_PASSWORD, ISSUE_WORDS, PRODUCTS, plain_dsn
from helpdesk.settings import Settings

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/helpdesk_bench"


class ServerTimer:
    """ASGI wrapper recording, per HTTP request, the seconds from entry to the final body chunk."""

    def __init__(self, app) -> None:
        self.app = app
        self.last: float | None = None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()

        async def timed_send(message):
            if message["type"] == "http.response.body" and not message.get("more_body"):
                self.last = time.perf_counter() - started
            await send(message)

        await self.app(scope, receive, timed_send)


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def summary(name: str, samples: list[float], target_ms: float | None = None) -> str:
    p50, p95 = percentile(samples, 50) * 1000, percentile(samples, 95) * 1000
    verdict = "" if target_ms is None else (f"  target p95 < {target_ms:.0f} ms: " + ("met" if p95 < target_ms else "MISSED"))
    return (f"{name:<28} n={len(samples):<4} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  "
            f"max {max(samples) * 1000:7.1f} ms  mean {statistics.fmean(samples) * 1000:6.1f} ms{verdict}")


async def sample_inputs(dsn: str, n: int, rng: random.Random) -> dict[str, list]:
    """Ticket ids (half from the open working set, half from all history) and search queries
    shaped like what agents type: a word, a surname, an email half-typed, two words, an order."""
    conn = await asyncpg.connect(plain_dsn(dsn))
    try:
        max_id = await conn.fetchval("SELECT max(id) FROM tickets")
        open_ids = [r["id"] for r in await conn.fetch(
            "SELECT id FROM tickets WHERE status IN ('new', 'open', 'pending', 'on_hold') ORDER BY random() LIMIT $1", n)]
        surnames = [r["name"].split()[-1] for r in await conn.fetch(
            "SELECT name FROM customers ORDER BY random() LIMIT $1", n)]
        emails = [r["value"] for r in await conn.fetch(
            "SELECT value FROM customer_identities WHERE kind = 'email' ORDER BY random() LIMIT $1", n)]
        orders = [r["number"] for r in await conn.fetch("SELECT number FROM orders ORDER BY random() LIMIT $1", n)]
    finally:
        await conn.close()
    ticket_ids = [rng.choice(open_ids) if i % 2 and open_ids else rng.randint(1, max_id) for i in range(n)]
    queries = []
    for i in range(n):
        kind = i % 10
        if kind < 4:
            queries.append(rng.choice(ISSUE_WORDS + PRODUCTS))
        elif kind < 6:
            queries.append(rng.choice(surnames))
        elif kind < 8:
            email = rng.choice(emails)
            queries.append(email[: rng.randint(len(email.split("@")[0]) + 2, len(email))])
        elif kind < 9:
            product = rng.choice(PRODUCTS)
            queries.append(f"{rng.choice(ISSUE_WORDS)} {product[: max(3, len(product) - 2)]}")
        else:
            queries.append(rng.choice(orders))
    return {"ticket_ids": ticket_ids, "queries": queries}


async def time_search_function(settings: Settings, queries: list[str]) -> tuple[list[float], dict[str, float]]:
    engine = make_engine(settings)
    sessions = make_session_factory(engine)
    samples, slowest = [], {}
    try:
        async with sessions() as session:
            for query in queries[:20]:  # warm-up: connections, plans, the GIN pages in cache
                await search(session, query)
            for query in queries:
                started = time.perf_counter()
                await search(session, query)
                elapsed = time.perf_counter() - started
                samples.append(elapsed)
                slowest[query] = max(elapsed, slowest.get(query, 0))
    finally:
        await engine.dispose()
    return samples, dict(sorted(slowest.items(), key=lambda kv: -kv[1])[:8])


async def sign_in(client: AsyncTestClient) -> None:
    page = await client.get("/console/login")
    token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text).group(1)
    response = await client.post("/console/login", data={"email": BENCH_AGENT, "password": BENCH_PASSWORD,
                                                          "_csrf_token": token, "next": "/console"},
                                 follow_redirects=False)
    if response.status_code not in (302, 303):
        raise SystemExit(f"sign-in as {BENCH_AGENT} failed ({response.status_code}); was the database seeded?")


async def time_pages(settings: Settings, pages: dict[str, tuple[list[str], dict[str, str]]],
                     warmup: int) -> dict[str, list[float] | str]:
    """Each page's URLs in turn, with that page's request headers (htmx swaps send HX-*)."""
    timer = ServerTimer(create_app(settings))
    results: dict[str, list[float] | str] = {}
    async with AsyncTestClient(app=timer) as client:
        await sign_in(client)
        for name, (urls, headers) in pages.items():
            probe = await client.get(urls[0], headers=headers)
            if probe.status_code == 404:
                results[name] = f"missing route ({urls[0]} answers 404)"
                continue
            if probe.status_code >= 400:
                results[name] = f"{urls[0]} answers {probe.status_code}"
                continue
            for url in urls[:warmup]:
                await client.get(url, headers=headers)
            samples = []
            for url in urls:
                response = await client.get(url, headers=headers)
                if response.status_code >= 400:
                    raise SystemExit(f"{url} answered {response.status_code}")
                samples.append(timer.last)
            results[name] = samples
    return results


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--ticket-url", default="/console/tickets/{ticket_id}")
    parser.add_argument("--queue-url", default="/console/queues/{queue}")
    parser.add_argument("--queues", default="mine,unassigned,open,pending,breaching",
                        help="queue names the queue-url pattern is filled with, in turn")
    parser.add_argument("--search-url", default="/console/search?q={query}")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--redis-url", default=None,
                        help="session store and live updates in Redis, as compose.yaml runs it (default: "
                             "the embedded file store)")
    args = parser.parse_args()

    logging.getLogger("httpx").setLevel(logging.WARNING)
    rng = random.Random(args.seed)
    n = args.requests
    data_dir = Path(tempfile.mkdtemp(prefix="helpdesk-bench-"))
    settings = Settings(data_dir=data_dir, database_url=args.database_url, secret_key="bench-secret",
                        redis_url=args.redis_url)
    inputs = await sample_inputs(args.database_url, n, rng)
    queues = args.queues.split(",")
    document: dict[str, str] = {}  # a full page load: address bar, reload, a link opened in a new tab
    def swap(target: str) -> dict[str, str]:  # what htmx sends when an agent clicks inside the console
        return {"HX-Request": "true", "HX-Target": target}

    ticket_urls = [args.ticket_url.format(ticket_id=t) for t in inputs["ticket_ids"]]
    queue_urls = [args.queue_url.format(queue=queues[i % len(queues)]) for i in range(n)]
    pages = {
        "ticket page": (ticket_urls, document),
        "ticket page, htmx swap": (ticket_urls, swap("workspace")),
        "queue page": (queue_urls, document),
        "queue page, htmx swap": (queue_urls, swap("queue-pane")),
        "queue counts (nav, lazy)": (["/console/queues/counts"] * n, swap("queue-nav")),
        "search page": ([args.search_url.format(query=quote_plus(q)) for q in inputs["queries"]], document),
        "search as you type": ([args.search_url.format(query=quote_plus(q)) for q in inputs["queries"]],
                               swap("search-results")),
        "placeholder /console/": (["/console/"] * n, document),
        "placeholder /healthz": (["/healthz"] * n, document),
    }
    print(f"database {args.database_url}; sessions in {args.redis_url or 'the file store'}; {n} requests per "
          "measurement; in-process (Litestar AsyncTestClient), server time measured in an ASGI wrapper")
    samples, slowest = await time_search_function(settings, inputs["queries"])
    print(summary("search() function", samples, 100))
    print("  slowest queries: " + ", ".join(f"{q!r} {t * 1000:.0f} ms" for q, t in slowest.items()))
    targets = {"ticket page": 30, "ticket page, htmx swap": 30, "queue page": 50, "queue page, htmx swap": 50,
               "search page": 100, "search as you type": 100}
    for name, result in (await time_pages(settings, pages, args.warmup)).items():
        print(f"{name:<28} {result}" if isinstance(result, str) else summary(name, result, targets.get(name)))


if __name__ == "__main__":
    asyncio.run(main())
