"""Benchmark: live chat under load against one `helpdesk serve` (SQLite, embedded default).

Starts `helpdesk serve` on a fresh data folder with a chat channel and N conversations, opens N
visitor WebSockets to it (as N widgets would), has each visitor write one message (its ticket),
then has an agent answer through the console's reply route (POST /console/tickets/N/reply, the
outbox, the in-process worker, the chat sender, the live channel) at --rate replies a second spread
over the conversations, and times each reply from the POST to its frame on the visitor's socket.
Reports delivery latency (p50/p95/p99/max), replies lost (sent but never received), the visitor
messages' ack latency, and the web process's resident memory (RSS, sampled every 0.5 s).

Conversations and their tokens are made directly in the database with the instance secret (the
session endpoint allows 20 sessions a minute per client address, and every bench socket comes
from 127.0.0.1); everything after that goes through the real endpoints.

With `--via outbox` this process writes the replies itself (`outbox.queue_reply`, as the console
does) and the web process's worker takes them from a Redis broker, so the web process does only the
delivery; `--via live` publishes the reply frames on the live channels directly (the socket side
alone, no database); `--worker-process` (with `--via outbox`) runs
`serve --no-worker` and a `helpdesk worker` process; `--postgres` runs on a fresh PostgreSQL database
instead of SQLite.

    .venv/bin/python -m bench.chat_load [--sockets 200] [--rate 200] [--seconds 20] [--via console|outbox]
                                        [--postgres] [--visitor-share 0.5] [--hello-rate 100]

With `--visitor-share 0.5` the load is an exchange: half of `--rate` are agents' replies, half are
visitors writing again into their open tickets at the same time (their send -> ack latency is the
visitor-to-helpdesk direction).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil
from websockets.asyncio.client import connect

from tests.conftest import PG_ADMIN_URL as PG_ADMIN
from tests.conftest import run_sync
from tests.support.installation import Installation, signed_in

ORIGIN = "https://shop.example"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def describe(values_ms: list[float]) -> str:
    return (f"p50 {percentile(values_ms, 0.5):7.1f} ms  p95 {percentile(values_ms, 0.95):7.1f} ms  "
            f"p99 {percentile(values_ms, 0.99):7.1f} ms  max {max(values_ms, default=float('nan')):7.1f} ms  "
            f"(n={len(values_ms)})")


def seed(installation: Installation, sockets: int) -> list[str]:
    """The chat channel and `sockets` conversations; their visitor tokens."""
    from helpdesk.chat.channels import create_channel
    from helpdesk.chat.tokens import visitor_token
    from helpdesk.db import make_engine, make_session_factory
    from helpdesk.models import ChatConversation

    settings = installation.settings

    async def run() -> list[str]:
        engine = make_engine(settings)
        async with make_session_factory(engine)() as session:
            channel = (await create_channel(session, settings, name="Bench chat", key="bench",
                                            allowed_origins=[ORIGIN])).channel
            public_ids = [f"bench{n:06d}{uuid.uuid4().hex[:12]}" for n in range(sockets)]
            session.add_all([ChatConversation(public_id=p, channel_id=channel.id, name=f"Visitor {n}",
                                              visitor_last_read_id=0, agent_last_read_id=0)
                             for n, p in enumerate(public_ids)])
            await session.commit()
        await engine.dispose()
        return [visitor_token(settings, conversation=p, channel_key="bench") for p in public_ids]

    return run_sync(run())


class Visitors:
    """N sockets; every agent frame "bench <n>" is stamped with when it arrived."""

    def __init__(self, ws_url: str, tokens: list[str]) -> None:
        self.ws_url, self.tokens = ws_url, tokens
        self.sockets: list = []
        self.received: dict[int, float] = {}
        self.acks: dict[str, float] = {}
        self.closed_early = 0
        self.errors: list[dict] = []

    async def open(self, concurrency: int = 50) -> None:
        gate = asyncio.Semaphore(concurrency)

        async def one(token: str):
            async with gate:
                ws = await connect(f"{self.ws_url}/chat/bench/socket?token={token}", origin=ORIGIN,
                                   open_timeout=60, ping_interval=None, max_queue=None)
                await ws.send(json.dumps({"type": "hello", "after": 0}))
                while json.loads(await ws.recv())["type"] != "history":
                    pass
                return ws

        self.sockets = list(await asyncio.gather(*(one(t) for t in self.tokens)))
        self.readers = [asyncio.create_task(self._read(ws)) for ws in self.sockets]

    async def _read(self, ws) -> None:
        try:
            async for raw in ws:
                frame = json.loads(raw)
                now = time.monotonic()
                if frame["type"] == "message" and frame.get("from") == "agent":
                    match = re.fullmatch(r"bench (\d+)", frame["text"])
                    if match:
                        self.received.setdefault(int(match.group(1)), now)
                elif frame["type"] == "ack":
                    self.acks.setdefault(frame["id"], now)
                elif frame["type"] == "error":
                    self.errors.append(frame)
        except Exception:  # noqa: BLE001 - counted: a socket the server closed
            self.closed_early += 1

    async def each_says_hello(self, rate: float) -> list[float]:
        """Every visitor writes one message (opening its ticket), `rate` a second; ack latencies in ms."""
        sent: dict[str, float] = {}
        for n, ws in enumerate(self.sockets):
            message_id = str(uuid.uuid4())
            sent[message_id] = time.monotonic()
            await ws.send(json.dumps({"type": "message", "id": message_id, "text": f"Hello from visitor {n}"}))
            await asyncio.sleep(max(0.0, sent[next(iter(sent))] + (n + 1) / rate - time.monotonic()))
        deadline = time.monotonic() + 60
        while len(self.acks) < len(sent) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        return [(self.acks[m] - t) * 1000 for m, t in sent.items() if m in self.acks]

    async def talk(self, rate: float, seconds: float) -> list[float]:
        """Visitors whose ticket is open write again, `rate` a second for `seconds` (round robin, open
        loop), while the agents answer: the other half of the exchange. Ack latencies in ms."""
        sent: dict[str, float] = {}

        async def one(n: int) -> None:
            message_id = str(uuid.uuid4())
            sent[message_id] = time.monotonic()
            await self.sockets[(n * 7) % len(self.sockets)].send(
                json.dumps({"type": "message", "id": message_id, "text": f"And another thing, number {n}"}))

        await at_rate(one, rate, seconds)
        deadline = time.monotonic() + 30
        while any(m not in self.acks for m in sent) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        return [(self.acks[m] - t) * 1000 for m, t in sent.items() if m in self.acks] + \
            [float("inf")] * sum(1 for m in sent if m not in self.acks)

    async def close(self) -> None:
        for reader in self.readers:
            reader.cancel()
        await asyncio.gather(*(ws.close() for ws in self.sockets), return_exceptions=True)


async def sample_rss(pid: int, into: list[int], stop: asyncio.Event) -> None:
    process = psutil.Process(pid)
    while not stop.is_set():
        into.append(process.memory_info().rss)
        await asyncio.sleep(0.5)


async def at_rate(one, rate: float, seconds: float) -> None:
    """one(0), one(1), ... started `rate` times a second for `seconds` (open loop: a slow one does not
    delay the next), then all awaited."""
    tasks, started, n = [], time.monotonic(), 0
    while time.monotonic() - started < seconds:
        tasks.append(asyncio.create_task(one(n)))
        n += 1
        await asyncio.sleep(max(0.0, started + n / rate - time.monotonic()))
    await asyncio.gather(*tasks)


async def reply_at_rate(url: str, cookies, tickets: list[int], rate: float, seconds: float) -> dict[int, float]:
    """POST the console's reply route `rate` times a second for `seconds` (open loop: a slow answer does
    not slow the schedule), round robin over the tickets; when each reply was posted."""
    posted: dict[int, float] = {}
    failures: list[str] = []
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=url, cookies=cookies, timeout=60, limits=limits) as client:
        csrf = client.cookies["helpdesk_csrf"]

        async def one(n: int) -> None:
            posted[n] = time.monotonic()
            response = await client.post(f"/console/tickets/{tickets[n % len(tickets)]}/reply",
                                         data={"body": f"bench {n}", "mode": "reply"},
                                         files={"attachments": ("", b"", "application/octet-stream")},
                                         headers={"x-csrftoken": csrf})
            if response.status_code not in (200, 302, 303):
                failures.append(f"{response.status_code} {response.text[:200]}")

        await at_rate(one, rate, seconds)
    if failures:
        print(f"  {len(failures)} replies refused, e.g. {failures[0]}")
    return posted


async def reply_through_outbox(settings, tickets: list[int], rate: float, seconds: float) -> dict[int, float]:
    """The same replies written by this process through `outbox.queue_reply` (as an agent's console
    would), enqueued on the Redis broker for the web process's worker; when each was queued."""
    from sqlalchemy import select

    from helpdesk import db
    from helpdesk.models import Agent, Ticket
    from helpdesk.tickets import outbox

    sessions = db.sessions(settings)
    async with sessions() as session:
        agent = await session.scalar(select(Agent).where(Agent.email == "bea@shop.test"))
    posted: dict[int, float] = {}

    async def one(n: int) -> None:
        posted[n] = time.monotonic()
        async with sessions() as session:
            ticket = await session.get(Ticket, tickets[n % len(tickets)])
            await outbox.queue_reply(session, ticket, settings=settings, text=f"bench {n}", agent=agent)

    await at_rate(one, rate, seconds)
    await db.dispose_sessions()
    return posted


