"""indexes for the "breaching soon" and "all open" queues


Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23

The queue orders by the nearest of three due times (`helpdesk.tickets.queues.next_due`). Without an
index on that expression every page sorted all active tickets with a due time (76 ms on 1M
tickets); with it the first page is an index walk. Both databases use an expression index only
when the query spells the same expression, so this text must stay equal to what `next_due()`
renders (a test checks that the query plan uses it).

"All open" and its capped count get a partial index in list order: without it PostgreSQL chose
a sequential scan with LIMIT, whose cost depends on where in the heap the open tickets lie
(0.9 to 260 ms on the same data, as synchronised scans start mid-table).
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

NEXT_DUE = (
    "CASE WHEN (first_response_due_at IS NOT NULL"
    " AND first_response_due_at <= coalesce(next_response_due_at, first_response_due_at)"
    " AND first_response_due_at <= coalesce(resolution_due_at, first_response_due_at))"
    " THEN first_response_due_at"
    " WHEN (next_response_due_at IS NOT NULL AND next_response_due_at <= coalesce(resolution_due_at, next_response_due_at))"
    " THEN next_response_due_at ELSE resolution_due_at END"
)
OPEN = sa.text("status IN ('new', 'open', 'pending', 'on_hold') AND merged_into_id IS NULL")
RUNNING = sa.text("status IN ('new', 'open') AND sla_paused_at IS NULL AND merged_into_id IS NULL")


def upgrade() -> None:
    # plain create_index (no batch mode): a table rebuild would drop the search triggers on SQLite
    op.create_index("ix_tickets_next_due", "tickets", [sa.text(f"({NEXT_DUE})"), "id"],
                    postgresql_where=RUNNING, sqlite_where=RUNNING)
    op.create_index("ix_tickets_open_updated", "tickets", ["updated_at", "id"],
                    postgresql_where=OPEN, sqlite_where=OPEN)


def downgrade() -> None:
    op.drop_index("ix_tickets_open_updated", table_name="tickets")
    op.drop_index("ix_tickets_next_due", table_name="tickets")
