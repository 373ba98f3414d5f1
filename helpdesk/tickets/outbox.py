"""Transactional outbox: replies are committed as `queued`, then delivered exactly once.

`queue_reply` commits the message and hands its id to the enqueuer the worker set-up
registered. `deliver` claims the row with a conditional UPDATE (so two workers can never
both send it), calls the channel's `Sender`, and records the outcome. `sweep` re-enqueues
queued rows whose broker message was lost.
"""
from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from helpdesk.channel import Attachment as OutAttachment
from helpdesk.channel import DeliveryError, Identity, Outbound, sender_for
from helpdesk import live
from helpdesk.chat import conversations as chat
from helpdesk.social import accounts as social_accounts
from helpdesk.tickets import history
from helpdesk.sla import events as sla_events
from helpdesk.sla import policies as sla_policies
from helpdesk.files import read_blob, store_blob
from helpdesk.integrations import webhooks
from helpdesk.models import (
    Agent, Attachment, Customer, CustomerIdentity, Mailbox, Message, SlaEvent, Ticket, TicketParticipant, utcnow,
)
from helpdesk.settings import Settings

log = logging.getLogger(__name__)

Enqueuer = Callable[[int, float], None]  # (message_id, delay_seconds)
_enqueuer: Enqueuer | None = None


def set_enqueuer(enqueuer: Enqueuer | None) -> None:
    global _enqueuer
    _enqueuer = enqueuer


def enqueue(message_id: int, delay_seconds: float = 0) -> None:
    if _enqueuer is None:
        log.warning("no outbox enqueuer registered; message %s waits for the sweeper", message_id)
        return
    try:
        _enqueuer(message_id, delay_seconds)
    except Exception:  # noqa: BLE001 - the row is committed; the sweeper will pick it up
        log.exception("enqueue of message %s failed; the sweeper will retry", message_id)


class NothingToSend(ValueError):
    """A reply with neither text nor attachments."""


async def queue_reply(
    session: AsyncSession,
    ticket: Ticket,
    *,
    settings: Settings,
    text: str,
    html: str | None = None,
    agent: Agent | None = None,
    attachments: list[OutAttachment] = (),
    reply_all: bool = True,
    status_after: str | None = None,
    automatic: bool = False,
    template: dict | None = None,
) -> Message:
    """Commit an outbound reply as `queued` on the ticket's channel, then enqueue its delivery.

    An `automatic` reply (an acknowledgement) is marked auto-generated and is not an agent's
    answer: it leaves the SLA clocks and the ticket's status alone."""
    if not text.strip() and not attachments and not template:
        raise NothingToSend("write a reply or attach a file before sending")
    now = utcnow()
    external_id = _new_external_id(ticket, settings)
    message = Message(
        ticket_id=ticket.id,
        direction="outbound",
        channel=ticket.channel,
        external_id=external_id,
        account=ticket.account,
        agent_id=agent.id if agent else None,
        sender_name=agent.name if agent else None,
        subject=ticket.subject,
        text=text,
        html=html,
        delivery_status="queued",
        auto_generated=automatic,
        template=template,
        created_at=now,
        updated_at=now,
    )
    if reply_all:
        message.cc = [
            {"kind": p.kind, "value": p.value, "name": p.display_name}
            for p in (await session.scalars(select(TicketParticipant).where(TicketParticipant.ticket_id == ticket.id)))
        ] or None
    for attachment in attachments:
        digest = store_blob(settings.attachments_dir, attachment.data)
        message.attachments.append(
            Attachment(sha256=digest, size=len(attachment.data), content_type=attachment.content_type,
                       filename=attachment.filename, content_id=attachment.content_id, inline=attachment.inline)
        )
    session.add(message)
    if not automatic:
        rules = await sla_policies.load_policies(session)
        stamps = sla_policies.agent_replied(rules, ticket, now)  # a failed delivery restarts them (_record_failure)
        ticket.last_outbound_at = now
        before = ticket.status
        if ticket.status == "new":
            ticket.status = "open"
        if status_after:
            stamps += set_status(ticket, status_after, now, rules=rules)
            if status_after != before:
                history.record(session, agent, "ticket.update", ticket.id, {"status": [before, status_after]}, at=now)
        await sla_events.record(session, stamps)
    ticket.updated_at = now
    await webhooks.emit(session, "message.created", {"ticket_id": ticket.id, "message_id": message})
    await session.commit()
    enqueue(message.id)
    live.publish(live.ticket_channel(ticket.id), {"event": "message.created", "message_id": message.id})
    if status_after and not automatic:  # other viewers' properties follow the status
        live.publish(live.ticket_channel(ticket.id), {"event": "ticket.updated", "ticket_id": ticket.id})
    return message