async def publish_live(settings, public_ids: list[str], rate: float, seconds: float) -> dict[int, float]:
    """Reply frames published straight on the conversations' live channels, as the chat sender does
    (through the local relay, or Redis when configured): the web process's part alone."""
    from helpdesk import live
    from helpdesk.chat.conversations import publish_message

    live.set_transport(live.transport_for(settings))
    posted: dict[int, float] = {}

    async def one(n: int) -> None:
        posted[n] = time.monotonic()
        publish_message(public_ids[n % len(public_ids)], {
            "seq": 10**9 + n, "id": f"out-{n}", "from": "agent", "name": "Bench", "text": f"bench {n}",
            "at": None, "attachments": []})

    await at_rate(one, rate, seconds)
    return posted


def delivery_statuses(settings) -> dict[int, str]:
    """Each bench reply's outbox status ("bench <n>" -> status), to tell replies lost on the way to
    the socket (sent, never received) from replies still waiting in the outbox (queued, sending)."""
    from sqlalchemy import select

    from helpdesk.db import make_engine
    from helpdesk.models import Message

    async def read() -> dict[int, str]:
        engine = make_engine(settings)
        async with engine.connect() as conn:
            rows = await conn.execute(select(Message.text, Message.delivery_status)
                                      .where(Message.direction == "outbound", Message.text.like("bench %")))
            found = {int(text.split()[1]): status for text, status in rows}
        await engine.dispose()
        return found

    return run_sync(read())


