"""A large benchmark dataset on PostgreSQL, loaded with COPY.

Rows are generated in Python from a small vocabulary (Zipf-weighted, so search sees common
and rare words) and streamed with asyncpg's binary COPY while PostgreSQL ingests them on the
other core. Secondary indexes, unique and foreign-key constraints and the search triggers are
off during the load and rebuilt once afterwards, which is several times faster than
maintaining them row by row. The search index is then refreshed and everything ANALYZEd.
"""
from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import asyncpg

from helpdesk.staff.passwords import hash_password

BENCH_PASSWORD = "bench-password"
BENCH_AGENT = "agent01@bench.test"
LOADED_TABLES = ("customers", "customer_identities", "orders", "order_items", "tickets", "messages", "ticket_search")
TRIGGER_TABLES = ("tickets", "messages", "customers", "customer_identities")

FIRST_NAMES = """Ann Bob Cara Dan Eve Finn Gina Hugo Ida Jon Kira Liam Mia Noah Olga Paul Quinn Rosa Sam Tara Uma
Vik Wen Xena Yuri Zoe Aiko Bruno Chloe Diego Elif Farid Greta Hamza Ines Jonas Karim Lena Marta Nils Omar Pia
Rafael Sofia Timo Ulla Vera Wim Yara Zeynep Anders Bea Carlos Dana Emil Fatima Georg Hana Ivan Julia Kofi Lars
Maya Nora Oskar Priya Rui Sanne Tomas Ute Valentin Willa Yusuf Zara Aaliyah Ben Clara David Emma Felix Hannah
Isaac Jana Kai Lucia Max Nina Otto Petra Ravi Selma Theo Vanessa Walter Ximena Yann Zeno""".split()
LAST_NAMES = """Smith Müller Garcia Rossi Novak Kowalski Jensen Dubois Silva Ivanova Nguyen Tanaka Kim Okafor Hansen
Schmidt Martin Bernard Fischer Weber Meyer Wagner Becker Schulz Hoffmann Koch Richter Klein Wolf Schröder Neumann
Schwarz Zimmermann Braun Krüger Hofmann Hartmann Lange Schmitt Werner Krause Meier Lehmann Schmid Schulze Maier
Köhler Herrmann König Walter Mayer Huber Kaiser Fuchs Peters Lang Scholz Möller Weiß Jung Hahn Schubert Vogel
Friedrich Keller Günther Frank Berger Winkler Roth Beck Lorenz Baumann Franke Albrecht Schuster Simon Ludwig Böhm
Winter Kraus Martinez Schumacher Krämer Vogt Stein Jäger Otto Sommer Groß Seidel Heinrich Brandt Haas Schreiber
Graf Schulte Dietrich Ziegler Kuhn Kühn Pohl Engel Horn Busch Bergmann Thomas Voigt Sauer Arnold Wolff Pfeiffer""".split()
DOMAINS = "example.com example.org mail.test shop.test post.example inbox.test fastmail.test web.example".split()
PRODUCTS = """blender kettle toaster espresso grinder mixer juicer airfryer microwave fridge freezer dishwasher washer
dryer vacuum robot iron heater fan purifier humidifier lamp speaker headphones earbuds charger cable adapter
router modem camera doorbell thermostat watch tracker phone tablet laptop monitor keyboard mouse printer
scanner drone scooter bicycle helmet backpack jacket sneakers boots sofa mattress pillow blanket curtain rug
shelf desk chair table wardrobe cooktop oven grill smoker cooler tent lantern stroller crib""".split()
ISSUE_WORDS = """broken damaged missing late refund return exchange warranty invoice payment charged twice
cancel cancellation delivery tracking parcel package courier address wrong size colour color defective noise
leaking cracked scratched battery firmware update error code reset pairing bluetooth wifi app login password
account subscription discount voucher coupon price shipping customs duty replacement repair manual
instructions assembly screws stuck overheating smell sparks dead display screen button remote""".split()
COMMON_WORDS = """the a to and of i my is it in for you that this on with have not was be are we your at but
can please order from as so if me just do when no get has will would could there an they any or been
what all about our still help thanks hello hi know back did one need its time want like up how out
today now again week days yesterday since after already received sent email support team us last new
number soon waiting asked answer reply check see look tell let give take make said also very really
which other than then only because into over some more should here their them these those who why where
much many same got came went before first next never always ever every well good bad great sorry""".split()
# Zipf-like: common words dominate, domain words are the informative tail.
VOCABULARY = COMMON_WORDS + ISSUE_WORDS + PRODUCTS
_WEIGHTS = [1.0 / (rank + 1) ** 0.9 for rank in range(len(VOCABULARY))]
CHANNELS = ["email"] * 55 + ["chat"] * 20 + ["whatsapp"] * 10 + ["messenger"] * 8 + ["instagram"] * 4 + ["telegram"] * 3
PRIORITIES = ["low"] * 15 + ["normal"] * 60 + ["high"] * 20 + ["urgent"] * 5
OPEN_STATUSES = ["new"] * 25 + ["open"] * 45 + ["pending"] * 20 + ["on_hold"] * 10


