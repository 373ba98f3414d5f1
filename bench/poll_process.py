"""Benchmark: `helpdesk mail poll --once` as a whole process, timed from outside, as a user runs it.

APPENDs N realistic mails (bench.imap's corpus) into a Dovecot it starts (tests/support/dovecot.py).
Each run gets a fresh PostgreSQL database and data folder, `helpdesk db upgrade` and `helpdesk
mailboxes add` (not timed), then `/usr/bin/time -v helpdesk mail poll --once`: interpreter start-up,
imports, migrations check, login, fetch, ingest and exit. The mail stays unread, so every run reads
the same N. Prints per run messages/s, wall time and peak RSS; then the wall time of a poll that
finds nothing; then, from one more run, where the time goes: phases timed inside the process by
hooks (bench/poll_trace.py) and imports by `python -X importtime`.

    .venv/bin/python -m bench.poll_process [--n 2000] [--runs 3] [--source DIR] [--no-profile]

--source measures another checkout (e.g. `git archive` of an older commit) with this virtualenv.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
PG = os.environ.get("HELPDESK_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
SUPPORT = "support@shop.test"
PASSWORD = "bench-secret"


class Checkout:
    """`helpdesk` commands of one checkout, run as child processes on one database and data folder."""

    def __init__(self, source: Path, url: str, data_dir: Path) -> None:
        self.source = source
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
        self.env.update(HELPDESK_DATABASE_URL=url, HELPDESK_DATA_DIR=str(data_dir), PYTHONPATH=str(source),
                        COLUMNS="200")

    def run(self, *args: str, prefix: tuple[str, ...] = (), python: tuple[str, ...] = ("-m", "helpdesk"),
            check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run([*prefix, sys.executable, *python, *args], cwd=self.source, env=self.env,
                                capture_output=True, text=True, timeout=1800)
        if check and result.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed ({result.returncode}):\n{result.stderr[-2000:]}")
        return result

    def timed(self, *args: str, python: tuple[str, ...] = ("-m", "helpdesk")) -> dict:
        """Run under /usr/bin/time -v: wall seconds, peak RSS (MB), CPU seconds, and the command's stderr."""
        with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
            result = self.run(*args, prefix=("/usr/bin/time", "-v", "-o", report.name), python=python)
            text = report.read()
        wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):(\d+(?:\.\d+)?)", text)
        hours, minutes, seconds = (float(g) if g else 0.0 for g in wall.groups())
        field = lambda name: float(re.search(rf"{name}[^:\n]*: ([\d.]+)", text).group(1))  # noqa: E731
        return {"wall": hours * 3600 + minutes * 60 + seconds, "rss_mb": field("Maximum resident set size") / 1024,
                "cpu": field("User time") + field("System time"),
                "ingested": _ingested(result.stderr), "stderr": result.stderr}


def _ingested(stderr: str) -> int:
    found = re.search(r"(\d+) ingested", stderr)
    return int(found.group(1)) if found else 0


async def fresh(source: Path, name: str, port: int) -> Checkout:
    """A new database `name` with the schema and the bench mailbox, and an empty data folder."""
    from helpdesk.tools.bench import create_pg_database

    url = await create_pg_database(f"{PG}/postgres", name)
    data_dir = Path(tempfile.gettempdir()) / f"{name}-data"
    shutil.rmtree(data_dir, ignore_errors=True)
    checkout = Checkout(source, url, data_dir)
    checkout.run("db", "upgrade")
    checkout.run("mailboxes", "add", SUPPORT, "--imap-host", "127.0.0.1", "--imap-port", str(port),
                 "--imap-security", "none", "--imap-password", PASSWORD, "--no-idle")
    return checkout


async def drop(name: str) -> None:
    from helpdesk.tools.bench import drop_pg_database

    await drop_pg_database(f"{PG}/postgres", name)
    shutil.rmtree(Path(tempfile.gettempdir()) / f"{name}-data", ignore_errors=True)


