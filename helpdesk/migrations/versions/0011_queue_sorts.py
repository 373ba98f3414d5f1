"""indexes for the queue orders an agent chooses (`?sort=`)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01

Every order pages by keyset and walks an index in that order, so the first page and the last
cost the same on a million tickets (`helpdesk.tickets.queues.SORTS`):
- last activity, newest or oldest first: ix_tickets_open_updated (0006), ix_tickets_solved_updated
  (ix_tickets_status_updated lacks the id the keyset needs, so PostgreSQL walked all of
  ix_tickets_updated's open tickets first: 29 ms for the solved queue's first page);
- newest created: ix_tickets_open_created, ix_tickets_solved_created;
- priority (urgent first, then last activity): ix_tickets_open_priority, on the rank expression;
- SLA due soonest: ix_tickets_open_due on the nearest running due time (0006's expression), the
  tickets without one following by last activity.
Partial indexes: over the open tickets (small, the queues agents work), and over the solved
ones for the three orders the solved queue offers (`queues.sorts_for`).

Expression indexes serve only queries that spell the same expression: PRIORITY_RANK must stay
what `queues.priority_rank()` renders and NEXT_DUE what `queues.next_due()` renders (tests check
the plans). Plain `op.create_index`: on SQLite a batch would recreate `tickets` and lose the
search triggers.
"""
import importlib.util
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def _from_0006(name: str):
    """A constant of migration 0006 (file names starting with a digit cannot be imported by name)."""
    path = Path(__file__).with_name("0006_queue_order_indexes.py")
    spec = importlib.util.spec_from_file_location("helpdesk_migration_0006", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


NEXT_DUE = _from_0006("NEXT_DUE")  # the nearest due time, as ix_tickets_next_due indexes it
PRIORITY_RANK = "CASE priority WHEN 'urgent' THEN 3 WHEN 'high' THEN 2 WHEN 'normal' THEN 1 ELSE 0 END"
OPEN = "status IN ('new', 'open', 'pending', 'on_hold') AND merged_into_id IS NULL"
INDEXES = {
    "ix_tickets_open_created": (["created_at", "id"], OPEN),
    "ix_tickets_open_priority": ([sa.text(f"({PRIORITY_RANK})"), "updated_at", "id"], OPEN),
    "ix_tickets_open_due": ([sa.text(f"({NEXT_DUE})"), "id"], OPEN + " AND sla_paused_at IS NULL"),
    "ix_tickets_solved_updated": (["updated_at", "id"], "status = 'solved'"),
    "ix_tickets_solved_created": (["created_at", "id"], "status = 'solved'"),
}


# PostgreSQL estimates "unassigned" (assignee_id IS NULL) among open tickets as if the two were
# independent: 790 rows where there are 15,000 on the 1M-ticket bench. From page 40 on it then
# preferred a bitmap scan of ix_tickets_assignee_id plus a sort (21-38 ms) to walking the sort's
# index (0.2 ms). Statistics over the pair tell it that unassigned tickets are the open ones.
STATUS_ASSIGNEE = "st_tickets_status_assignee"


def upgrade() -> None:
    for name, (columns, where) in INDEXES.items():
        op.create_index(name, "tickets", columns, postgresql_where=sa.text(where), sqlite_where=sa.text(where))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE STATISTICS IF NOT EXISTS {STATUS_ASSIGNEE} (mcv) ON status, assignee_id FROM tickets")
        op.execute("ANALYZE tickets")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP STATISTICS IF EXISTS {STATUS_ASSIGNEE}")
    for name in reversed(INDEXES):
        op.drop_index(name, table_name="tickets")