def set_status(ticket: Ticket, status: str, now: datetime, *, rules: list) -> list[sla_events.Stamp]:
    """Set the status and move the SLA clocks as the rules say (`rules`: `sla_policies.load_policies`);
    returns the SLA stamps for the caller to record with the change."""
    before, ticket.status = ticket.status, status
    if status not in ("pending", "on_hold"):
        ticket.snoozed_until = None  # made active, solved or closed: no longer snoozed (helpdesk/tickets/snooze.py)
    stamps = sla_policies.status_changed(rules, ticket, before, status, now)
    if status == "solved":
        ticket.solved_at = now
    if status == "closed":
        ticket.closed_at = now
    return stamps


def _new_external_id(ticket: Ticket, settings: Settings) -> str:
    token = uuid.uuid4().hex
    if ticket.channel == "email":
        return f"<{token}@{settings.mail_domain}>"
    if ticket.channel == "chat" and ticket.platform_thread_id:
        # in the conversation's range of ids: how its messages are found (helpdesk/chat/conversations.py)
        return chat.external_id(ticket.platform_thread_id, f"out-{token}")
    return f"out-{token}"


# Channels whose Sender only hands a reply to a live channel (no network round trip of its own): a
# worker delivering a reply also takes the others of these channels that wait, up to BATCH at a time,
# and loads, sends and records them together. Under a burst of chat replies (hundreds a second) one
# delivery costs a few statements per batch instead of nine per reply (docs/chat.md, "Figures").
INSTANT_CHANNELS = ("chat",)
BATCH = 50

# The claim, built once (Core, on the table: no ORM bulk-update bookkeeping): every delivery job runs
# it, and under a burst most of them find their message claimed by another job's batch already.
_M = Message.__table__
_READY = (_M.c.direction == "outbound", _M.c.delivery_status == "queued",
          or_(_M.c.next_attempt_at.is_(None), _M.c.next_attempt_at <= bindparam("now")))
_SENDING = {"delivery_status": "sending", "delivery_attempts": _M.c.delivery_attempts + 1,
            "updated_at": bindparam("now")}
_CLAIM = update(_M).where(_M.c.id == bindparam("message_id"), *_READY).values(**_SENDING).returning(_M.c.id)
_CLAIM_BATCH = update(_M).where(or_(
    _M.c.id == bindparam("message_id"),
    _M.c.id.in_(select(_M.c.id).where(*_READY, _M.c.channel.in_(INSTANT_CHANNELS))
                .order_by(_M.c.id).limit(bindparam("others")).scalar_subquery())), *_READY,
).values(**_SENDING).returning(_M.c.id)


async def deliver(session: AsyncSession, message_id: int, *, settings: Settings) -> str:
    """Send one queued message through its channel. Returns the resulting status.

    Safe to call any number of times for the same id: only the call that claims the row sends.
    """
    statuses = await deliver_batch(session, message_id, settings=settings)
    if message_id in statuses:
        return statuses[message_id]
    status = await session.scalar(select(Message.delivery_status).where(Message.id == message_id))
    return status or "missing"


