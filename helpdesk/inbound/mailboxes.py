"""Mailboxes as admins manage them: add, list, remove. Secrets go in and never come back out."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.models import Mailbox

SECURITY = ("tls", "starttls", "none")


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


async def list_mailboxes(session: AsyncSession) -> list[MailboxSummary]:
    rows = await session.scalars(select(Mailbox).order_by(Mailbox.address))
    return [
        MailboxSummary(
            id=m.id, address=m.address, name=m.name,
            imap=f"{m.imap_user or ''}@{m.imap_host}:{m.imap_port} ({m.imap_security})" if m.imap_host else None,
            smtp=f"{m.smtp_host}:{m.smtp_port} ({m.smtp_security})" if m.smtp_host else None,
            active=m.active, last_polled_at=m.last_polled_at, last_error=m.last_error,
            has_imap_password=bool(m.imap_password), has_smtp_password=bool(m.smtp_password),
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
