"""Drafts kept server-side, snoozed tickets, a ticket's history in order, agents' notifications

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01

- `drafts`: the reply or note an agent is writing, one per ticket and agent, so another device
  sees it and a return to the ticket restores it.
- `tickets.snoozed_until`: a snoozed ticket leaves the queues until then.
- `ix_audit_events_object`: a ticket's history (status, assignee, tags, merges ...) is read by
  object in id order to show it in the conversation.
- `notifications`: what an agent should see (a snoozed ticket is back), unread until read.
"""
import sqlalchemy as sa
from alembic import op

from helpdesk.models.base import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "drafts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("mode", sa.String(length=10), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"], name=op.f("fk_drafts_agent_id_agents"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name=op.f("fk_drafts_ticket_id_tickets"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drafts")),
        sa.UniqueConstraint("ticket_id", "agent_id", name=op.f("uq_drafts_ticket_id_agent_id")),
    )
    with op.batch_alter_table("drafts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_drafts_agent_id"), ["agent_id"], unique=False)

    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("text", sa.String(length=500), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("read_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"], name=op.f("fk_notifications_agent_id_agents"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name=op.f("fk_notifications_ticket_id_tickets"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index("ix_notifications_agent_unread", ["agent_id", "read_at", "id"], unique=False)

    # plain ALTER, not a batch: recreating `tickets` on SQLite would break the search triggers
    op.add_column("tickets", sa.Column("snoozed_until", UTCDateTime(timezone=True), nullable=True))
    op.create_index(op.f("ix_tickets_snoozed_until"), "tickets", ["snoozed_until"], unique=False)

    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index("ix_audit_events_object", ["object_type", "object_id", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_events_object")
    op.drop_index(op.f("ix_tickets_snoozed_until"), table_name="tickets")
    op.drop_column("tickets", "snoozed_until")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_agent_unread")
    op.drop_table("notifications")
    with op.batch_alter_table("drafts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_drafts_agent_id"))
    op.drop_table("drafts")
