"""ticket search index

One search document per ticket: its subject (weight A), its customer's name and identities
(weight B) and the text of its messages (weight D). SQLite keeps it in an FTS5 table whose
rowid is the ticket id; PostgreSQL in `ticket_search(ticket_id, document tsvector)` with a GIN
index. Triggers on tickets, messages, customers and customer_identities keep it in sync,
including messages that move to another ticket on merge.

Both dialects tokenise the same way: runs of letters and digits, so `ann@x.com` is the words
`ann x com` (FTS5's unicode61 does this itself; on PostgreSQL `helpdesk_search_vector` turns
the separators the default parser keeps inside emails, hosts and paths into spaces).

Trap for later migrations: on SQLite, `batch_alter_table` on tickets, messages, customers or
customer_identities copies the table and drops the old one, and its triggers with it. Such a
migration must run `create_sqlite_triggers(op)` from this module again afterwards.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 12:00:00
"""
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

# Body text beyond this many characters (newest first) is not indexed: a tsvector is capped at 1 MB.
BODY_LIMIT = 200_000

# ---------------------------------------------------------------- SQLite (FTS5)

_SQLITE_CUSTOMER = """(SELECT coalesce(c.name, '') || ' ' || coalesce((SELECT group_concat(i.value || ' ' ||
    coalesce(i.display_name, ''), ' ') FROM customer_identities i WHERE i.customer_id = c.id), '')
    FROM customers c WHERE c.id = t.customer_id)"""
_SQLITE_BODY = f"""substr(coalesce((SELECT group_concat(m.text, ' ') FROM (SELECT text FROM messages
    WHERE ticket_id = t.id ORDER BY id DESC) m), ''), 1, {BODY_LIMIT})"""


def _sqlite_refresh(where: str) -> str:
    """Statements that rebuild the documents of the tickets matching `where` (on alias t)."""
    return (
        f"DELETE FROM ticket_search WHERE rowid IN (SELECT t.id FROM tickets t WHERE {where});\n"
        f"INSERT INTO ticket_search (rowid, subject, customer, body) SELECT t.id, t.subject, "
        f"{_SQLITE_CUSTOMER}, {_SQLITE_BODY} FROM tickets t WHERE {where};\n"
    )


SQLITE_TRIGGERS = {
    "ticket_search_ticket_insert": "AFTER INSERT ON tickets BEGIN\n" + _sqlite_refresh("t.id = new.id") + "END",
    "ticket_search_ticket_update": (
        "AFTER UPDATE OF subject, customer_id ON tickets "
        "WHEN old.subject IS NOT new.subject OR old.customer_id IS NOT new.customer_id BEGIN\n"
        + _sqlite_refresh("t.id = new.id") + "END"
    ),
    "ticket_search_ticket_delete": "AFTER DELETE ON tickets BEGIN\n"
                                   "DELETE FROM ticket_search WHERE rowid = old.id;\nEND",
    "ticket_search_message_insert": "AFTER INSERT ON messages BEGIN\n"
                                    + _sqlite_refresh("t.id = new.ticket_id") + "END",
    "ticket_search_message_update": (
        "AFTER UPDATE OF text, ticket_id ON messages "
        "WHEN old.text IS NOT new.text OR old.ticket_id IS NOT new.ticket_id BEGIN\n"
        + _sqlite_refresh("t.id IN (old.ticket_id, new.ticket_id)") + "END"
    ),
    "ticket_search_message_delete": "AFTER DELETE ON messages BEGIN\n"
                                    + _sqlite_refresh("t.id = old.ticket_id") + "END",
    "ticket_search_customer_update": (
        "AFTER UPDATE OF name ON customers WHEN old.name IS NOT new.name BEGIN\n"
        + _sqlite_refresh("t.customer_id = new.id") + "END"
    ),
    "ticket_search_identity_insert": "AFTER INSERT ON customer_identities BEGIN\n"
                                     + _sqlite_refresh("t.customer_id = new.customer_id") + "END",
    "ticket_search_identity_update": (
        "AFTER UPDATE OF value, display_name, customer_id ON customer_identities BEGIN\n"
        + _sqlite_refresh("t.customer_id IN (old.customer_id, new.customer_id)") + "END"
    ),
    "ticket_search_identity_delete": "AFTER DELETE ON customer_identities BEGIN\n"
                                     + _sqlite_refresh("t.customer_id = old.customer_id") + "END",
}