def phases(trace: dict, wall: float) -> list[tuple[str, float]]:
    """The process's wall time split by the tracer's spans; what no span covers is 'other'."""
    spans = trace["spans"]
    inside = {k: v for k, v in spans.items() if "inside" in k}
    rows = [("interpreter start-up (before any of our code)", trace["python_start"])]
    rows += [(k, v) for k, v in spans.items() if k not in inside]
    rows.append(("exit (after the command returned)", max(wall - trace["main_end"], 0.0)))
    rows.append(("other: lazy imports, event loop, waits for the read-ahead thread", wall - sum(v for _, v in rows)))
    rows += list(inside.items())
    return rows


def import_profile(stderr: str, top: int = 12) -> tuple[float, list[tuple[str, float]]]:
    """`-X importtime` lines: total import time and the packages whose own modules cost most."""
    by_package: dict[str, float] = defaultdict(float)
    for line in stderr.splitlines():
        found = re.match(r"import time:\s+(\d+) \|\s+\d+ \|\s+(\S+)", line)
        if found:
            by_package[found.group(2).split(".")[0]] += int(found.group(1)) / 1e6
    return sum(by_package.values()), sorted(by_package.items(), key=lambda item: -item[1])[:top]


async def run(args) -> None:
    from bench.imap import append_all, corpus
    from tests.support.dovecot import start_dovecot

    source = Path(args.source).resolve()
    raws, _ = corpus(args.n, args.customers)
    server = start_dovecot(SUPPORT, PASSWORD)
    name = f"helpdesk_poll_bench_{os.getpid()}"
    results = []
    try:
        seconds = append_all(server.port, PASSWORD, raws)
        print(f"{args.n} mails ({sum(map(len, raws)) / 1e6:.1f} MB) APPENDed in {seconds:.1f} s; "
              f"measuring {source}", flush=True)
        del raws
        for number in range(1, args.runs + 1):
            checkout = await fresh(source, name, server.port)
            result = checkout.timed("mail", "poll", "--once")
            if result["ingested"] != args.n:
                raise RuntimeError(f"run {number} ingested {result['ingested']} of {args.n}:\n{result['stderr']}")
            results.append(result)
            print(f"run {number}: {args.n / result['wall']:.0f} msg/s, wall {result['wall']:.2f} s, "
                  f"CPU {result['cpu']:.2f} s, peak RSS {result['rss_mb']:.0f} MB, load {os.getloadavg()[0]:.1f}",
                  flush=True)
        idle = [checkout.timed("mail", "poll", "--once")["wall"] for _ in range(3)]
        walls = sorted(r["wall"] for r in results)
        median = walls[len(walls) // 2]
        print(f"median of {len(walls)}: {args.n / median:.0f} msg/s, wall {median:.2f} s; "
              f"peak RSS max {max(r['rss_mb'] for r in results):.0f} MB; "
              f"a poll that finds nothing: {', '.join(f'{w:.2f}' for w in idle)} s")

        if args.profile:
            checkout = await fresh(source, name, server.port)
            with tempfile.NamedTemporaryFile("r", suffix=".json") as out:
                traced = checkout.timed(out.name, "mail", "poll", "--once", python=(str(HERE / "poll_trace.py"),))
                trace = json.load(out)
            print(f"\nwhere the time goes (one more run, {args.n / traced['wall']:.0f} msg/s, wall "
                  f"{traced['wall']:.2f} s):")
            for label, seconds in phases(trace, traced["wall"]):
                calls = trace["calls"].get(label)
                print(f"  {seconds:7.3f} s {100 * seconds / traced['wall']:5.1f} %  {label}"
                      + (f" ({calls} calls)" if calls and calls > 1 else ""))
            importtime = checkout.run("mail", "poll", "--once", python=("-X", "importtime", "-m", "helpdesk"))
            total, packages = import_profile(importtime.stderr)
            print(f"\nimports of a poll that finds nothing (-X importtime): {total:.3f} s in all; by package:")
            for package, seconds in packages:
                print(f"  {seconds:7.3f} s  {package}")
    finally:
        server.stop()
        await drop(name)



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--customers", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--source", default=str(HERE.parent), help="the checkout to measure (default: this one)")
    parser.add_argument("--no-profile", dest="profile", action="store_false")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