async def deliver_batch(session: AsyncSession, message_id: int, *, settings: Settings,
                        batch: int = 1) -> dict[int, str]:
    """Claim message `message_id` and, with `batch` > 1, up to batch-1 other waiting replies of the
    INSTANT_CHANNELS; send each through its channel; record the outcomes. Returns {id: status} of the
    messages this call claimed (none: another worker has them, or they are not due).

    The claim is one conditional UPDATE (queued and due -> sending), committed before anything is
    sent, so two workers never both send a message, and a crash mid-send leaves it `sending` for the
    sweeper to fail knowingly rather than send twice."""
    statement = _CLAIM_BATCH if batch > 1 else _CLAIM
    claimed = list(await session.scalars(statement, {"message_id": message_id, "now": utcnow(),
                                                     "others": max(batch - 1, 0)}))
    await session.commit()
    if not claimed:
        return {}

    # populate_existing: a session that loaded these messages before the claim (the one that queued a
    # reply) must see them as claimed, or a retry's "queued" would look unchanged and never be written
    messages = list(await session.scalars(select(Message).where(Message.id.in_(claimed))
                                          .options(selectinload(Message.attachments)).order_by(Message.id)
                                          .execution_options(populate_existing=True)))
    messages.sort(key=lambda m: (m.channel not in INSTANT_CHANNELS, m.id))  # a slow SMTP send does not hold chat up
    loaded = await _Loaded.read(session, messages, settings)
    statuses: dict[int, str] = {}
    delivered: list[Message] = []
    for message in messages:
        try:
            outbound = await _outbound(session, message, settings, loaded)
            platform_id = await sender_for(message.channel).send(outbound)
        except DeliveryError as error:
            statuses[message.id] = await _record_failure(session, message, str(error), error.retryable, settings,
                                                         retry_after=error.retry_after)
            continue
        except Exception as error:  # noqa: BLE001 - an adapter bug must not leave the row "sending"
            log.exception("sender for %s crashed on message %s", message.channel, message.id)
            statuses[message.id] = await _record_failure(session, message, f"{type(error).__name__}: {error}", True,
                                                         settings)
            continue
        message.delivery_status = "sent"
        message.delivery_error = None
        message.sent_at = utcnow()
        message.updated_at = message.sent_at
        if platform_id and message.channel != "email":
            message.external_id = platform_id
        delivered.append(message)
        statuses[message.id] = "sent"
    stopped = await _stop_restarted_clocks_of(session, delivered)
    await session.commit()
    for message in delivered:
        live.publish(live.ticket_channel(message.ticket_id),
                     {"event": "message.delivery", "message_id": message.id, "status": "sent"})
    for ticket_id in stopped:
        live.publish(live.ticket_channel(ticket_id), {"event": "ticket.updated", "ticket_id": ticket_id})
    return statuses


async def _stop_restarted_clocks_of(session: AsyncSession, delivered: list[Message]) -> set[int]:
    """`_stop_restarted_clocks` for the delivered replies whose ticket has a restarted clock at all
    (one query for the batch; almost always none). Returns the tickets whose clocks stopped."""
    replies = [m for m in delivered if not m.auto_generated]
    if not replies:
        return set()
    restarted = set(await session.scalars(select(SlaEvent.ticket_id).where(
        SlaEvent.ticket_id.in_({m.ticket_id for m in replies}), SlaEvent.kind == "restarted",
        SlaEvent.at >= min(m.created_at for m in replies)).distinct()))
    stopped = set()
    for message in replies:
        if message.ticket_id in restarted and await _stop_restarted_clocks(session, message):
            stopped.add(message.ticket_id)
    return stopped


async def _stop_restarted_clocks(session: AsyncSession, message: Message) -> bool:
    """An agent's reply that failed (its clocks restarted) and, retried, is delivered after all: it
    answers the customer now, so it meets the restarted clocks at its delivery."""
    if message.auto_generated:
        return False
    restarted = await session.scalar(select(SlaEvent.id).where(
        SlaEvent.ticket_id == message.ticket_id, SlaEvent.kind == "restarted",
        SlaEvent.at >= message.created_at).limit(1))
    if restarted is None:
        return False
    ticket = await session.get(Ticket, message.ticket_id)
    stamps = sla_policies.agent_replied(await sla_policies.load_policies(session), ticket, message.sent_at)
    await sla_events.record(session, stamps)
    return bool(stamps)


def backoff_seconds(attempt: int) -> float:
    """10 s, 40 s, 2.7 min, 10.7 min, ... capped at one hour."""
    return min(10 * 4 ** (attempt - 1), 3600)


