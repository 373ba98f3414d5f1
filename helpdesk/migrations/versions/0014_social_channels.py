"""Social channels: account options and webhook health, delivery receipts and reactions on messages,
WhatsApp template replies

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01

- `social_accounts.options`, `last_webhook_at`, `last_error`, `updated_at`. Its secret columns now
  hold Fernet tokens (helpdesk/secrets.py); the table was never written before this revision.
- `messages.delivered_at`, `read_at`, `reaction`, `template`.
"""
import sqlalchemy as sa
from alembic import op

from helpdesk.models.base import UTCDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain add_column, never a batch rebuild: on SQLite that would recreate `messages`' triggers' tables
    op.add_column("social_accounts", sa.Column("options", sa.JSON(), nullable=True))
    op.add_column("social_accounts", sa.Column("last_webhook_at", UTCDateTime(timezone=True), nullable=True))
    op.add_column("social_accounts", sa.Column("last_error", sa.String(length=1000), nullable=True))
    op.add_column("social_accounts", sa.Column("updated_at", UTCDateTime(timezone=True), nullable=True))
    op.add_column("messages", sa.Column("delivered_at", UTCDateTime(timezone=True), nullable=True))
    op.add_column("messages", sa.Column("read_at", UTCDateTime(timezone=True), nullable=True))
    op.add_column("messages", sa.Column("reaction", sa.String(length=32), nullable=True))
    op.add_column("messages", sa.Column("template", sa.JSON(), nullable=True))


def downgrade() -> None:
    for column in ("template", "reaction", "read_at", "delivered_at"):
        op.drop_column("messages", column)
    for column in ("updated_at", "last_error", "last_webhook_at", "options"):
        op.drop_column("social_accounts", column)
