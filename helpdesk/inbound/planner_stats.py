"""Planner statistics that keep up while a PostgreSQL database grows fast.

A new helpdesk's first mailbox backlog or import grows `messages` and `tickets` from nothing to
tens of thousands of rows in a minute, before autovacuum (one round a minute) analyzes them.
Until then PostgreSQL plans ingest's lookups for near-empty tables and keeps those plans for
its prepared statements: timed on a 10,000-mail IMAP import, the reply-threading lookup took
1.6-2.2 ms instead of 0.4 ms, and the import ran at 375-440 instead of ~500 messages/s.
So ingest runs ANALYZE itself whenever this process has ingested as many messages as the table
held at the last ANALYZE (and at least MIN_GROWTH): a few times while a table is young, never
once it is large, where autovacuum's schedule is enough.
"""
from __future__ import annotations

from sqlalchemy import text

MIN_GROWTH = 1000
_TABLES = "messages, tickets, customers, customer_identities"
_MESSAGES_ESTIMATE = text("SELECT greatest(reltuples, 0) FROM pg_class WHERE oid = 'messages'::regclass")


class _Growth:
    __slots__ = ("rows_at_analyze", "since")

    def __init__(self, rows: float) -> None:
        self.rows_at_analyze = rows
        self.since = 0


_growth: dict[str, _Growth] = {}  # per database, in this process


def note_ingested(conn, count: int) -> None:
    """On a sync Core connection, inside ingest's transaction: count `count` new messages and
    ANALYZE the ingest tables when they have doubled since the last time (PostgreSQL only)."""
    if conn.dialect.name != "postgresql" or count <= 0:
        return
    key = conn.engine.url.render_as_string(hide_password=True)
    growth = _growth.get(key)
    if growth is None:
        growth = _growth[key] = _Growth(float(conn.execute(_MESSAGES_ESTIMATE).scalar() or 0))
    growth.since += count
    if growth.since >= max(MIN_GROWTH, growth.rows_at_analyze):
        conn.exec_driver_sql(f"ANALYZE {_TABLES}")
        growth.rows_at_analyze += growth.since
        growth.since = 0
