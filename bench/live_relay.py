"""Benchmark: the local relay (helpdesk/live_relay.py) on the embedded default, SQLite and no Redis.

Starts `helpdesk serve` on a fresh data folder, signs an agent in over HTTP and opens a ticket's
event stream (/console/live/tickets/N), as a console does. This process then publishes as every
CLI command does (`live.transport_for(settings)`, the relay) and times:
- the relay alone: from the publish to the datagram read by a process that does nothing else;
- latency: from the publish to the event read on the SSE stream, one event at a time (presence
  events, each naming its number, so each read is matched to its publish). The stream waits
  COALESCE_SECONDS after an event's arrival to batch a burst; the figure without it is printed too;
- cost of a publish in the publishing process: the same calls; bursts sent back to back to 0, 1 and
  2 web processes; and inside an import of --mails mails (bench.imap's corpus, `import_files` as
  `helpdesk import mail` runs it, two events per message) with one web process listening.

    .venv/bin/python -m bench.live_relay [--events 200] [--burst 20000] [--mails 2000]
"""
from __future__ import annotations

import argparse
import logging
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from helpdesk import live
from helpdesk.web.console.live import COALESCE_SECONDS
from tests.support.installation import Installation, signed_in


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def describe(values_ms: list[float]) -> str:
    return (f"p50 {percentile(values_ms, 0.5):7.3f} ms  p95 {percentile(values_ms, 0.95):7.3f} ms  "
            f"max {max(values_ms):7.3f} ms  (n={len(values_ms)})")


class CountWarnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


def latency(installation: Installation, url: str, events: int) -> tuple[list[float], list[float]]:
    """(publish -> SSE read, cost of the publish call), in ms, one event at a time."""
    stream = installation.stream(signed_in(url, "bea@shop.test"), "/console/live/tickets/1")
    publish = live.transport_for(installation.settings)
    latencies, costs = [], []
    try:
        for n in range(events + 10):  # the first 10 warm up
            name = f"Publisher {n}"
            started = time.monotonic()
            publish("ticket:1", {"event": "presence", "agent_id": 999, "name": name, "state": "viewing"})
            sent = time.monotonic()
            while True:
                html, read_at = stream.next("presence", timeout=10)
                if f"{name} is viewing" in html:
                    break
            if n >= 10:
                latencies.append((read_at - started) * 1000)
                costs.append((sent - started) * 1000)
            time.sleep(random.uniform(0.02, 0.06))
    finally:
        stream.close()
    return latencies, costs


READER = """
import socket, sys, time
reader = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
reader.bind(sys.argv[1])
print("ready", flush=True)
while True:
    reader.recv(65536)
    print(time.monotonic(), flush=True)
"""


def hop(installation: Installation, events: int) -> list[float]:
    """Publish -> datagram read by a process that only reads its socket (no web app), in ms: the
    relay's own share of the latency. CLOCK_MONOTONIC is the same clock in every process."""
    from helpdesk.live_relay import LiveDirectory

    folder = LiveDirectory(installation.settings.live_dir)
    folder.create()
    reader = subprocess.Popen([sys.executable, "-c", READER, folder.address("1-reader.sock")],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout.readline().strip() == "ready"
        publish, took = live.transport_for(installation.settings), []
        for n in range(events + 10):
            started = time.monotonic()
            publish("ticket:1", {"event": "presence", "agent_id": 999, "name": f"Publisher {n}", "state": "viewing"})
            read_at = float(reader.stdout.readline())
            if n >= 10:
                took.append((read_at - started) * 1000)
            time.sleep(random.uniform(0.02, 0.06))
        return took
    finally:
        reader.kill()
        reader.wait()
        (folder.path / "1-reader.sock").unlink()


def burst(installation: Installation, count: int) -> tuple[float, int]:
    """Microseconds per event for `count` events sent back to back, and events dropped (each drop
    of a run is one warning: a web process that stays behind)."""
    publish = live.transport_for(installation.settings)
    warnings = CountWarnings()
    logging.getLogger("helpdesk.live_relay").addHandler(warnings)
    try:
        started = time.perf_counter()
        for n in range(count):
            publish("queue:all", {"event": "ticket.created", "ticket_id": n})
        elapsed = time.perf_counter() - started
    finally:
        logging.getLogger("helpdesk.live_relay").removeHandler(warnings)
    return elapsed / count * 1e6, warnings.count


def import_share(installation: Installation, mails: int) -> str:
    """An import as `helpdesk import mail` runs it, with the relay's calls timed."""
    import asyncio
    import mailbox

    from helpdesk.cli import with_database  # first: it loads the command modules, channels' among them
    from bench.imap import corpus
    from channels.email.commands import import_files
    from channels.registry import install_adapters

    path = installation.folder / "bench.mbox"
    box = mailbox.mbox(path)
    for raw in corpus(mails, customers=max(1, mails // 4))[0]:
        box.add(raw)
    box.flush()
    relay, spent = live.transport_for(installation.settings), []

    class Timed:
        def __call__(self, channel: str, event: dict) -> None:
            self.publish_many([(channel, event)])

        def publish_many(self, events: list) -> None:
            started = time.perf_counter()
            relay.publish_many(events)
            spent.append((time.perf_counter() - started, len(events)))

    replaced = live.set_transport(Timed())
    install_adapters(installation.settings)
    started = time.perf_counter()
    try:
        asyncio.run(with_database(installation.settings,
                                  lambda sessions: import_files(sessions, [path], settings=installation.settings)))
    finally:
        live.set_transport(replaced)
    total = time.perf_counter() - started
    seconds, events = sum(took for took, _ in spent), sum(count for _, count in spent)
    return (f"{mails} mails in {total:.2f} s ({mails / total:.0f} msg/s); {events} events in {len(spent)} "
            f"publishes took {seconds * 1000:.1f} ms: {seconds / events * 1e6:.1f} µs/event, "
            f"{seconds / total * 100:.2f} % of the import")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--burst", type=int, default=20000)
    parser.add_argument("--mails", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-relay-") as folder:
        installation = Installation(Path(folder))
        installation.seed_agents()
        try:
            alone = describe(hop(installation, args.events))
            print(f"publish -> read by a process that only reads its socket: {alone}")
            print(f"bursts of {args.burst} events sent back to back by this process, to")
            for processes in (0, 1, 2):
                if processes:
                    url, _ = installation.serve()
                per_event, warned = burst(installation, args.burst)
                print(f"  {processes} web processes: {per_event:6.1f} µs/event "
                      f"({warned} warnings of a web process falling behind)")
            installation.stop()
            installation.servers.clear()
            url, _ = installation.serve()
            latencies, costs = latency(installation, url, args.events)
            coalesce_ms = COALESCE_SECONDS * 1000
            print("publish -> read on the SSE stream, 1 web process, one event at a time:")
            print(f"  as the console sees it:            {describe(latencies)}")
            less = [value - coalesce_ms for value in latencies]
            print(f"  less the stream's {coalesce_ms:.0f} ms batching:   {describe(less)}")
            print(f"  cost of the publish call:          {describe(costs)}")
            print(f"import, 1 web process listening: {import_share(installation, args.mails)}")
        finally:
            installation.stop()


if __name__ == "__main__":
    sys.exit(main())
