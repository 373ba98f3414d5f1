"""A first sync or re-sync of a mailbox keeps its place

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01

`mailboxes.sync_until` and `sync_scope` say that a first sync (unread mail) or a re-sync after
a UIDVALIDITY change (mail with an unknown Message-ID) is under way and which UIDs it covers,
so `last_uid` can advance after each committed batch and a restart resumes where it stopped.
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("mailboxes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sync_until", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("sync_scope", sa.String(length=10), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("mailboxes", schema=None) as batch_op:
        batch_op.drop_column("sync_scope")
        batch_op.drop_column("sync_until")