async def _record_failure(session: AsyncSession, message: Message, error: str, retryable: bool, settings: Settings,
                          *, retry_after: float | None = None) -> str:
    message.delivery_error = error[:2000]
    message.updated_at = utcnow()
    ticket = await session.get(Ticket, message.ticket_id)  # loaded already: for the log line
    where = f"ticket {ticket.number or ticket.id}: {message.channel} message {message.id}"
    if retryable and message.delivery_attempts < settings.outbox_max_attempts:
        delay = backoff_seconds(message.delivery_attempts)
        if retry_after is not None:  # the platform said when (a rate limit): no sooner, and no need to wait longer
            delay = min(max(retry_after, 1.0), 3600)
        message.delivery_status = "queued"
        message.next_attempt_at = utcnow() + timedelta(seconds=delay)
        await session.commit()
        enqueue(message.id, delay)
        status = "queued"
        log.warning("%s not delivered (attempt %s, next in %.0f s): %s", where, message.delivery_attempts, delay, error)
    else:
        message.delivery_status = "failed"
        restarted = await _restart_clocks(session, ticket, message)
        await session.commit()
        status = "failed"
        log.warning("%s failed, not retried: %s", where, error)
        if restarted:
            live.publish(live.ticket_channel(ticket.id), {"event": "ticket.updated", "ticket_id": ticket.id})
    live.publish(live.ticket_channel(message.ticket_id), {"event": "message.delivery", "message_id": message.id, "status": status})
    return status


async def reply_undelivered(session: AsyncSession, message_id: int) -> bool:
    """A reply marked failed outside `deliver` (a bounce came back, helpdesk/inbound/ingest.py): the SLA
    clocks it stopped run again, as after a failed delivery. Commits; returns whether any restarted."""
    message = await session.get(Message, message_id)
    if message is None or message.delivery_status != "failed":
        return False
    ticket = await session.get(Ticket, message.ticket_id)
    restarted = await _restart_clocks(session, ticket, message)
    await session.commit()
    if restarted:
        live.publish(live.ticket_channel(ticket.id), {"event": "ticket.updated", "ticket_id": ticket.id})
    return restarted


async def _restart_clocks(session: AsyncSession, ticket: Ticket, message: Message) -> bool:
    """An agent's reply that will not be delivered answered nobody: the SLA clocks it stopped run again
    (and the history says so), unless another reply of theirs from then on stands."""
    if message.auto_generated:
        return False
    stopped = dict((await session.execute(
        select(SlaEvent.target, SlaEvent.due_at).where(SlaEvent.ticket_id == ticket.id, SlaEvent.kind == "met",
                                                       SlaEvent.at == message.created_at,
                                                       SlaEvent.target != "resolution"))).all())
    if not stopped:
        return False
    standing = await session.scalar(select(Message.id).where(
        Message.ticket_id == ticket.id, Message.direction == "outbound", Message.auto_generated.is_(False),
        Message.delivery_status != "failed", Message.id != message.id, Message.created_at >= message.created_at
    ).limit(1))
    if standing is not None:
        return False
    rules = await sla_policies.load_policies(session)
    stamps = sla_policies.reply_failed(rules, ticket, message.created_at, utcnow(), stopped)
    await sla_events.record(session, stamps)
    return bool(stamps)


async def retry(session: AsyncSession, message_id: int) -> bool:
    """An agent's "retry" on a failed message: back to the queue."""
    result = await session.execute(
        update(Message)
        .where(Message.id == message_id, Message.delivery_status == "failed")
        .values(delivery_status="queued", next_attempt_at=None, delivery_attempts=0, updated_at=utcnow())
    )
    await session.commit()
    if result.rowcount:
        enqueue(message_id)
    return bool(result.rowcount)


