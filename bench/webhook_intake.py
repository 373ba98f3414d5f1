"""Benchmark: social webhook intake, and webhook-to-console time, against a real `helpdesk serve`.

Sets up an installation (PostgreSQL by default, `--sqlite` for the embedded default) with a WhatsApp
account, and starts `helpdesk serve --no-worker` with a Redis broker (`--broker`), as production runs
it: the web process verifies each delivery's X-Hub-Signature-256 against the account's app secret,
checks the envelope, stores the raw body and enqueues an ingest job, then answers.

1. Intake: wrk (`apt-get install wrk`) posts `--bodies` distinct, correctly signed WhatsApp deliveries
   (each a new customer's message) over `--connections` keep-alive connections for `--seconds`: the
   sustained requests/s and the answer's latency as wrk saw it. No worker runs meanwhile: the jobs
   wait in Redis, and the bench checks that every accepted delivery is there.
2. End to end: a `helpdesk worker` process is started (and the queued jobs drained), then
   `--e2e` deliveries are posted one at a time at `--e2e-rate`/s from here; each is timed from its
   POST to the moment its ticket is in the database, and to the moment an agent's console shows it
   (the ticket page fetched over HTTP answers with the message's text).

    .venv/bin/python -m bench.webhook_intake [--seconds 15] [--connections 32] [--sqlite] [--e2e 200]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from bench.chat_load import database, describe
from tests.support.installation import HELPDESK, Installation, signed_in

APP_SECRET = "bench-app-secret"
PHONE_NUMBER_ID = "109999999999999"
QUEUE = "dramatiq:inbound"

WRK_SCRIPT = r"""
-- rotates through pre-signed deliveries: one line each, "<signature>\t<body>"
local bodies, signatures, n = {}, {}, 0
local file = io.open(os.getenv("BENCH_BODIES"))
for line in file:lines() do
  local tab = line:find("\t")
  n = n + 1
  signatures[n] = line:sub(1, tab - 1)
  bodies[n] = line:sub(tab + 1)
end
file:close()
local i = 0
request = function()
  i = i % n + 1
  return wrk.format("POST", "/webhooks/whatsapp",
    {["Content-Type"] = "application/json", ["X-Hub-Signature-256"] = signatures[i]}, bodies[i])
