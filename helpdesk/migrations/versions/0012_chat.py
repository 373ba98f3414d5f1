"""Live chat: chat channels (one per widget embed) and visitors' conversations

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01

See docs/chat.md. A conversation's messages are its ticket's messages; these tables add the
widget's settings and who the visitor is.
"""
import sqlalchemy as sa
from alembic import op

from helpdesk.models.base import UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chat_channels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("colour", sa.String(length=7), nullable=False),
        sa.Column("greeting", sa.String(length=500), nullable=False),
        sa.Column("allowed_origins", sa.JSON(), nullable=False),
        sa.Column("prechat_fields", sa.JSON(), nullable=False),
        sa.Column("calendar_id", sa.Integer(), nullable=True),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("identity_secret", sa.String(length=500), nullable=True),
        sa.Column("enforce_verification", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["calendar_id"], ["business_calendars.id"],
                                name=op.f("fk_chat_channels_calendar_id_business_calendars")),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_chat_channels_team_id_teams")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_channels")),
        sa.UniqueConstraint("key", name=op.f("uq_chat_channels_key")),
    )
    op.create_table(
        "chat_conversations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=40), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("origin", sa.String(length=300), nullable=True),
        sa.Column("visitor_last_read_id", sa.Integer(), nullable=False),
        sa.Column("agent_last_read_id", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["channel_id"], ["chat_channels.id"],
                                name=op.f("fk_chat_conversations_channel_id_chat_channels")),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"],
                                name=op.f("fk_chat_conversations_customer_id_customers")),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name=op.f("fk_chat_conversations_ticket_id_tickets")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_conversations")),
        sa.UniqueConstraint("public_id", name=op.f("uq_chat_conversations_public_id")),
        sa.UniqueConstraint("ticket_id", name=op.f("uq_chat_conversations_ticket_id")),
    )
    with op.batch_alter_table("chat_conversations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_chat_conversations_channel_id"), ["channel_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_chat_conversations_customer_id"), ["customer_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("chat_conversations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chat_conversations_customer_id"))
        batch_op.drop_index(batch_op.f("ix_chat_conversations_channel_id"))
    op.drop_table("chat_conversations")
    op.drop_table("chat_channels")
