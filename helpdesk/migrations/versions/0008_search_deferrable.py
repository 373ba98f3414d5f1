"""PostgreSQL search triggers can stand aside for one transaction

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23

A transaction that sets `helpdesk.search_deferred` to 'on' (transaction-local, with
`set_config(..., true)`) takes on keeping ticket_search current itself: the row triggers return
at once, and it rebuilds the documents of every ticket it touched in one set-based call before
COMMIT (`helpdesk.tickets.search.refresh_documents`). `ingest_many` does this: a new ticket's document
was built three times (ticket, identity and message insert), a batch now builds each touched
ticket's document once. Every other writer leaves the setting unset and keeps the triggers.
"""
import importlib.util
from pathlib import Path

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

GUARD = "IF current_setting('helpdesk.search_deferred', true) = 'on' THEN RETURN NULL; END IF;"
TRIGGER_FUNCTIONS = ("helpdesk_search_on_ticket", "helpdesk_search_on_message", "helpdesk_search_on_customer")


def _trigger_functions() -> list[str]:
    """0003's trigger functions, as written there."""
    path = Path(__file__).with_name("0003_search.py")
    spec = importlib.util.spec_from_file_location("helpdesk_migration_0003", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [f for f in module.POSTGRES_FUNCTIONS if any(f"FUNCTION {name}()" in f for name in TRIGGER_FUNCTIONS)]


def upgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        for statement in _trigger_functions():
            # the guard goes first in each body: "... $$\n    BEGIN" or "DECLARE ... BEGIN"
            head, sep, rest = statement.partition("BEGIN")
            op.execute(head + sep + "\n        " + GUARD + rest)


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        for statement in _trigger_functions():
            op.execute(statement)
