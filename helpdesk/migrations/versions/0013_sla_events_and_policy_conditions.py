"""SLA a lead can trust: events per ticket and target, policy conditions on tags, targets per
priority, warnings, holidays by country

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01

- `sla_events`: started, paused, resumed, warned, breached, met, restarted per ticket and target
  (and next-response cycle). Unique per (ticket, target, kind, cycle), so the sweep's stamps and
  escalations happen exactly once however many workers race; the board's attainment reads them.
- `sla_policies.match_tags`, `targets` (per priority), `warn_at_percent`.
- `business_calendars.holiday_country`, `holiday_region` (the `holidays` package).
"""
import sqlalchemy as sa
from alembic import op

from helpdesk.models.base import UTCDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sla_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("due_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("business_minutes", sa.Integer(), nullable=True),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(length=20), nullable=True),
        sa.Column("priority", sa.String(length=10), nullable=True),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"], name=op.f("fk_sla_events_agent_id_agents")),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name=op.f("fk_sla_events_team_id_teams")),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name=op.f("fk_sla_events_ticket_id_tickets"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_events")),
        sa.UniqueConstraint("ticket_id", "target", "kind", "cycle",
                            name=op.f("uq_sla_events_ticket_id_target_kind_cycle")),
    )
    with op.batch_alter_table("sla_events", schema=None) as batch_op:
        batch_op.create_index("ix_sla_events_kind_at", ["kind", "at"], unique=False)
    with op.batch_alter_table("sla_policies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("match_tags", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("targets", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("warn_at_percent", sa.Integer(), nullable=True))
    with op.batch_alter_table("business_calendars", schema=None) as batch_op:
        batch_op.add_column(sa.Column("holiday_country", sa.String(length=2), nullable=True))
        batch_op.add_column(sa.Column("holiday_region", sa.String(length=10), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("business_calendars", schema=None) as batch_op:
        batch_op.drop_column("holiday_region")
        batch_op.drop_column("holiday_country")
    with op.batch_alter_table("sla_policies", schema=None) as batch_op:
        batch_op.drop_column("warn_at_percent")
        batch_op.drop_column("targets")
        batch_op.drop_column("match_tags")
    with op.batch_alter_table("sla_events", schema=None) as batch_op:
        batch_op.drop_index("ix_sla_events_kind_at")
    op.drop_table("sla_events")