end
local statuses = {}
response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
done = function(summary, latency, requests)
  io.write(string.format("BENCH requests=%d seconds=%.3f p50=%.3f p90=%.3f p99=%.3f max=%.3f errors=%d\n",
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status + summary.errors.timeout))
end
"""


def delivery(n: int, run: str) -> tuple[bytes, dict]:
    from channels.social.simulator import module_for

    whatsapp = module_for("whatsapp")
    number = f"+49151{n:08d}"
    body = whatsapp.inbound_body("whatsapp", PHONE_NUMBER_ID, number, f"bench {run} message {n}: where is my order?",
                                 name=f"Bench Customer {n}", message_id=f"wamid.bench{run}{n:08d}")
    return body, whatsapp.signed_headers("whatsapp", body, APP_SECRET)


def seed_account(installation: Installation) -> None:
    from helpdesk.db import make_engine, make_session_factory
    from helpdesk.social.accounts import create_account
    from tests.conftest import run_sync

    async def run() -> None:
        engine = make_engine(installation.settings)
        async with make_session_factory(engine)() as session:
            await create_account(session, installation.settings, platform="whatsapp", external_id=PHONE_NUMBER_ID,
                                 name="Bench WhatsApp", access_token="bench-token", app_secret=APP_SECRET,
                                 verify_token="bench-verify", options={"waba_id": "bench-waba"})
        await engine.dispose()

    run_sync(run())


def intake(url: str, folder: Path, args, broker) -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    run = f"i{int(time.time())}"
    lines = []
    for n in range(args.bodies):
        body, headers = delivery(n, run)
        signature = {k.lower(): v for k, v in headers.items()}["x-hub-signature-256"]
        lines.append(signature + "\t" + body.decode())
    bodies = folder / "bodies.tsv"
    bodies.write_text("\n".join(lines) + "\n")
    script = folder / "intake.lua"
    script.write_text(WRK_SCRIPT)
    before = broker.llen(QUEUE)
    done = subprocess.run(["wrk", "-t", str(args.threads), "-c", str(args.connections), "-d", f"{args.seconds}s",
                           "--timeout", "5s", "-s", str(script), url], capture_output=True, text=True,
                          env={**os.environ, "BENCH_BODIES": str(bodies)})
    found = re.search(r"BENCH requests=(\d+) seconds=([\d.]+) p50=([\d.]+) p90=([\d.]+) p99=([\d.]+) "
                      r"max=([\d.]+) errors=(\d+)", done.stdout)
    if not found:
        raise SystemExit(f"wrk failed:\n{done.stdout}\n{done.stderr}")
    requests, seconds, p50, p90, p99, top, errors = found.groups()
    queued = broker.llen(QUEUE) - before
    print(f"intake: {int(requests) / float(seconds):,.0f} requests/s over {float(seconds):.0f} s "
          f"({requests} deliveries, {args.connections} connections, errors {errors}); "
          f"answer p50 {float(p50):.1f} ms  p90 {float(p90):.1f} ms  p99 {float(p99):.1f} ms  max {float(top):.1f} ms")
    print(f"  ingest jobs waiting in Redis: {queued} (one per accepted delivery)")


async def end_to_end(url: str, installation: Installation, args) -> None:
    from sqlalchemy import select

    from helpdesk import db
    from helpdesk.models import Message

    agent = signed_in(url, "bea@shop.test")
    sessions = db.sessions(installation.settings)
    run = f"e{int(time.time())}"
    stored_ms: list[float] = []
    visible_ms: list[float] = []
    async with httpx.AsyncClient(base_url=url, cookies=agent.cookies, timeout=10) as client:
        async def one(n: int) -> None:
            body, headers = delivery(n, run)
            started = time.monotonic()
            answer = await client.post("/webhooks/whatsapp", content=body,
                                       headers={**headers, "content-type": "application/json"})
            assert answer.status_code == 200, answer.text
            external_id = f"wamid.bench{run}{n:08d}"
            ticket_id = None
            while ticket_id is None and time.monotonic() - started < 30:
                async with sessions() as session:
                    ticket_id = await session.scalar(select(Message.ticket_id).where(
                        Message.channel == "whatsapp", Message.external_id == external_id))
                if ticket_id is None:
                    await asyncio.sleep(0.005)
            if ticket_id is None:
                return
            stored_ms.append((time.monotonic() - started) * 1000)
            page = await client.get(f"/console/tickets/{ticket_id}")
            if page.status_code == 200 and f"bench {run} message {n}:" in page.text:
                visible_ms.append((time.monotonic() - started) * 1000)

        tasks = []
        for n in range(args.e2e):
            tasks.append(asyncio.create_task(one(n)))
            await asyncio.sleep(1 / args.e2e_rate)
        await asyncio.gather(*tasks)
    await db.dispose_sessions()
    print(f"end to end, {args.e2e} deliveries at {args.e2e_rate:.0f}/s, each a new customer:")
    print(f"  POST -> ticket stored:           {describe(stored_ms)}")
    print(f"  POST -> ticket page shows it:    {describe(visible_ms)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--bodies", type=int, default=20000, help="distinct signed deliveries wrk rotates through")
    parser.add_argument("--e2e", type=int, default=200, help="deliveries timed end to end (0: skip)")
    parser.add_argument("--e2e-rate", type=float, default=20)
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--sqlite", action="store_true", help="the embedded default's SQLite, not PostgreSQL")
    args = parser.parse_args()
    import redis

    print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    broker = redis.Redis.from_url(args.broker)
    broker.flushdb()
    with tempfile.TemporaryDirectory(prefix="webhook-bench-") as folder, database(not args.sqlite) as db_url:
        installation = Installation(Path(folder))
        if db_url:
            installation.env["HELPDESK_DATABASE_URL"] = db_url
            installation.settings = installation.settings.with_(database_url=db_url)
        installation.env["HELPDESK_BROKER_URL"] = args.broker
        installation.settings = installation.settings.with_(broker_url=args.broker)
        installation.seed_agents()
        seed_account(installation)
        url, web = serve_web_only(installation)
        print(f"helpdesk serve --no-worker: pid {web.pid}, {url}, {'SQLite' if args.sqlite else 'PostgreSQL'}, "
              f"broker {args.broker}", flush=True)
        try:
            intake(url, Path(folder), args, broker)
            if args.e2e:
                worker = subprocess.Popen([*HELPDESK, "worker"], env=installation.env, cwd=installation.folder,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                installation.servers.append(worker)
                drained = time.monotonic()
                while broker.llen(QUEUE) and time.monotonic() - drained < 600:
                    time.sleep(0.5)
                print(f"  the worker ingested the intake's deliveries in {time.monotonic() - drained:.0f} s")
                time.sleep(1)
                asyncio.run(end_to_end(url, installation, args))
        finally:
            installation.stop()
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


def serve_web_only(installation: Installation):
    from tests.conftest import free_port
    from tests.support.processes import wait_until_serving

    port = free_port()
    log = installation.folder / "serve.log"
    with log.open("w") as output:
        web = subprocess.Popen([*HELPDESK, "serve", "--no-worker", "--port", str(port)], env=installation.env,
                               cwd=installation.folder, stdout=output, stderr=subprocess.STDOUT)
    installation.servers.append(web)
    url = f"http://127.0.0.1:{port}"
    wait_until_serving(web, url, log.read_text)
    return url, web


if __name__ == "__main__":
    main()