@dataclass
class SeedReport:
    counts: dict[str, int] = field(default_factory=dict)
    phases: dict[str, float] = field(default_factory=dict)
    elapsed: float = 0.0

    @property
    def rows(self) -> int:
        return sum(self.counts.values())


class SeedError(RuntimeError):
    """The target database cannot take the dataset; the message says why."""


def plain_dsn(url: str) -> str:
    """asyncpg wants postgresql://; accept the SQLAlchemy spellings too."""
    for prefix in ("postgresql+asyncpg://", "postgresql+psycopg://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix):]
    if not url.startswith("postgresql://"):
        raise SeedError(f"seed large needs PostgreSQL, not {url.split(':', 1)[0]}")
    return url


async def ensure_database(url: str) -> None:
    """Create the target database when it does not exist yet (through the `postgres` database)."""
    dsn = plain_dsn(url)
    base, name = dsn.rsplit("/", 1)
    name = name.split("?", 1)[0]
    admin = await asyncpg.connect(base + "/postgres")
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


class _Text:
    """Sentences from the vocabulary: a pool generated once, combined per message (fast)."""

    def __init__(self, rng: random.Random, pool: int = 60_000) -> None:
        self.rng = rng
        cum, total = [], 0.0
        for weight in _WEIGHTS:
            total += weight
            cum.append(total)
        choices = rng.choices
        self.sentences = []
        for _ in range(pool):
            words = choices(VOCABULARY, cum_weights=cum, k=rng.randint(5, 16))
            self.sentences.append(" ".join(words).capitalize() + rng.choice(".?!"))
        self.subjects = []
        for _ in range(pool // 3):
            words = [rng.choice(ISSUE_WORDS), rng.choice(PRODUCTS)] + choices(VOCABULARY, cum_weights=cum, k=rng.randint(0, 4))
            rng.shuffle(words)
            self.subjects.append(" ".join(words).capitalize())

    def message(self, first_name: str, order_number: str | None) -> str:
        rng = self.rng
        body = " ".join(rng.choices(self.sentences, k=rng.randint(1, 4)))
        if order_number:
            body += f" Order {order_number}."
        return f"Hi, {body} Thanks, {first_name}" if rng.random() < 0.5 else body


async def seed_large(url: str, *, tickets: int, customers: int, messages: int, orders: int, reset: bool = False,
                     seed: int = 1, progress: Callable[[str], None] = print) -> SeedReport:
    """Fill the (migrated, empty or --reset) database at `url`; returns row counts and timings."""
    if messages < tickets:
        raise SeedError("--messages must be at least --tickets: every ticket has a first message")
    if min(tickets, customers) < 1:
        raise SeedError("--tickets and --customers must be at least 1")
    report = SeedReport()
    started = time.perf_counter()
    dsn = plain_dsn(url)
    conn = await asyncpg.connect(dsn)
    try:
        if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM tickets)"):
            if not reset:
                raise SeedError("the database already has tickets; pass --reset to empty it first")
            tables = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                                      "AND tablename <> 'alembic_version'")
            names = ", ".join(f'"{row["tablename"]}"' for row in tables)
            await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
        await conn.execute("SET synchronous_commit = off")
        rng = random.Random(seed)
        now = datetime.now(timezone.utc).replace(microsecond=0)

        async def phase(name: str, work) -> None:
            t0 = time.perf_counter()
            result = await work
            report.phases[name] = time.perf_counter() - t0
            if isinstance(result, int):
                report.counts[name] = result
            progress(f"{name}: {report.phases[name]:.1f}s" + (f", {result:,} rows" if isinstance(result, int) else ""))

        agents = await _agents_and_teams(conn, now)
        deferred = await _defer_constraints(conn)
        text = _Text(rng)
        people = [(rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)) for _ in range(customers)]
        order_numbers = [f"SO-{100000 + i}" for i in range(orders)]
        await phase("customers", _copy(conn, "customers", ("id", "name", "created_at", "updated_at"),
                                       _customers(people, now, rng)))
        await phase("customer_identities", _copy(conn, "customer_identities",
                                                 ("customer_id", "kind", "value", "display_name", "verified",
                                                  "created_at"), _identities(people, now, rng)))
        await phase("orders", _copy(conn, "orders", ("id", "customer_id", "source", "external_id", "number", "status",
                                                     "currency", "total", "placed_at"),
                                    _orders(order_numbers, customers, now, rng)))
        await phase("order_items", _copy(conn, "order_items", ("order_id", "sku", "title", "quantity", "unit_price"),
                                         _order_items(orders, rng)))
        per_ticket = _messages_per_ticket(tickets, messages, rng)
        customer_of = [_skewed(customers, rng) for _ in range(tickets)]
        channel_of = rng.choices(CHANNELS, k=tickets)
        await phase("tickets", _copy(conn, "tickets", _TICKET_COLUMNS,
                                     _tickets(per_ticket, customer_of, channel_of, agents, text, now, rng)))
        await phase("messages", _copy(conn, "messages", _MESSAGE_COLUMNS,
                                      _messages(per_ticket, customer_of, channel_of, people, order_numbers, agents,
                                                text, now, rng)))
        load = sum(report.phases.values())
        report.phases["load"] = load
        await phase("indexes_and_constraints", _restore(dsn, deferred))
        await _reset_sequences(conn)
        await phase("search_index", _refresh_search(dsn, tickets))
        await phase("analyze", conn.execute("ANALYZE"))
        report.counts["ticket_search"] = tickets
    finally:
        await conn.close()
    report.elapsed = time.perf_counter() - started
    return report


