"""Where messages come from: mailboxes and social channel accounts."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from helpdesk.models.base import Base, utcnow


class Mailbox(Base):
    __tablename__ = "mailboxes"

    id: Mapped[int] = mapped_column(primary_key=True)
    address: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    imap_host: Mapped[str | None] = mapped_column(String(255))
    imap_port: Mapped[int] = mapped_column(default=993)
    imap_security: Mapped[str] = mapped_column(String(10), default="tls")  # tls | starttls | none
    imap_user: Mapped[str | None] = mapped_column(String(320))
    imap_password: Mapped[str | None] = mapped_column(String(500))
    oauth2_token: Mapped[str | None] = mapped_column(String(4000))
    folder: Mapped[str] = mapped_column(String(200), default="INBOX")
    processed_folder: Mapped[str | None] = mapped_column(String(200))
    mark_seen: Mapped[bool] = mapped_column(default=False)
    use_idle: Mapped[bool] = mapped_column(default=True)
    # Opt-in: an acknowledgement to every new ticket is a choice each support address makes.
    auto_ack: Mapped[bool] = mapped_column(default=False, server_default=false())
    smtp_host: Mapped[str | None] = mapped_column(String(255))
    smtp_port: Mapped[int] = mapped_column(default=587)
    smtp_security: Mapped[str] = mapped_column(String(10), default="starttls")
    smtp_user: Mapped[str | None] = mapped_column(String(320))
    smtp_password: Mapped[str | None] = mapped_column(String(500))
    uidvalidity: Mapped[int | None]
    last_uid: Mapped[int] = mapped_column(default=0)
    # While a first sync ("unseen": unread mail) or a re-sync after a UIDVALIDITY change ("all":
    # every message whose Message-ID is unknown) is under way, it covers the UIDs up to
    # `sync_until`; `last_uid` advances batch by batch inside it, so a restart resumes there.
    sync_until: Mapped[int | None]
    sync_scope: Mapped[str | None] = mapped_column(String(10))
    backfill_since: Mapped[datetime | None]
    last_polled_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(1000))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SocialAccount(Base):
    """A page, Instagram account, WhatsApp number or bot that customers message
    (helpdesk/social/accounts.py). Its secrets are stored encrypted (helpdesk/secrets.py)."""

    __tablename__ = "social_accounts"
    __table_args__ = (UniqueConstraint("platform", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(20))  # messenger, instagram, whatsapp, telegram
    external_id: Mapped[str] = mapped_column(String(100))  # page id, Instagram account id, phone number id, bot id
    name: Mapped[str] = mapped_column(String(200))
    access_token: Mapped[str | None] = mapped_column(String(1000))  # encrypted: page token, system-user token, bot token
    app_secret: Mapped[str | None] = mapped_column(String(500))  # encrypted: Meta's app secret (X-Hub-Signature-256)
    verify_token: Mapped[str | None] = mapped_column(String(200))  # encrypted: Meta's hub.verify_token, Telegram's secret_token
    api_base_url: Mapped[str | None] = mapped_column(String(500))  # None: the platform's (Settings)
    # what else a platform needs: WhatsApp's business account id (templates) and display number,
    # an Instagram account's username, a bot's username
    options: Mapped[dict | None]
    active: Mapped[bool] = mapped_column(default=True)
    last_webhook_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime | None]
