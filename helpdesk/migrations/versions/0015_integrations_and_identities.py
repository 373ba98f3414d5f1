"""Purchases and identities: API tokens, shops (order webhooks), outbound webhooks, identity
conflicts, dismissed duplicates, custom attributes, GDPR erasure

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01

- `api_tokens`: SHA-256 of each token (shown once), its prefix, scopes, last use, revocation.
- `shops`: a shop's domain and its encrypted webhook secret (Shopify's X-Shopify-Hmac-Sha256).
- `webhook_endpoints`, `webhook_deliveries`: integrations' subscriptions to our events, and each
  delivery through the outbox pattern (queued -> sending -> delivered | failed), its last answer kept.
- `identity_conflicts`: an identity claimed for one customer while another holds it, for an agent.
- `duplicate_dismissals`: pairs an agent said are not one person.
- `customers.attributes` (typed custom attributes), `customers.erased_at`; `orders.updated_at`;
  `order_items.external_id`.
"""
import sqlalchemy as sa
from alembic import op

from helpdesk.models.base import UTCDateTime

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["created_by_id"], ["agents.id"], name=op.f("fk_api_tokens_created_by_id_agents")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_table(
        "shops",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("platform", sa.String(length=20), nullable=False),
        sa.Column("domain", sa.String(length=255), nullable=False),
        sa.Column("webhook_secret", sa.String(length=500), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_webhook_at", UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shops")),
        sa.UniqueConstraint("domain", name=op.f("uq_shops_domain")),
    )
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=1000), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=True),
        sa.Column("secret", sa.String(length=500), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_endpoints")),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("endpoint_id", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(length=50), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_response", sa.Text(), nullable=True),
        sa.Column("last_error", sa.String(length=1000), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["endpoint_id"], ["webhook_endpoints.id"], ondelete="CASCADE",
                                name=op.f("fk_webhook_deliveries_endpoint_id_webhook_endpoints")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
    )
    op.create_index("ix_webhook_deliveries_due", "webhook_deliveries", ["status", "next_attempt_at"])
    op.create_index("ix_webhook_deliveries_endpoint", "webhook_deliveries", ["endpoint_id", "id"])
    op.create_table(
        "identity_conflicts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("value", sa.String(length=320), nullable=False),
        sa.Column("holder_id", sa.Integer(), nullable=False),
        sa.Column("claimant_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=50), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolved_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["holder_id"], ["customers.id"], name=op.f("fk_identity_conflicts_holder_id_customers")),
        sa.ForeignKeyConstraint(["claimant_id"], ["customers.id"],
                                name=op.f("fk_identity_conflicts_claimant_id_customers")),
        sa.ForeignKeyConstraint(["resolved_by_id"], ["agents.id"],
                                name=op.f("fk_identity_conflicts_resolved_by_id_agents")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_conflicts")),
    )
    op.create_index(op.f("ix_identity_conflicts_holder_id"), "identity_conflicts", ["holder_id"])
    op.create_index(op.f("ix_identity_conflicts_claimant_id"), "identity_conflicts", ["claimant_id"])
    op.create_table(
        "duplicate_dismissals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("other_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"],
                                name=op.f("fk_duplicate_dismissals_customer_id_customers")),
        sa.ForeignKeyConstraint(["other_id"], ["customers.id"], name=op.f("fk_duplicate_dismissals_other_id_customers")),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"], name=op.f("fk_duplicate_dismissals_agent_id_agents")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_duplicate_dismissals")),
        sa.UniqueConstraint("customer_id", "other_id", name=op.f("uq_duplicate_dismissals_customer_id_other_id")),
    )
    # plain add_column, never a batch rebuild (SQLite: it would recreate the tables' triggers)
    op.add_column("customers", sa.Column("attributes", sa.JSON(), nullable=True))
    op.add_column("customers", sa.Column("erased_at", UTCDateTime(timezone=True), nullable=True))
    op.add_column("orders", sa.Column("updated_at", UTCDateTime(timezone=True), nullable=True))
    op.add_column("order_items", sa.Column("external_id", sa.String(length=100), nullable=True))


def downgrade() -> None:
    op.drop_column("order_items", "external_id")
    op.drop_column("orders", "updated_at")
    op.drop_column("customers", "erased_at")
    op.drop_column("customers", "attributes")
    for table in ("duplicate_dismissals", "identity_conflicts", "webhook_deliveries", "webhook_endpoints", "shops",
                  "api_tokens"):
        op.drop_table(table)
