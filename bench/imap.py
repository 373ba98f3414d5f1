"""Benchmark: IMAP -> tickets on PostgreSQL, end to end through the real poller.

APPENDs N realistic messages (500 customers, 30% replies, some attachments, non-ASCII
subjects) into a Dovecot it starts itself, creates a fresh PostgreSQL database, then times
one `MailboxReader.poll()` reading them all. Prints messages/s, peak RSS and how many
replies landed in their conversation's ticket.

    .venv/bin/python -m bench.imap [--n 10000] [--customers 500] [--profile out.prof]
"""
from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import random
import resource
import threading
import time
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime

import psutil
from imapclient import IMAPClient
from sqlalchemy import select

from channels.email.imap import MailboxReader
from helpdesk.db import make_engine, make_session_factory
from helpdesk.migrate import upgrade
from helpdesk.models import Mailbox, Message
from helpdesk.tools.bench import create_pg_database, drop_pg_database
from helpdesk.settings import Settings
from tests.support.dovecot import start_dovecot

PG = os.environ.get("HELPDESK_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
SUPPORT = "support@shop.test"
SUBJECTS = [
    "Where is my order #{n}?", "Rücksendung für Bestellung {n}", "Problème de livraison {n}",
    "注文 {n} がまだ届きません", "Заказ {n} не пришёл", "Refund for order {n}", "Größe ändern – Bestellung {n}",
    "Invoice needed for {n}", "Damaged item in parcel {n} 📦", "¿Dónde está mi pedido {n}?",
]
FIRST = ["Ann", "Bob", "Chloé", "Dmitri", "Eva", "Fatima", "Günther", "Hana", "Ivan", "José", "Kenji", "Lea"]
LAST = ["Example", "Müller", "Dubois", "Иванов", "Tanaka", "García", "Smith", "Nowak", "Rossi", "Öztürk"]
BODY = ("Hello,\n\nI ordered {item} on {day} and it still has not arrived. The tracking page says nothing "
        "since Tuesday. Could you please check what happened and tell me when I can expect it?\n\n"
        "Thanks a lot,\n{name}\n")


def corpus(n: int, customers: int, seed: int = 7) -> tuple[list[bytes], dict[str, str]]:
    """The messages, oldest first, and for each reply the Message-ID of its conversation's first mail."""
    rng = random.Random(seed)
    people = [(f"{rng.choice(FIRST)} {rng.choice(LAST)}", f"customer{i}@example{i % 37}.com") for i in range(customers)]
    threads: list[tuple[int, str, list[str]]] = []  # (customer, subject, message ids)
    reply_root: dict[str, str] = {}
    start = datetime(2026, 1, 5, 8, tzinfo=timezone.utc)
    pdf = bytes(rng.getrandbits(8) for _ in range(50_000))
    raws = []
    for i in range(n):
        message = EmailMessage()
        is_reply = bool(threads) and rng.random() < 0.30
        if is_reply:
            who, subject, ids = rng.choice(threads[-2000:])
            message["Subject"] = "Re: " + subject
            message["In-Reply-To"] = ids[-1]
            message["References"] = " ".join(ids[-10:])
        else:
            who = rng.randrange(customers)
            subject = rng.choice(SUBJECTS).format(n=100000 + i)
            ids = []
            threads.append((who, subject, ids))
            message["Subject"] = subject
        name, address = people[who]
        message_id = f"<bench-{i}@example.com>"
        if is_reply:
            reply_root[message_id] = ids[0]
        ids.append(message_id)
        message["From"] = f"{name} <{address}>"
        message["To"] = f"Shop Support <{SUPPORT}>"
        message["Message-ID"] = message_id
        message["Date"] = format_datetime(start + timedelta(minutes=3 * i))
        message.set_content(BODY.format(item=rng.choice(["a lamp", "zwei Stühle", "un vélo", "本"]),
                                        day=rng.choice(["Monday", "3 May", "le 4 mai"]), name=name.split()[0]))
        if i % 10 == 0:  # one in ten carries a 50 KB attachment
            message.add_attachment(pdf, maintype="application", subtype="pdf", filename=f"invoice-{i}.pdf")
        raws.append(message.as_bytes())
    return raws, reply_root


def append_all(port: int, password: str, raws: list[bytes]) -> float:
    started = time.perf_counter()
    client = IMAPClient("127.0.0.1", port=port, ssl=False)
    client.login(SUPPORT, password)
    for i in range(0, len(raws), 200):
        client.multiappend("INBOX", raws[i:i + 200])
    client.logout()
    return time.perf_counter() - started


class PeakRss:
    """Samples this process's RSS every 100 ms; ru_maxrss gives the exact peak at the end."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._process = psutil.Process()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.1):
            self.peak = max(self.peak, self._process.memory_info().rss)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


async def fresh_database(name: str) -> str:
    return await create_pg_database(f"{PG}/postgres", name)


async def run(args) -> None:
    print(f"generating {args.n} messages for {args.customers} customers ...", flush=True)
    raws, reply_root = corpus(args.n, args.customers)
    size = sum(map(len, raws))
    server = start_dovecot(SUPPORT, "bench-secret")
    try:
        seconds = append_all(server.port, "bench-secret", raws)
        print(f"APPENDed {len(raws)} messages ({size / 1e6:.1f} MB) in {seconds:.1f} s", flush=True)
        del raws

        url = await fresh_database(f"helpdesk_bench_{os.getpid()}")
        data_dir = __import__("pathlib").Path(f"/tmp/helpdesk-bench-{os.getpid()}")
        settings = Settings(data_dir=data_dir, database_url=url, secret_key="bench", mail_domain="bench.test")
        engine = make_engine(settings, **({"connect_args": {"server_settings": {"synchronous_commit": "off"}}}
                                          if os.environ.get("BENCH_ASYNC_COMMIT") else {}))
        await upgrade(engine)
        sessions = make_session_factory(engine)
        async with sessions() as session:
            mailbox = Mailbox(address=SUPPORT, imap_host="127.0.0.1", imap_port=server.port, imap_security="none",
                              imap_user=SUPPORT, imap_password="bench-secret")
            session.add(mailbox)
            await session.commit()

        reader = MailboxReader(sessions, mailbox.id, settings=settings)
        profiler = cProfile.Profile() if args.profile else None
        with PeakRss() as rss:
            started = time.perf_counter()
            if profiler:
                profiler.enable()
            report = await reader.poll()
            if profiler:
                profiler.disable()
            elapsed = time.perf_counter() - started
        await reader.close()
        if profiler:
            profiler.dump_stats(args.profile)

        async with sessions() as session:
            tickets = dict((await session.execute(select(Message.external_id, Message.ticket_id))).all())
        threaded = sum(1 for reply, root in reply_root.items() if tickets.get(reply) == tickets.get(root))
        peak = max(rss.peak, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
        print(f"ingested {report.ingested} (duplicates {report.duplicates}, quarantined {report.quarantined}, "
              f"tickets {report.tickets_created}) in {elapsed:.1f} s")
        print(f"throughput: {report.ingested / elapsed:.0f} messages/s from IMAP into PostgreSQL")
        print(f"peak RSS: {peak / 2**20:.0f} MB")
        print(f"replies threaded into their ticket: {threaded} of {len(reply_root)}")
        await engine.dispose()
        await drop_pg_database(f"{PG}/postgres", url.rsplit("/", 1)[1])
        __import__("shutil").rmtree(data_dir, ignore_errors=True)
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--customers", type=int, default=500)
    parser.add_argument("--profile", help="write a cProfile of the ingest to this file")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