async def _agents_and_teams(conn: asyncpg.Connection, now: datetime) -> list[int]:
    """Four teams and twenty agents sharing one password hash (argon2 is slow on purpose)."""
    password_hash = hash_password(BENCH_PASSWORD)
    team_ids = [await conn.fetchval("INSERT INTO teams (name) VALUES ($1) RETURNING id", name)
                for name in ("Orders", "Returns", "Technical", "Billing")]
    agent_ids = []
    for n in range(1, 21):
        role = "admin" if n == 1 else "lead" if n <= 4 else "agent"
        agent_ids.append(await conn.fetchval(
            "INSERT INTO agents (email, name, role, password_hash, team_id, active, created_at) "
            "VALUES ($1, $2, $3, $4, $5, true, $6) RETURNING id",
            f"agent{n:02d}@bench.test", f"{FIRST_NAMES[n]} Agent", role, password_hash, team_ids[n % 4], now))
    for i, team_id in enumerate(team_ids):
        await conn.execute("UPDATE teams SET lead_id = $1 WHERE id = $2", agent_ids[1 + i], team_id)
    calendar = await conn.fetchval(
        "INSERT INTO business_calendars (name, timezone, weekly_hours, holidays) VALUES ($1, 'UTC', $2, '[]') "
        "RETURNING id", "Bench hours",
        '{"mon": [["08:00", "18:00"]], "tue": [["08:00", "18:00"]], "wed": [["08:00", "18:00"]], '
        '"thu": [["08:00", "18:00"]], "fri": [["08:00", "18:00"]]}')
    await conn.execute(
        "INSERT INTO sla_policies (name, position, calendar_id, first_response_minutes, next_response_minutes, "
        "resolution_minutes, active) VALUES ('Standard', 0, $1, 240, 480, 4320, true)", calendar)
    return agent_ids


async def _copy(conn: asyncpg.Connection, table: str, columns: tuple[str, ...], records: Iterator[tuple]) -> int:
    result = await conn.copy_records_to_table(table, columns=list(columns), records=records)
    return int(result.split()[-1])


def _skewed(n: int, rng: random.Random) -> int:
    """1..n with a long tail: a few customers have hundreds of tickets and orders, most have few."""
    return 1 + int(n * rng.random() ** 1.5)


def _customers(people, now, rng) -> Iterator[tuple]:
    for i, (first, last) in enumerate(people, start=1):
        created = now - timedelta(days=rng.randint(30, 1500))
        yield i, f"{first} {last}", created, created


def _identities(people, now, rng) -> Iterator[tuple]:
    for i, (first, last) in enumerate(people, start=1):
        name = f"{first} {last}"
        yield i, "email", f"{first}.{last}{i}@{DOMAINS[i % len(DOMAINS)]}".lower(), name, True, now
        if rng.random() < 0.35:
            yield i, "whatsapp", f"+4915{i:09d}", name, True, now
        if rng.random() < 0.10:
            yield i, "messenger", f"{7_000_000_000 + i}", name, False, now


