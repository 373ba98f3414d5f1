"""Mailboxes as admins manage them: add, list, edit, remove. Secrets go in and never come back out."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.models import Mailbox

SECURITY = ("tls", "starttls", "none")
TEXT = ("name", "imap_host", "imap_user", "folder", "processed_folder", "smtp_host", "smtp_user")
PORTS = ("imap_port", "smtp_port")
SECRETS = ("imap_password", "oauth2_token", "smtp_password")
FLAGS = ("auto_ack", "mark_seen", "use_idle", "active")
EDITABLE = (*TEXT, *PORTS, "imap_security", "smtp_security", *SECRETS, *FLAGS)


class MailboxError(ValueError):
    """Bad mailbox settings; the message names the field."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class MailboxSummary:
    """What the admin list shows: everything but passwords and tokens."""

    id: int
    address: str
    name: str | None
    imap: str | None
    smtp: str | None
    active: bool
    last_polled_at: object
    last_error: str | None
    has_imap_password: bool
    has_smtp_password: bool
    settings: dict  # what the edit form shows: every editable setting but the secrets


async def list_mailboxes(session: AsyncSession) -> list[MailboxSummary]:
    rows = await session.scalars(select(Mailbox).order_by(Mailbox.address))
    return [
        MailboxSummary(
            id=m.id, address=m.address, name=m.name,
            imap=f"{m.imap_user or ''}@{m.imap_host}:{m.imap_port} ({m.imap_security})" if m.imap_host else None,
            smtp=f"{m.smtp_host}:{m.smtp_port} ({m.smtp_security})" if m.smtp_host else None,
            active=m.active, last_polled_at=m.last_polled_at, last_error=m.last_error,
            has_imap_password=bool(m.imap_password), has_smtp_password=bool(m.smtp_password),
            settings={name: getattr(m, name) for name in EDITABLE if name not in SECRETS},
        )
        for m in rows
    ]


def _port(raw: str, default: int, field: str) -> int:
    raw = (raw or "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise MailboxError("a port is a number from 1 to 65535", field=field)
    return int(raw)


async def add_mailbox(session: AsyncSession, form: dict[str, str]) -> Mailbox:
    address = (form.get("address") or "").strip().lower()
    if "@" not in address:
        raise MailboxError("write the support address, like support@shop.example", field="address")
    if await session.scalar(select(Mailbox.id).where(Mailbox.address == address)):
        raise MailboxError(f"{address} is set up already", field="address")
    for field in ("imap_security", "smtp_security"):
        if (form.get(field) or "tls") not in SECURITY:
            raise MailboxError(f"security must be one of {', '.join(SECURITY)}", field=field)
    mailbox = Mailbox(
        address=address, name=(form.get("name") or "").strip() or None,
        imap_host=(form.get("imap_host") or "").strip() or None,
        imap_port=_port(form.get("imap_port", ""), 993, "imap_port"),
        imap_security=form.get("imap_security") or "tls",
        imap_user=(form.get("imap_user") or "").strip() or None,
        imap_password=form.get("imap_password") or None,
        smtp_host=(form.get("smtp_host") or "").strip() or None,
        smtp_port=_port(form.get("smtp_port", ""), 587, "smtp_port"),
        smtp_security=form.get("smtp_security") or "starttls",
        smtp_user=(form.get("smtp_user") or "").strip() or None,
        smtp_password=form.get("smtp_password") or None,
    )
    session.add(mailbox)
    await session.commit()
    return mailbox


async def remove_mailbox(session: AsyncSession, mailbox_id: int) -> None:
    mailbox = await session.get(Mailbox, mailbox_id)
    if mailbox is not None:
        await session.delete(mailbox)
        await session.commit()


async def edit_mailbox(session: AsyncSession, mailbox_id: int, changes: Mapping[str, object]) -> tuple[Mailbox, bool]:
    """Change the given settings in place (values as typed or as a form sends them); a blank
    secret keeps the stored one. Returns the mailbox and whether its IMAP bookmark started over:
    another host, user or folder is another mailbox, whose UIDs say nothing about the old one's;
    a new password, port or auto-ack is the same mailbox."""
    mailbox = await session.get(Mailbox, mailbox_id)
    if mailbox is None:
        raise MailboxError(f"no mailbox {mailbox_id}")
    before = _imap_identity(mailbox)
    updates = {}  # all checked before any is set: a refused edit leaves the row as it was
    for field in EDITABLE:
        if field not in changes or changes[field] is None:
            continue
        value = changes[field]
        if field in SECRETS:
            if str(value):
                updates[field] = str(value)
        elif field in PORTS:
            if str(value).strip():
                updates[field] = _port(str(value), 0, field)
        elif field in FLAGS:
            updates[field] = _flag(value, field)
        elif field.endswith("_security"):
            if value not in SECURITY:
                raise MailboxError(f"security must be one of {', '.join(SECURITY)}", field=field)
            updates[field] = value
        elif field == "folder":
            if not str(value).strip():
                raise MailboxError("name the folder to read, like INBOX", field=field)
            updates[field] = str(value).strip()
        else:
            updates[field] = str(value).strip() or None
    for field, value in updates.items():
        setattr(mailbox, field, value)
    restarted = _imap_identity(mailbox) != before
    if restarted:
        mailbox.uidvalidity, mailbox.last_uid, mailbox.sync_until, mailbox.sync_scope = None, 0, None, None
    await session.commit()
    return mailbox, restarted


def _imap_identity(mailbox: Mailbox) -> tuple:
    return (mailbox.imap_host or "").lower(), mailbox.imap_user or mailbox.address, mailbox.folder


def _flag(value: object, field: str) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).strip().lower() in ("1", "on", "yes", "true"):
        return True
    if str(value).strip().lower() in ("0", "off", "no", "false"):
        return False
    raise MailboxError(f"{field.replace('_', ' ')} is yes or no", field=field)
