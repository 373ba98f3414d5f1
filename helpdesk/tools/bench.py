"""The ingest benchmark: synthetic messages through `ingest`, on a fresh SQLite file or PostgreSQL database.

Each database runs in its own child process (`python -m helpdesk.tools.bench`), so its peak RSS is its
own and one run's caches cannot flatter the next. The child samples its resident memory (with any
children) while it works and reports JSON on stdout.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psutil

from helpdesk.channel import Attachment, Identity, InboundMessage, ThreadKeys

ATTACHMENT_BYTES = 50 * 1024
NEW_SHARE = 0.7  # the rest are replies threading by In-Reply-To
ATTACHMENT_EVERY = 10


@dataclass(frozen=True)
class BenchResult:
    database: str
    messages: int
    seconds: float
    messages_per_second: float
    peak_rss_mb: float
    concurrency: int
    batch: int
    tickets: int
    customers: int


def synthetic_messages(n: int, *, customers: int, concurrency: int = 1, seed: int = 7) -> Iterator[InboundMessage]:
    """70% new conversations, 30% replies by In-Reply-To, 1 in 10 with a 50 KB attachment.

    A reply answers a message at least `2 * concurrency` places earlier, so with several
    workers the message it threads to has been committed, as it would be in real life.
    """
    rng = random.Random(seed)
    run = uuid.uuid4().hex[:8]
    sent: list[str] = []
    start = datetime.now(timezone.utc) - timedelta(days=1)
    lag = 2 * concurrency
    for i in range(n):
        who = rng.randrange(customers)
        external_id = f"<bench-{run}-{i}@mail.example>"
        reply_to = sent[rng.randrange(len(sent) - lag)] if len(sent) > lag and rng.random() >= NEW_SHARE else None
        attachments = []
        if i % ATTACHMENT_EVERY == 0:
            # distinct bytes per file: content-addressed storage must really write each one
            block = rng.randbytes(64) * (ATTACHMENT_BYTES // 64)
            attachments.append(Attachment(f"invoice-{i}.pdf", "application/pdf", block))
        sent.append(external_id)
        yield InboundMessage(
            channel="email",
            external_id=external_id,
            sender=Identity("email", f"Customer{who}@Shop-{who % 97}.example", f"Customer {who}"),
            subject=f"Re: Order {1000 + i}" if reply_to else f"Question about order {1000 + i}",
            text=f"Hello,\n\nmessage {i}: where is my order {1000 + i}? " + "Some details. " * 40,
            html=None,
            attachments=attachments,
            thread_keys=ThreadKeys(in_reply_to=reply_to, references=(reply_to,) if reply_to else ()),
            received_at=start + timedelta(seconds=i),
            account="support@shop.example",
        )


class PeakMemory:
    """Samples this process's RSS plus its children's; also trusts the kernel's ru_maxrss."""

    def __init__(self, interval: float = 0.25) -> None:
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        me = psutil.Process()
        total = me.memory_info().rss
        for child in me.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        self.peak = max(self.peak, total)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> "PeakMemory":
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        kernel = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                  + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) * 1024  # Linux: KiB
        self.peak = max(self.peak, kernel)