def ticket_ids(settings) -> list[int]:
    from sqlalchemy import select

    from helpdesk.db import make_engine
    from helpdesk.models import ChatConversation

    async def read() -> list[int]:
        engine = make_engine(settings)
        async with engine.connect() as conn:
            rows = await conn.execute(select(ChatConversation.ticket_id).where(ChatConversation.ticket_id.is_not(None))
                                      .order_by(ChatConversation.id))
            found = [row[0] for row in rows]
        await engine.dispose()
        return found

    return run_sync(read())


async def run(installation: Installation, url: str, pid: int, tokens: list[str], args) -> None:
    rss: list[int] = []
    stop = asyncio.Event()
    sampler = asyncio.create_task(sample_rss(pid, rss, stop))
    baseline = psutil.Process(pid).memory_info().rss
    visitors = Visitors(url.replace("http://", "ws://"), tokens)
    started = time.monotonic()
    await visitors.open()
    print(f"{len(visitors.sockets)} sockets open in {time.monotonic() - started:.1f} s; "
          f"web process RSS {psutil.Process(pid).memory_info().rss / 2**20:.0f} MB (idle: {baseline / 2**20:.0f} MB)")
    hello_rate = args.hello_rate or args.rate
    acks = await visitors.each_says_hello(hello_rate)
    print(f"visitors' first messages (one each, opening its ticket, {hello_rate:.0f}/s): ack {describe(acks)}")
    if visitors.errors:
        print(f"  {len(visitors.errors)} error frames, e.g. {visitors.errors[0]}")
    tickets = ticket_ids(installation.settings)
    agent_rate = args.rate * (1 - args.visitor_share)
    talking = asyncio.create_task(visitors.talk(args.rate * args.visitor_share, args.seconds)) \
        if args.visitor_share else None
    if args.via == "console":
        agent = signed_in(url, "bea@shop.test")
        posted = await reply_at_rate(url, agent.cookies, tickets, agent_rate, args.seconds)
    elif args.via == "outbox":
        posted = await reply_through_outbox(installation.settings, tickets, agent_rate, args.seconds)
    else:
        from helpdesk.chat.tokens import visitor_conversation

        public_ids = [visitor_conversation(installation.settings, t, channel_key="bench") for t in tokens]
        posted = await publish_live(installation.settings, public_ids, agent_rate, args.seconds)
    talked = await talking if talking else []
    posted_until = time.monotonic()
    deadline = posted_until + args.grace
    while len(visitors.received) < len(posted) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    stop.set()
    await sampler
    latencies = [(visitors.received[n] - t) * 1000 for n, t in posted.items() if n in visitors.received]
    missing = [n for n in posted if n not in visitors.received]
    statuses = delivery_statuses(installation.settings) if args.via != "live" and missing else {}
    waiting = sum(1 for n in missing if statuses.get(n) in ("queued", "sending"))
    span = max(posted.values()) - min(posted.values()) if posted else 1
    print(f"agent replies: {len(posted)} posted in {span:.1f} s ({len(posted) / span:.0f}/s) over {len(tickets)} "
          f"conversations; received {len(latencies)}, lost {len(missing) - waiting}, still in the outbox "
          f"{waiting} (after {args.grace:.0f} s of grace)")
    start = {"console": "POST", "outbox": "queue_reply", "live": "publish"}[args.via]
    print(f"  {start} -> visitor's socket: {describe(latencies)}")
    if talked:
        print(f"visitors' messages meanwhile: {len(talked)} at {args.rate * args.visitor_share:.0f}/s into their open "
              f"tickets; send -> ack (stored, on the agents' live channel): {describe(talked)}")
        print(f"  both directions together ({len(talked) + len(latencies)} messages, "
              f"{(len(talked) + len(latencies)) / args.seconds:.0f}/s): {describe(talked + latencies)}")
    print(f"web process RSS: max {max(rss) / 2**20:.0f} MB, at the end {rss[-1] / 2**20:.0f} MB; "
          f"sockets the server closed: {visitors.closed_early}")
    await visitors.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", type=int, default=200)
    parser.add_argument("--rate", type=float, default=200, help="agent replies a second, in total")
    parser.add_argument("--seconds", type=float, default=20, help="how long the agents reply")
    parser.add_argument("--grace", type=float, default=15, help="how long to wait for late replies")
    parser.add_argument("--via", choices=["console", "outbox", "live"], default="console",
                        help="console: POST the reply route; outbox: queue_reply here, the web process's worker "
                             "delivers (Redis broker, --broker); live: publish the frames on the conversations' "
                             "live channels (the web process's socket side alone)")
    parser.add_argument("--visitor-share", type=float, default=0.0,
                        help="part of --rate written by visitors into their open tickets while the agents answer "
                             "(0.5: an exchange, half each way)")
    parser.add_argument("--hello-rate", type=float, default=0,
                        help="visitors' first messages a second (they open the tickets; default: --rate)")
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/14",
                        help="redis://... (its consumers poll, backing off to 100 ms when idle) or amqp://... "
                             "(RabbitMQ pushes each job to a waiting worker)")
    parser.add_argument("--worker-process", action="store_true",
                        help="with --via outbox: serve --no-worker and a `helpdesk worker` process deliver")
    parser.add_argument("--postgres", action="store_true", help=f"on PostgreSQL ({PG_ADMIN}), not SQLite")
    parser.add_argument("--live-redis", default=None, metavar="URL",
                        help="HELPDESK_REDIS_URL for the live events between processes (production's set-up; "
                             "without it a worker process reaches the web process through the local relay, "
                             "which drops events for a process more than 0.1 s behind)")
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="chat-load-") as folder, database(args.postgres) as url:
        installation = Installation(Path(folder))
        if url:
            installation.env["HELPDESK_DATABASE_URL"] = url
            installation.settings = installation.settings.with_(database_url=url)
        if args.via == "outbox":
            if args.broker.startswith("redis"):
                import redis

                redis.Redis.from_url(args.broker).flushdb()
            installation.env["HELPDESK_BROKER_URL"] = args.broker
            installation.settings = installation.settings.with_(broker_url=args.broker)
            from workers.broker import setup_broker

            setup_broker(installation.settings)  # this process enqueues deliveries on the web process's broker
        if args.live_redis:
            installation.env["HELPDESK_REDIS_URL"] = args.live_redis
        installation.seed_agents()
        tokens = seed(installation, args.sockets)
        if args.worker_process:
            url, process = serve_with_a_worker_process(installation)
        else:
            url, process = installation.serve()
        print(f"helpdesk serve: pid {process.pid}, {url}", flush=True)
        try:
            asyncio.run(run(installation, url, process.pid, tokens, args))
        finally:
            installation.stop()
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