def _orders(order_numbers, customers, now, rng) -> Iterator[tuple]:
    statuses = ["delivered"] * 70 + ["shipped"] * 12 + ["paid"] * 8 + ["refunded"] * 6 + ["cancelled"] * 4
    for i, number in enumerate(order_numbers, start=1):
        total = Decimal(rng.randint(500, 90000)) / 100
        yield (i, _skewed(customers, rng), "seed", str(i), number, rng.choice(statuses), "EUR", total,
               now - timedelta(minutes=rng.randint(60, 1500 * 24 * 60)))


def _order_items(orders, rng) -> Iterator[tuple]:
    for order_id in range(1, orders + 1):
        for _ in range(rng.choice((1, 1, 2, 2, 3, 4))):
            product = rng.choice(PRODUCTS)
            yield (order_id, f"SKU-{product[:4].upper()}-{rng.randint(100, 999)}", f"{product.capitalize()} "
                   f"{rng.choice(('Pro', 'Mini', 'Max', 'Classic', 'Eco', 'Plus'))}", rng.randint(1, 3),
                   Decimal(rng.randint(300, 40000)) / 100)


def _messages_per_ticket(tickets: int, messages: int, rng: random.Random) -> list[int]:
    counts = [1] * tickets
    for i in rng.choices(range(tickets), k=messages - tickets):
        counts[i] += 1
    return counts