def create_sqlite_triggers(op) -> None:
    for name, body in SQLITE_TRIGGERS.items():
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute(f"CREATE TRIGGER {name} {body}")


def _upgrade_sqlite() -> None:
    # A regular (content-storing) FTS5 table: SQLite 3.40 has no contentless delete, and the
    # stored columns let a trigger rebuild one ticket without reading the old values back.
    op.execute(
        "CREATE VIRTUAL TABLE ticket_search USING fts5(subject, customer, body, "
        "tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3')"
    )
    op.execute(f"INSERT INTO ticket_search (rowid, subject, customer, body) "
               f"SELECT t.id, t.subject, {_SQLITE_CUSTOMER}, {_SQLITE_BODY} FROM tickets t")
    create_sqlite_triggers(op)


# ---------------------------------------------------------------- PostgreSQL (tsvector + GIN)

# Characters PostgreSQL's parser keeps inside a token (emails, hosts, paths, versions) but
# unicode61 splits on; and < > because the parser drops whatever looks like an XML tag, which
# in plain text ("a <b> c", "</script> gizmo") can swallow real words.
SEPARATORS = "@._-/:+#=&?~|<>"

# The `simple` configuration: no stemming and no stop words, so names, order numbers and any
# language match as typed, and results agree with SQLite's unicode61 tokens.
POSTGRES_FUNCTIONS = [
    f"""
    CREATE OR REPLACE FUNCTION helpdesk_search_vector(value text) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT to_tsvector('simple'::regconfig, translate(coalesce(value, ''), '{SEPARATORS}', '{" " * len(SEPARATORS)}'))
    $$
    """,
    """
    CREATE OR REPLACE FUNCTION helpdesk_customer_search_text(customer integer) RETURNS text
    LANGUAGE sql STABLE AS $$
        SELECT coalesce(c.name, '') || ' ' || coalesce((SELECT string_agg(i.value || ' ' ||
               coalesce(i.display_name, ''), ' ') FROM customer_identities i WHERE i.customer_id = c.id), '')
        FROM customers c WHERE c.id = customer
    $$
    """,
    f"""
    CREATE OR REPLACE FUNCTION helpdesk_refresh_ticket_search(ids integer[]) RETURNS void
    LANGUAGE sql AS $$
        INSERT INTO ticket_search (ticket_id, document)
        SELECT t.id,
               setweight(helpdesk_search_vector(t.subject), 'A')
               || setweight(helpdesk_search_vector(helpdesk_customer_search_text(t.customer_id)), 'B')
               || helpdesk_search_vector(left(coalesce((SELECT string_agg(m.text, ' ' ORDER BY m.id DESC)
                                                        FROM messages m WHERE m.ticket_id = t.id), ''), {BODY_LIMIT}))
        FROM tickets t WHERE t.id = ANY(ids)
        ON CONFLICT (ticket_id) DO UPDATE SET document = EXCLUDED.document
    $$
    """,
    """
    CREATE OR REPLACE FUNCTION helpdesk_search_on_ticket() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM helpdesk_refresh_ticket_search(ARRAY[NEW.id]);
        RETURN NULL;
    END $$
    """,
    """
    CREATE OR REPLACE FUNCTION helpdesk_search_on_message() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            PERFORM helpdesk_refresh_ticket_search(ARRAY[NEW.ticket_id]);
        ELSIF TG_OP = 'DELETE' THEN
            PERFORM helpdesk_refresh_ticket_search(ARRAY[OLD.ticket_id]);
        ELSE
            PERFORM helpdesk_refresh_ticket_search(ARRAY[OLD.ticket_id, NEW.ticket_id]);
        END IF;
        RETURN NULL;
    END $$
    """,
    """
    CREATE OR REPLACE FUNCTION helpdesk_search_on_customer() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        customers integer[];
    BEGIN
        IF TG_OP = 'INSERT' THEN
            customers := ARRAY[NEW.customer_id];
        ELSIF TG_OP = 'DELETE' THEN
            customers := ARRAY[OLD.customer_id];
        ELSIF TG_TABLE_NAME = 'customers' THEN
            customers := ARRAY[NEW.id];
        ELSE
            customers := ARRAY[OLD.customer_id, NEW.customer_id];
        END IF;
        PERFORM helpdesk_refresh_ticket_search(ARRAY(SELECT id FROM tickets WHERE customer_id = ANY(customers)));
        RETURN NULL;
    END $$
    """,
]

