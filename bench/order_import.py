"""Benchmark: `helpdesk import orders FILE.csv` of a 1,000,000-row file, as a command, on PostgreSQL.

Writes a CSV of `--rows` line-item rows (1-3 per order, one customer per ~5 orders, half of them with
a phone too; the columns of docs/orders.md), then runs `helpdesk import orders` in its own process
(start-up and migrations check included) against a fresh PostgreSQL database (`--sqlite`: the
embedded default). Prints rows/s and orders/s over the whole command, and the command's peak RSS
(psutil, polled every 50 ms); then runs it again to show a re-run (every order found, nothing new).

    .venv/bin/python -m bench.order_import [--rows 1000000] [--sqlite] [--no-rerun]
"""
from __future__ import annotations

import argparse
import csv
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from bench.order_webhook import database, installation_on

HEADER = ["order_id", "number", "status", "currency", "total", "placed_at", "updated_at", "email", "phone", "name",
          "item_sku", "item_title", "item_quantity", "item_price"]
PRODUCTS = [("SEN-100", "Sencha 100 g", "9.50"), ("EGR-100", "Earl Grey 100 g", "7.90"),
            ("KET-GL", "Glass kettle", "39.00"), ("CUP-2", "Two cups", "14.00"), ("POT-CI", "Cast-iron teapot", "59.00"),
            ("MAT-30", "Matcha 30 g", "18.50"), ("ROO-100", "Rooibos 100 g", "6.90")]


def write_csv(path: Path, rows: int, seed: int = 3) -> int:
    """The file, one row per line item; returns how many orders it holds."""
    rng = random.Random(seed)
    orders = written = 0
    with path.open("w", newline="", encoding="utf-8") as file:
        out = csv.writer(file)
        out.writerow(HEADER)
        while written < rows:
            orders += 1
            customer = rng.randrange(max(1, rows // 10))
            lines = rng.sample(PRODUCTS, min(rng.randint(1, 3), rows - written))
            quantities = [rng.randint(1, 3) for _ in lines]
            total = sum(float(price) * q for (_, _, price), q in zip(lines, quantities))
            day = rng.randrange(1, 28)
            phone = f"+49151{customer:08d}" if customer % 2 else ""
            for (sku, title, price), quantity in zip(lines, quantities):
                out.writerow([f"B-{orders}", f"#{orders}", rng.choice(("paid", "fulfilled", "refunded")), "EUR",
                              f"{total:.2f}", f"2026-{1 + orders % 12:02d}-{day:02d}T10:00:00+01:00", "",
                              f"customer{customer}@example.com", phone, f"Customer {customer}", sku, title, quantity,
                              price])
                written += 1
    return orders


def run_import(installation, path: Path) -> tuple[float, int, str, int]:
    """(seconds, peak RSS in bytes, the command's output, exit code)."""
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, "-m", "helpdesk", "import", "orders", str(path)], env=installation.env,
                               cwd=installation.folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    watched, peak = psutil.Process(process.pid), 0
    while process.poll() is None:
        try:
            peak = max(peak, watched.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.05)
    output = process.stdout.read()
    return time.monotonic() - started, peak, output, process.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--sqlite", action="store_true", help="the embedded default's SQLite, not PostgreSQL")
    parser.add_argument("--no-rerun", action="store_true", help="skip the second, idempotent run")
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="order-import-bench-") as folder, \
            database(not args.sqlite, "helpdesk_order_import_bench") as db_url:
        installation = installation_on(Path(folder), db_url)
        path = Path(folder) / "orders.csv"
        started = time.monotonic()
        orders = write_csv(path, args.rows)
        print(f"wrote {path.name}: {args.rows:,} rows, {orders:,} orders, {path.stat().st_size / 1e6:.0f} MB "
              f"in {time.monotonic() - started:.0f} s", flush=True)
        installation.run("db", "upgrade")  # the schema, as an installation has it before its first import
        for label in ("first run", "re-run")[:1 if args.no_rerun else 2]:
            seconds, peak, output, code = run_import(installation, path)
            summary = output.strip().splitlines()[-1] if output.strip() else "(no output)"
            print(f"{label}: {args.rows / seconds:,.0f} rows/s, {orders / seconds:,.0f} orders/s "
                  f"({seconds:.1f} s for the whole command, exit {code}); peak RSS {peak / 2**20:.0f} MB "
                  f"on {'SQLite' if args.sqlite else 'PostgreSQL'}")
            print(f"  {summary}", flush=True)
            print(f"  load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
