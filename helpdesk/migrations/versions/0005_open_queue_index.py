"""partial index over open tickets for queue counts and lists

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

OPEN = sa.text("status IN ('new', 'open', 'pending', 'on_hold')")


def upgrade() -> None:
    # plain create_index (no batch mode): a table rebuild would drop the search triggers on SQLite
    op.create_index("ix_tickets_open_queue", "tickets", ["channel", "assignee_id", "team_id"],
                    postgresql_where=OPEN, sqlite_where=OPEN)


def downgrade() -> None:
    op.drop_index("ix_tickets_open_queue", table_name="tickets")