async def sweep(session: AsyncSession, *, settings: Settings) -> dict[str, int]:
    """Re-enqueue queued rows whose broker message was lost; fail rows stuck mid-send.

    A row left `sending` by a crash may or may not have gone out; sending it again could
    send twice, so it is marked failed for an agent to retry knowingly.
    """
    now = utcnow()
    stale = now - timedelta(seconds=settings.outbox_stale_seconds)
    queued = list(
        await session.scalars(
            select(Message.id).where(
                Message.delivery_status == "queued",
                Message.updated_at < stale,
                or_(Message.next_attempt_at.is_(None), Message.next_attempt_at <= now),
            )
        )
    )
    stuck = await session.execute(
        update(Message)
        .where(Message.delivery_status == "sending", Message.updated_at < now - timedelta(minutes=10))
        .values(delivery_status="failed", updated_at=now,
                delivery_error="interrupted while sending; not retried automatically to avoid sending twice")
    )
    if queued:
        # touch the rows so the next sweep does not enqueue them again while they wait in the broker
        await session.execute(update(Message).where(Message.id.in_(queued)).values(updated_at=now))
    await session.commit()
    for message_id in queued:
        enqueue(message_id)
    return {"requeued": len(queued), "interrupted": stuck.rowcount or 0}


class _Loaded:
    """What the outbound messages of one batch need from the database, read in a few queries for all
    of them: their tickets, each ticket's last customer message on its channel (the recipient), and
    the chat conversations they answer."""

    __slots__ = ("tickets", "previous", "chat_accounts", "accounts")

    @classmethod
    async def read(cls, session: AsyncSession, messages: list[Message], settings: Settings) -> "_Loaded":
        loaded = cls()
        ticket_ids = {m.ticket_id for m in messages}
        loaded.tickets = {t.id: t for t in await session.scalars(select(Ticket).where(Ticket.id.in_(ticket_ids)))}
        latest = (select(func.max(Message.id)).join(Ticket, Ticket.id == Message.ticket_id)
                  .where(Message.ticket_id.in_(ticket_ids), Message.direction == "inbound",
                         Message.channel == Ticket.channel, Message.auto_generated.is_(False))
                  .group_by(Message.ticket_id))
        loaded.previous = {m.ticket_id: m for m in await session.scalars(select(Message).where(Message.id.in_(latest)))}
        chat_replies = [(loaded.tickets[m.ticket_id], m) for m in messages if m.channel == "chat"]
        loaded.chat_accounts = await chat.sending_accounts(session, chat_replies) if chat_replies else {}
        loaded.accounts = {}  # (channel, account) -> the mailbox or social account, read once per batch
        return loaded


async def _outbound(session: AsyncSession, message: Message, settings: Settings, loaded: _Loaded) -> Outbound:
    ticket = loaded.tickets[message.ticket_id]
    previous = loaded.previous.get(ticket.id)
    recipient = await _recipient(session, ticket, previous)
    agent_name = message.sender_name  # queue_reply wrote the agent's name there
    if agent_name is None and message.agent_id:
        agent_name = await session.scalar(select(Agent.name).where(Agent.id == message.agent_id))
    refs = list(previous.references or []) if previous else []
    if previous and previous.external_id and previous.external_id not in refs:
        refs.append(previous.external_id)
    return Outbound(
        message_id=message.id,
        ticket_id=ticket.id,
        ticket_number=ticket.number or ticket.id,
        channel=message.channel,
        recipient=recipient,
        cc=tuple(Identity(c["kind"], c["value"], c.get("name")) for c in (message.cc or [])),
        subject=ticket.subject,
        text=message.text,
        html=message.html,
        attachments=[
            OutAttachment(a.filename, a.content_type, read_blob(settings.attachments_dir, a.sha256), a.content_id, a.inline)
            for a in message.attachments
        ],
        external_id=message.external_id,
        in_reply_to=previous.external_id if previous else None,
        references=tuple(refs[-20:]),
        account=message.account or ticket.account,
        agent_name=agent_name,
        automatic=message.auto_generated,
        sending_account=await _sending_account(session, message, ticket, settings, loaded),
        extra={"platform_thread_id": ticket.platform_thread_id, "template": message.template,
               # the customer's last message on this channel: WhatsApp's 24-hour window (and Messenger's) runs from it
               "last_inbound_at": previous.created_at.isoformat() if previous else None,
               "reply_to": previous.external_id if previous else None},
    )