def _ticket_times(ticket_id: int, tickets: int, count: int, now: datetime) -> tuple[datetime, timedelta]:
    """Creation time (tickets spread over three years, in id order) and the gap between its `count`
    messages, narrowed for the newest tickets so that every conversation ends before `now` (the
    ticket's last activity, `updated_at`, is its last message)."""
    created = now - timedelta(minutes=(tickets - ticket_id) * (3 * 365 * 24 * 60) // tickets + 5)
    gap = timedelta(minutes=7 + (ticket_id * 7919) % 300)
    if count > 1:
        gap = min(gap, (now - timedelta(minutes=1) - created) / (count - 1))
    return created, gap


_TICKET_COLUMNS = ("id", "number", "subject", "status", "priority", "channel", "account", "customer_id",
                   "assignee_id", "team_id", "sla_policy_id", "first_response_due_at", "next_response_due_at",
                   "resolution_due_at", "first_responded_at", "last_inbound_at", "last_outbound_at",
                   "solved_at", "closed_at", "created_at", "updated_at")


def _tickets(per_ticket, customer_of, channel_of, agents, text, now, rng) -> Iterator[tuple]:
    tickets = len(per_ticket)
    recent = max(1, tickets // 20)  # the newest 5% are still open: the working queues
    for i in range(1, tickets + 1):
        count = per_ticket[i - 1]
        created, gap = _ticket_times(i, tickets, count, now)
        last = created + gap * (count - 1)
        inbound_last = created + gap * ((count - 1) // 2 * 2)
        outbound_last = created + gap * ((count - 2) // 2 * 2 + 1) if count > 1 else None
        is_open = i > tickets - recent
        status = rng.choice(OPEN_STATUSES) if is_open else ("solved" if rng.random() < 0.3 else "closed")
        assignee = rng.choice(agents) if (not is_open or rng.random() < 0.7) else None
        team = 1 + (i % 4)
        first_due = created + timedelta(hours=4)
        solved = last if status in ("solved", "closed") else None
        yield (i, i, rng.choice(text.subjects), status, rng.choice(PRIORITIES), channel_of[i - 1],
               "support@shop.test", customer_of[i - 1], assignee, team, 1,
               first_due if outbound_last is None else None,
               (inbound_last + timedelta(hours=8)) if is_open and status != "pending" else None,
               (created + timedelta(days=3)) if is_open else None,
               outbound_last if outbound_last else None, inbound_last, outbound_last,
               solved, solved if status == "closed" else None, created, last)


_MESSAGE_COLUMNS = ("id", "ticket_id", "direction", "channel", "external_id", "account", "sender_kind", "sender_value",
                    "sender_name", "agent_id", "subject", "text", "auto_generated", "delivery_status",
                    "delivery_attempts", "sent_at", "created_at", "updated_at")


def _messages(per_ticket, customer_of, channel_of, people, order_numbers, agents, text, now, rng) -> Iterator[tuple]:
    tickets = len(per_ticket)
    message_id = 0
    for i in range(1, tickets + 1):
        count = per_ticket[i - 1]
        created, gap = _ticket_times(i, tickets, count, now)
        customer = customer_of[i - 1]
        first, last = people[customer - 1]
        address = f"{first}.{last}{customer}@{DOMAINS[customer % len(DOMAINS)]}".lower()
        agent = agents[i % len(agents)]
        channel = channel_of[i - 1]
        kind, value = ("email", address) if channel in ("email", "chat") else (channel, f"{channel}-{customer}")
        order = order_numbers[rng.randrange(len(order_numbers))] if order_numbers and rng.random() < 0.3 else None
        for j in range(count):
            message_id += 1
            at = created + gap * j
            if j % 2 == 0:
                yield (message_id, i, "inbound", channel, f"seed-{message_id}", "support@shop.test",
                       kind, value, f"{first} {last}", None, None, text.message(first, order if j == 0 else None),
                       False, None, 0, None, at, at)
            else:
                note = j % 7 == 5
                yield (message_id, i, "note" if note else "outbound", channel, None if note else f"reply-{message_id}",
                       "support@shop.test", None, None, None, agent, None, text.message(FIRST_NAMES[agent % 20], None),
                       False, None if note else "sent", 0 if note else 1, None if note else at, at, at)


async def _defer_constraints(conn: asyncpg.Connection) -> list[str]:
    """Drop secondary indexes, unique and foreign keys of the loaded tables and disable the search
    triggers; returns the statements that put them back."""
    tables = list(LOADED_TABLES)
    restore: list[str] = []
    indexes = await conn.fetch("""
        SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS definition
        FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
        WHERE c.relname = ANY($1::text[]) AND NOT i.indisprimary
          AND i.indexrelid NOT IN (SELECT conindid FROM pg_constraint WHERE contype IN ('p', 'u', 'x'))
    """, tables)
    constraints = await conn.fetch("""
        SELECT con.conname, c.relname, con.contype::text AS contype, pg_get_constraintdef(con.oid) AS definition
        FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
        WHERE c.relname = ANY($1::text[]) AND con.contype IN ('u', 'f')
        ORDER BY con.contype DESC  -- unique ('u') before foreign keys ('f') when restoring
    """, tables)
    for row in constraints:
        await conn.execute(f'ALTER TABLE "{row["relname"]}" DROP CONSTRAINT "{row["conname"]}"')
    for row in indexes:
        await conn.execute(f"DROP INDEX {row['name']}")
        restore.append(row["definition"])
    restore.extend(f'ALTER TABLE "{row["relname"]}" ADD CONSTRAINT "{row["conname"]}" {row["definition"]}'
                   for row in constraints if row["contype"] == "u")
    restore.extend(f'ALTER TABLE "{row["relname"]}" ADD CONSTRAINT "{row["conname"]}" {row["definition"]}'
                   for row in constraints if row["contype"] == "f")
    for table in TRIGGER_TABLES:
        await conn.execute(f'ALTER TABLE "{table}" DISABLE TRIGGER USER')
        restore.append(f'ALTER TABLE "{table}" ENABLE TRIGGER USER')
    return restore


async def _restore(dsn: str, statements: list[str]) -> int:
    """Indexes and unique keys on two connections (one per core), then foreign keys and triggers."""
    builds = [s for s in statements if not (" FOREIGN KEY " in s or "TRIGGER" in s)]
    rest = [s for s in statements if s not in builds]

    async def worker(queue: list[str]) -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute("SET maintenance_work_mem = '512MB'")
            while queue:
                await conn.execute(queue.pop(0))
        finally:
            await conn.close()

    # Big tables first so the two workers finish together.
    builds.sort(key=lambda s: ("messages" not in s, "tickets" not in s))
    await asyncio.gather(worker(builds), worker(builds))
    await worker(rest)
    return None


async def _reset_sequences(conn: asyncpg.Connection) -> None:
    for table in LOADED_TABLES[:-1]:
        await conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                           f"coalesce((SELECT max(id) FROM \"{table}\"), 0) + 1, false)")


async def _refresh_search(dsn: str, tickets: int) -> None:
    """Rebuild every ticket's document with the migration's own function, in id ranges on two
    connections, with the GIN index dropped meanwhile and built once at the end."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("DROP INDEX IF EXISTS ix_ticket_search_document")
        await conn.execute("TRUNCATE ticket_search")
    finally:
        await conn.close()
    step = 20_000
    ranges = [(lo, min(lo + step - 1, tickets)) for lo in range(1, tickets + 1, step)]

    async def worker() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute("SET synchronous_commit = off")
            while ranges:
                lo, hi = ranges.pop(0)
                await conn.execute("SELECT helpdesk_refresh_ticket_search(ARRAY(SELECT generate_series($1::int, $2::int)))",
                                   lo, hi)
        finally:
            await conn.close()

    await asyncio.gather(worker(), worker())
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SET maintenance_work_mem = '1GB'")
        await conn.execute("CREATE INDEX ix_ticket_search_document ON ticket_search USING gin (document)")
    finally:
        await conn.close()