async def _seed_sla_policy(sessions) -> None:
    """One office-hours policy, so every new ticket pays for its due-time computation."""
    from helpdesk.models import BusinessCalendar, SlaPolicy

    async with sessions() as session:
        calendar = BusinessCalendar(name="Office hours", timezone="Europe/Berlin",
                                    weekly_hours={d: [["08:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
                                    holidays=["2026-12-25"])
        session.add(calendar)
        await session.flush()
        session.add(SlaPolicy(name="Standard", calendar_id=calendar.id, first_response_minutes=240,
                              next_response_minutes=480, resolution_minutes=1800))
        await session.commit()


async def run_ingest(settings, *, n: int, customers: int, concurrency: int, batch: int = 1,
                     progress=None) -> tuple[float, int, int]:
    """Migrate, seed, then push `n` messages through `ingest` (or `ingest_many`, `batch` at a time)
    with `concurrency` sessions. Returns (seconds, tickets, customers)."""
    from sqlalchemy import func, select

    from helpdesk.db import make_engine, make_session_factory
    from helpdesk.inbound.ingest import ingest, ingest_many
    from helpdesk.migrate import upgrade
    from helpdesk.models import Customer, Ticket
    from helpdesk.sla.policies import forget_cached_policies

    engine = make_engine(settings)
    try:
        await upgrade(engine)
        sessions = make_session_factory(engine)
        await _seed_sla_policy(sessions)
        forget_cached_policies()
        messages = synthetic_messages(n, customers=customers, concurrency=concurrency * batch)
        done = 0

        def next_batch() -> list:
            return [message for _, message in zip(range(batch), messages)]

        async def worker() -> None:
            nonlocal done
            async with sessions() as session:
                # one shared generator: each message goes to one worker
                while chunk := next_batch():
                    if batch == 1:
                        await ingest(session, chunk[0], settings=settings)
                    else:
                        failed = [r for r in await ingest_many(session, chunk, settings=settings)
                                  if isinstance(r, Exception)]
                        if failed:
                            raise failed[0]
                    session.expunge_all()  # a long-lived worker session must not grow with the run
                    before, done = done, done + len(chunk)
                    if progress and done // 500 != before // 500:
                        progress(done)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
        async with sessions() as session:
            tickets = await session.scalar(select(func.count()).select_from(Ticket))
            people = await session.scalar(select(func.count()).select_from(Customer))
        return seconds, tickets, people
    finally:
        forget_cached_policies()  # the cached rules name rows of this database only
        await engine.dispose()


async def create_pg_database(admin_url: str, name: str) -> str:
    """A new, empty database `name` on the server of `admin_url` (dropped first if it exists); its URL."""
    import asyncpg

    conn = await asyncpg.connect(admin_url.replace("postgresql://", "postgres://", 1))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return admin_url.rsplit("/", 1)[0] + "/" + name


async def drop_pg_database(admin_url: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url.replace("postgresql://", "postgres://", 1))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def bench_one(database: str, *, n: int, customers: int, concurrency: int, pg_url: str, batch: int = 1) -> BenchResult:
    """Run in this process against a fresh database, removed afterwards."""
    from helpdesk.settings import Settings

    workdir = Path(tempfile.mkdtemp(prefix=f"helpdesk-bench-{database}-"))
    pg_name = f"helpdesk_bench_{os.getpid()}"
    try:
        if database == "sqlite":
            url = f"sqlite:///{workdir / 'helpdesk.sqlite3'}"
        else:
            url = asyncio.run(create_pg_database(pg_url, pg_name))
        settings = Settings(data_dir=workdir / "data", database_url=url, secret_key="bench")

        def progress(done: int) -> None:
            print(f"  {database}: {done}/{n}", file=sys.stderr, flush=True)

        with PeakMemory() as memory:
            seconds, tickets, people = asyncio.run(
                run_ingest(settings, n=n, customers=customers, concurrency=concurrency, batch=batch, progress=progress)
            )
        return BenchResult(database, n, round(seconds, 2), round(n / seconds, 1), round(memory.peak / 2**20, 1),
                           concurrency, batch, tickets, people)
    finally:
        if database == "postgres":
            asyncio.run(drop_pg_database(pg_url, pg_name))
        shutil.rmtree(workdir, ignore_errors=True)


def bench_in_child(database: str, *, n: int, customers: int, concurrency: int, pg_url: str, batch: int = 1) -> BenchResult:
    """Run `bench_one` in a fresh interpreter so each database's peak RSS is measured alone."""
    command = [sys.executable, "-m", "helpdesk.tools.bench", database, "--n", str(n), "--customers", str(customers),
               "--concurrency", str(concurrency), "--batch", str(batch), "--pg-url", pg_url]
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the {database} benchmark failed (exit status {done.returncode}); see the output above")
    return BenchResult(**json.loads(done.stdout.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("database", choices=["sqlite", "postgres"])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--customers", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args(argv)
    result = bench_one(args.database, n=args.n, customers=args.customers, concurrency=args.concurrency,
                       pg_url=args.pg_url, batch=args.batch)
    print(json.dumps(asdict(result)))


if __name__ == "__main__":
    main()
