"""Benchmark: Shopify order webhooks against a real `helpdesk serve --no-worker` on PostgreSQL.

Sets up an installation (PostgreSQL by default, `--sqlite` for the embedded default) with one shop,
starts `helpdesk serve --no-worker` and has wrk post signed `orders/create` deliveries over
`--connections` keep-alive connections for `--seconds`: each request is verified
(X-Shopify-Hmac-Sha256 against the shop's secret), parsed and upserted with its line items and
customer (1 in 4 a new customer) before the answer, as production runs it. Prints the sustained
requests/s and the latency as wrk saw it, and checks the orders are in the database.

    .venv/bin/python -m bench.order_webhook [--seconds 15] [--connections 32] [--sqlite]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from bench.chat_load import database
from bench.webhook_intake import serve_web_only
from tests.support.installation import Installation

DOMAIN = "bench-shop.myshopify.com"
SECRET = "bench-shopify-webhook-secret"

WRK_SCRIPT = r"""
-- rotates through pre-signed orders: one line each, "<signature>\t<body>"; a fresh webhook id per
-- request, so a wrap-around is a real (same-version) update, never the replay shortcut
local bodies, signatures, n = {}, {}, 0
local file = io.open(os.getenv("BENCH_BODIES"))
for line in file:lines() do
  local tab = line:find("\t")
  n = n + 1
  signatures[n] = line:sub(1, tab - 1)
  bodies[n] = line:sub(tab + 1)
end
file:close()
local i, sent = 0, 0
local thread_id = 0
setup = function(thread) thread_id = thread_id + 1; thread:set("tid", thread_id) end
request = function()
  i = i % n + 1
  sent = sent + 1
  return wrk.format("POST", "/webhooks/shopify", {
    ["Content-Type"] = "application/json", ["X-Shopify-Hmac-Sha256"] = signatures[i],
    ["X-Shopify-Topic"] = "orders/create", ["X-Shopify-Shop-Domain"] = "%DOMAIN%",
    ["X-Shopify-Webhook-Id"] = string.format("bench-%s-%d", tostring(tid), sent)}, bodies[i])
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
PRODUCTS = [("SEN-100", "Sencha 100 g", "9.50"), ("EGR-100", "Earl Grey 100 g", "7.90"),
            ("KET-GL", "Glass kettle", "39.00"), ("CUP-2", "Two cups", "14.00"), ("POT-CI", "Cast-iron teapot", "59.00")]


def shopify_order(n: int, run: str, rng: random.Random) -> bytes:
    """A Shopify Order resource as orders/create sends it (the fields a shop's order carries, trimmed)."""
    customer = rng.randrange(max(1, n // 4 + 1))  # one in four deliveries is a new customer
    lines = [{"id": n * 10 + k, "sku": sku, "title": title, "quantity": rng.randint(1, 3), "price": price,
              "product_id": 632910392 + k, "variant_id": 39072856 + k, "requires_shipping": True, "grams": 200}
             for k, (sku, title, price) in enumerate(rng.sample(PRODUCTS, rng.randint(1, 3)))]
    total = sum(float(line["price"]) * line["quantity"] for line in lines)
    return json.dumps({
        "id": int(f"{run}{n:07d}"), "name": f"#{100000 + n}", "order_number": 100000 + n,
        "email": f"customer{customer}@example.com", "created_at": "2026-11-30T10:00:00+01:00",
        "updated_at": "2026-11-30T10:00:00+01:00", "currency": "EUR", "total_price": f"{total:.2f}",
        "subtotal_price": f"{total:.2f}", "total_tax": "0.00", "financial_status": "paid", "fulfillment_status": None,
        "cancelled_at": None, "test": False, "source_name": "web",
        "customer": {"id": 207119551 + customer, "email": f"customer{customer}@example.com",
                     "first_name": "Customer", "last_name": str(customer), "phone": None},
        "line_items": lines,
    }).encode()


def installation_on(folder: Path, db_url: str | None) -> Installation:
    installation = Installation(folder)
    if db_url:
        installation.env["HELPDESK_DATABASE_URL"] = db_url
        installation.settings = installation.settings.with_(database_url=db_url)
    return installation


def seed_shop(installation: Installation) -> None:
    from helpdesk.customers.shops import create_shop
    from helpdesk.db import make_engine, make_session_factory
    from helpdesk.migrate import upgrade
    from tests.conftest import run_sync

    async def run() -> None:
        engine = make_engine(installation.settings)
        await upgrade(engine)
        async with make_session_factory(engine)() as session:
            await create_shop(session, installation.settings, name="Bench shop", domain=DOMAIN, webhook_secret=SECRET)
        await engine.dispose()

    run_sync(run())


def count_orders(installation: Installation) -> int:
    from sqlalchemy import func, select

    from helpdesk.db import make_engine, make_session_factory
    from helpdesk.models import Order
    from tests.conftest import run_sync

    async def run() -> int:
        engine = make_engine(installation.settings)
        async with make_session_factory(engine)() as session:
            found = await session.scalar(select(func.count()).select_from(Order))
        await engine.dispose()
        return found

    return run_sync(run())


def load(url: str, folder: Path, args) -> None:
    from channels.shop.shopify import signature

    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    rng, run = random.Random(7), str(int(time.time()) % 100000)
    lines = []
    for n in range(args.bodies):
        body = shopify_order(n, run, rng)
        lines.append(signature(SECRET, body) + "\t" + body.decode())
    (folder / "bodies.tsv").write_text("\n".join(lines) + "\n")
    script = folder / "orders.lua"
    script.write_text(WRK_SCRIPT.replace("%DOMAIN%", DOMAIN))
    done = subprocess.run(["wrk", "-t", str(args.threads), "-c", str(args.connections), "-d", f"{args.seconds}s",
                           "--timeout", "5s", "-s", str(script), url], capture_output=True, text=True,
                          env={**os.environ, "BENCH_BODIES": str(folder / "bodies.tsv")})
    found = re.search(r"BENCH requests=(\d+) seconds=([\d.]+) p50=([\d.]+) p90=([\d.]+) p99=([\d.]+) "
                      r"max=([\d.]+) errors=(\d+)", done.stdout)
    if not found:
        raise SystemExit(f"wrk failed:\n{done.stdout}\n{done.stderr}")
    requests, seconds, p50, p90, p99, top, errors = found.groups()
    print(f"order webhook: {int(requests) / float(seconds):,.0f} requests/s over {float(seconds):.0f} s "
          f"({requests} signed orders/create deliveries, {args.connections} connections, errors {errors}); "
          f"answer p50 {float(p50):.1f} ms  p90 {float(p90):.1f} ms  p99 {float(p99):.1f} ms  max {float(top):.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--bodies", type=int, default=30000, help="distinct signed orders wrk rotates through")
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--sqlite", action="store_true", help="the embedded default's SQLite, not PostgreSQL")
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="order-webhook-bench-") as folder, \
            database(not args.sqlite, "helpdesk_order_webhook_bench") as db_url:
        installation = installation_on(Path(folder), db_url)
        # --no-worker wants a broker for the app's other jobs; the order webhook queues none
        installation.env["HELPDESK_BROKER_URL"] = args.broker
        seed_shop(installation)
        url, web = serve_web_only(installation)
        print(f"helpdesk serve --no-worker: pid {web.pid}, {url}, {'SQLite' if args.sqlite else 'PostgreSQL'}",
              flush=True)
        try:
            load(url, Path(folder), args)
            print(f"  orders in the database: {count_orders(installation):,} "
                  f"(distinct orders posted: at most {args.bodies:,})")
        finally:
            installation.stop()
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