async def _sending_account(session: AsyncSession, message: Message, ticket: Ticket, settings: Settings,
                           loaded: _Loaded) -> dict | None:
    """What a `Sender` needs besides the message, so it never reads the database. Chat: the
    conversation, and the mailbox when the reply goes by email (helpdesk/chat/conversations.py);
    social: the account with its token (helpdesk/social/accounts.py)."""
    if message.channel == "chat":
        account = loaded.chat_accounts.get(message.id)
        if account and account["by_email"]:
            account["email_account"] = await sending_mailbox(session, None)
            account["by_email"] = account["email_account"] is not None  # no mailbox: it waits in the chat
        return account
    key = (message.channel, message.account or ticket.account)
    if key not in loaded.accounts:
        if message.channel in social_accounts.PLATFORMS:
            loaded.accounts[key] = await social_accounts.sending_account(session, settings, *key)
        elif message.channel == "email":
            loaded.accounts[key] = await sending_mailbox(session, key[1])
        else:
            loaded.accounts[key] = None
    account = loaded.accounts[key]
    return dict(account) if account is not None else None


async def sending_mailbox(session: AsyncSession, account: str | None) -> dict | None:
    """The mailbox a reply goes out through: the one that received the ticket, else the first one
    that can send (a chat or API ticket answered by email)."""
    query = select(Mailbox).where(Mailbox.smtp_host.is_not(None), Mailbox.active.is_(True))
    mailbox = None
    if account:
        mailbox = await session.scalar(query.where(func.lower(Mailbox.address) == account.lower()))
    if mailbox is None:
        mailbox = await session.scalar(query.order_by(Mailbox.id).limit(1))
    if mailbox is None:
        return None
    return {name: getattr(mailbox, name) for name in
            ("address", "name", "smtp_host", "smtp_port", "smtp_security", "smtp_user", "smtp_password")}


async def _recipient(session: AsyncSession, ticket: Ticket, previous: Message | None) -> Identity:
    """Reply to whoever wrote last on this channel (`previous`); else the customer's identity for it."""
    if previous is not None and previous.sender_value:
        return Identity(previous.sender_kind or ticket.channel, previous.sender_value, previous.sender_name)
    kind = "email" if ticket.channel == "email" else ticket.channel
    identity = await session.scalar(
        select(CustomerIdentity).where(CustomerIdentity.customer_id == ticket.customer_id, CustomerIdentity.kind == kind)
    )
    if identity is None:
        raise DeliveryError(f"the customer has no {kind} identity to reply to", retryable=False)
    name = await session.scalar(select(Customer.name).where(Customer.id == ticket.customer_id))
    return Identity(identity.kind, identity.value, name)


# -- mail to our own people ------------------------------------------------------------------------

async def mail_people(session: AsyncSession, letters, *, settings: Settings) -> int:
    """Mail from the helpdesk to its own people (an SLA warning, an escalation to a team lead): each
    letter has `email`, `name`, `subject`, `text`, `ticket_id`, `ticket_number`.

    There was no such path: the outbox sends a ticket's messages to its customer. This uses the same
    email `Sender` and sending mailbox as replies, marked automatic (Auto-Submitted) and as system mail
    (`extra["system"]`: the subject as given, no "[#N]" token that would thread an answer into the
    ticket). It stores nothing: the caller's record (the sweep's unique SlaEvent) makes it go once, so
    a crash after that COMMIT loses a mail rather than sending it twice. Best effort: a failure is
    logged (the console notification stands). Returns how many went out."""
    if not letters:
        return 0
    try:
        sender = sender_for("email")
    except DeliveryError as error:
        log.warning("no mail to agents: %s", error)
        return 0
    account = await sending_mailbox(session, None)
    sent = 0
    for letter in letters:
        outbound = Outbound(
            message_id=0, ticket_id=letter.ticket_id, ticket_number=letter.ticket_number, channel="email",
            recipient=Identity("email", letter.email, letter.name), cc=(), subject=letter.subject,
            text=letter.text, html=None, attachments=[],
            external_id=f"<system-{uuid.uuid4().hex}@{settings.mail_domain}>", automatic=True,
            sending_account=account, extra={"system": True},
        )
        try:
            await sender.send(outbound)
            sent += 1
        except DeliveryError as error:
            log.warning("mail to %s about ticket %s not sent: %s", letter.email, letter.ticket_number, error)
    return sent