def serve_with_a_worker_process(installation: Installation):
    """`helpdesk serve --no-worker` and one `helpdesk worker`: deliveries on another process than the sockets."""
    from tests.conftest import free_port
    from tests.support.installation import HELPDESK
    from tests.support.processes import wait_until_serving

    port = free_port()
    log = installation.folder / "serve.log"
    with log.open("w") as output:
        web = subprocess.Popen([*HELPDESK, "serve", "--no-worker", "--port", str(port)], env=installation.env,
                               cwd=installation.folder, stdout=output, stderr=subprocess.STDOUT)
        worker = subprocess.Popen([*HELPDESK, "worker"], env=installation.env, cwd=installation.folder,
                                  stdout=output, stderr=subprocess.STDOUT)
    installation.servers += [web, worker]
    url = f"http://127.0.0.1:{port}"
    wait_until_serving(web, url, log.read_text)
    return url, web


@contextmanager
def database(postgres: bool, name: str = "helpdesk_chat_bench"):
    """None (SQLite in the data folder), or a fresh PostgreSQL database `name`, dropped afterwards."""
    if not postgres:
        yield None
        return
    import asyncpg

    admin = PG_ADMIN.replace("postgresql://", "postgres://")

    async def execute(*statements: str) -> None:
        conn = await asyncpg.connect(admin)
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    run_sync(execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    finally:
        run_sync(execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