POSTGRES_TRIGGERS = [
    "CREATE TRIGGER ticket_search_ticket_insert AFTER INSERT ON tickets "
    "FOR EACH ROW EXECUTE FUNCTION helpdesk_search_on_ticket()",
    "CREATE TRIGGER ticket_search_ticket_update AFTER UPDATE OF subject, customer_id ON tickets FOR EACH ROW "
    "WHEN (OLD.subject IS DISTINCT FROM NEW.subject OR OLD.customer_id IS DISTINCT FROM NEW.customer_id) "
    "EXECUTE FUNCTION helpdesk_search_on_ticket()",
    "CREATE TRIGGER ticket_search_message_change AFTER INSERT OR DELETE ON messages "
    "FOR EACH ROW EXECUTE FUNCTION helpdesk_search_on_message()",
    "CREATE TRIGGER ticket_search_message_update AFTER UPDATE OF text, ticket_id ON messages FOR EACH ROW "
    "WHEN (OLD.text IS DISTINCT FROM NEW.text OR OLD.ticket_id IS DISTINCT FROM NEW.ticket_id) "
    "EXECUTE FUNCTION helpdesk_search_on_message()",
    "CREATE TRIGGER ticket_search_customer_update AFTER UPDATE OF name ON customers FOR EACH ROW "
    "WHEN (OLD.name IS DISTINCT FROM NEW.name) EXECUTE FUNCTION helpdesk_search_on_customer()",
    "CREATE TRIGGER ticket_search_identity_change AFTER INSERT OR DELETE ON customer_identities "
    "FOR EACH ROW EXECUTE FUNCTION helpdesk_search_on_customer()",
    "CREATE TRIGGER ticket_search_identity_update AFTER UPDATE OF value, display_name, customer_id "
    "ON customer_identities FOR EACH ROW EXECUTE FUNCTION helpdesk_search_on_customer()",
]

# Set-based back-fill: one pass over messages and identities instead of a function call per ticket.
POSTGRES_BACKFILL = f"""
INSERT INTO ticket_search (ticket_id, document)
SELECT t.id,
       setweight(helpdesk_search_vector(t.subject), 'A')
       || setweight(helpdesk_search_vector(coalesce(cu.text, '')), 'B')
       || helpdesk_search_vector(left(coalesce(b.body, ''), {BODY_LIMIT}))
FROM tickets t
LEFT JOIN (SELECT c.id, coalesce(c.name, '') || ' ' || coalesce(string_agg(i.value || ' ' ||
                  coalesce(i.display_name, ''), ' '), '') AS text
           FROM customers c LEFT JOIN customer_identities i ON i.customer_id = c.id GROUP BY c.id) cu
       ON cu.id = t.customer_id
LEFT JOIN (SELECT ticket_id, string_agg(text, ' ' ORDER BY id DESC) AS body
           FROM messages GROUP BY ticket_id) b ON b.ticket_id = t.id
"""

POSTGRES_TRIGGER_TABLES = ("tickets", "messages", "customers", "customer_identities")


def _upgrade_postgres() -> None:
    op.execute(
        "CREATE TABLE ticket_search ("
        " ticket_id integer PRIMARY KEY REFERENCES tickets (id) ON DELETE CASCADE,"
        " document tsvector NOT NULL)"
    )
    for statement in POSTGRES_FUNCTIONS:
        op.execute(statement)
    op.execute(POSTGRES_BACKFILL)
    # After the back-fill: building a GIN index once is far cheaper than growing it row by row.
    op.execute("CREATE INDEX ix_ticket_search_document ON ticket_search USING gin (document)")
    for statement in POSTGRES_TRIGGERS:
        op.execute(statement)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _upgrade_sqlite()
    else:
        _upgrade_postgres()


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS ticket_search")
        return
    for statement in POSTGRES_TRIGGERS:
        name, table = statement.split()[2], statement.split(" ON ")[1].split()[0]
        op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
    op.execute("DROP TABLE IF EXISTS ticket_search")
    for function in ("helpdesk_search_on_customer()", "helpdesk_search_on_message()", "helpdesk_search_on_ticket()",
                     "helpdesk_refresh_ticket_search(integer[])", "helpdesk_customer_search_text(integer)",
                     "helpdesk_search_vector(text)"):
        op.execute(f"DROP FUNCTION IF EXISTS {function}")
