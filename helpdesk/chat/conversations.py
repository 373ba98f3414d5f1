"""A visitor's conversation: started or resumed by the session call, linked to a customer record,
and read back as the widget's message frames.

A conversation's messages are found by their `external_id`, which starts with the conversation's
public id (`<public_id>:<widget UUID>` for the visitor's, `<public_id>:out-…` for the replies the
outbox numbers), through the `(channel, external_id)` unique index: never by a ticket id, so a
merge, a split or a new ticket after a closed one can never show a visitor anything but their own
messages. Every chat message's sender is the identity `("chat", <public_id>)`, attached at session
time to the customer the visitor named or proved to be (`customers.identities`), or made into a new
customer by ingest on the first message of an anonymous visitor.
"""
from __future__ import annotations

import secrets as random
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from helpdesk import live
from helpdesk.chat import tokens
from helpdesk.chat.channels import identity_secret
from helpdesk.chat.tokens import TokenInvalid, VerifiedUser
from helpdesk.customers import identities
from helpdesk.customers.identities import InvalidIdentity
from helpdesk.models import (
    Attachment, ChatChannel, ChatConversation, CustomerIdentity, Message, Ticket, utcnow,
)
from helpdesk.settings import Settings

CHANNEL = "chat"
AWAY = timedelta(minutes=2)  # a visitor not connected for this long gets replies by email, if we have one
HISTORY_LIMIT = 500  # messages in one `history` frame (the newest)


class ChatRefused(ValueError):
    """The visitor asked for something the channel does not allow (403) or sent a value that is
    not one (400); the message says what."""

    def __init__(self, message: str, *, status: int = 403) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class SessionRequest:
    token: str | None = None
    identity_token: str | None = None
    user_id: str | None = None
    user_hash: str | None = None
    name: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class StartedSession:
    conversation: ChatConversation
    token: str
    resumed: bool

    def answer(self) -> dict:
        c = self.conversation
        return {"token": self.token, "verified": c.verified, "name": c.name, "email": c.email}


def chat_identity(public_id: str) -> tuple[str, str]:
    return ("chat", public_id)


def verified_identity(channel: ChatChannel, sub: str) -> tuple[str, str]:
    return ("chat_user", f"{channel.key}:{sub}")


async def start_session(session: AsyncSession, settings: Settings, channel: ChatChannel, request: SessionRequest,
                        *, origin: str | None) -> StartedSession:
    """Resume the conversation of a valid visitor token, or start a new one; link it to a customer.

    A signed identity (JWT or user_hash) that does not check out is refused (TokenInvalid). A
    verified conversation is resumed only for the same signed-in user: without the signature (the
    user signed out, someone else uses the browser) a new conversation starts."""
    user = _verified_user(settings, channel, request)
    email = _email(request.email, channel, verified=user is not None)
    name = (request.name or "").strip()[:200] or (user.name if user else None)

    conversation = await _resumable(session, settings, channel, request.token, user)
    resumed = conversation is not None
    if conversation is None:
        conversation = ChatConversation(public_id=random.token_urlsafe(24), channel_id=channel.id, origin=origin,
                                        visitor_last_read_id=0, agent_last_read_id=0, verified=False)
        session.add(conversation)
        await session.flush()
    if name:
        conversation.name = name
    if user is not None:
        conversation.email = user.email or email or conversation.email
        conversation.verified = True
        await _link(session, conversation, verified_identity(channel, user.sub), name,
                    also=[(("email", user.email), True)] if user.email else [], verified=True)
        if email and email != user.email:
            await _link(session, conversation, ("email", email), name, also=[], verified=False, keep_customer=True)
    elif email:
        await _give_email(session, conversation, email, name)
    conversation.last_seen_at = utcnow()
    await session.commit()
    token = tokens.visitor_token(settings, conversation=conversation.public_id, channel_key=channel.key)
    return StartedSession(conversation, token, resumed)


def _verified_user(settings: Settings, channel: ChatChannel, request: SessionRequest) -> VerifiedUser | None:
    if request.identity_token:
        return tokens.verify_identity_token(request.identity_token, identity_secret(settings, channel))
    if request.user_id or request.user_hash:
        return tokens.verify_user_hash(request.user_id or "", request.user_hash or "",
                                       identity_secret(settings, channel))
    return None


async def give_email(session: AsyncSession, channel: ChatChannel, conversation: ChatConversation, email: str,
                     name: str | None = None) -> None:
    """The visitor gives an email later (the offline form, a transcript): the pre-chat form's rules (commits)."""
    address = _email(email, channel, verified=conversation.verified)
    if address is None:
        raise ChatRefused("an email address, please", status=400)
    if name and name.strip():
        conversation.name = name.strip()[:200]
    if address != conversation.email:
        await _give_email(session, conversation, address, conversation.name)
    await session.commit()


async def _give_email(session: AsyncSession, conversation: ChatConversation, email: str, name: str | None) -> None:
    """An unverified email: links the chat to that email's customer (made if new) while nothing
    has been said, else the email joins the conversation's customer if nobody has it."""
    conversation.email = email
    await _link(session, conversation, ("email", email), name, also=[], verified=False)


def _email(value: str | None, channel: ChatChannel, *, verified: bool) -> str | None:
    if not value or not value.strip():
        return None
    if not verified and channel.enforce_verification:
        raise ChatRefused("this chat takes an email address from signed-in customers only")
    try:
        return identities.normalise_identity("email", value)[1][:320]
    except InvalidIdentity:
        raise ChatRefused(f"not an email address: {value.strip()[:80]!r}", status=400) from None


async def _resumable(session: AsyncSession, settings: Settings, channel: ChatChannel, token: str | None,
                     user: VerifiedUser | None) -> ChatConversation | None:
    if not token:
        return None
    try:
        public_id = tokens.visitor_conversation(settings, token, channel_key=channel.key)
    except TokenInvalid:
        return None  # an expired or foreign token: a fresh conversation, not an error
    conversation = await conversation_of(session, channel, public_id)
    if conversation is None:
        return None
    if user is None:
        return None if conversation.verified else conversation
    owner = await _customer_of(session, verified_identity(channel, user.sub))
    if conversation.verified:
        return conversation if owner is not None and owner == conversation.customer_id else None
    # an anonymous chat becomes the signed-in user's only while nothing has been said in it
    return conversation if conversation.ticket_id is None else None


async def conversation_of(session: AsyncSession, channel: ChatChannel, public_id: str) -> ChatConversation | None:
    return await session.scalar(select(ChatConversation).where(ChatConversation.public_id == public_id,
                                                               ChatConversation.channel_id == channel.id))


async def conversation_for_token(session: AsyncSession, settings: Settings, channel: ChatChannel,
                                 token: str | None) -> ChatConversation:
    """The conversation a visitor token names, on this channel; TokenInvalid otherwise."""
    public_id = tokens.visitor_conversation(settings, token, channel_key=channel.key)
    conversation = await conversation_of(session, channel, public_id)
    if conversation is None:
        raise TokenInvalid("visitor token: no such conversation")
    return conversation


async def _customer_of(session: AsyncSession, identity: tuple[str, str]) -> int | None:
    known = await session.run_sync(lambda s: identities.known_customer(s.connection(), identity))
    return known.id if known else None


async def _link(session: AsyncSession, conversation: ChatConversation, primary: tuple[str, str], name: str | None,
                *, also: list[tuple[tuple[str, str], bool]], verified: bool, keep_customer: bool = False) -> None:
    """Link the conversation to the customer owning `primary` (made if nobody does), who also gets
    the conversation's `chat` identity and the identities in `also`. A conversation that has a
    ticket keeps its customer (an agent merges records); the identities go to that customer if free."""
    primary = identities.normalise_identity(*primary)
    also = [(identities.normalise_identity(*key), flag) for key, flag in also]
    chat = chat_identity(conversation.public_id)
    keep = keep_customer or conversation.ticket_id is not None

    def link(sync_session) -> int:
        conn = sync_session.connection()
        if keep and conversation.customer_id is not None:
            customer_id = conversation.customer_id
            for key in [primary, *(k for k, _ in also)]:
                identities.add_identity(conn, customer_id, key, name)
        else:
            known = identities.known_customer(conn, primary)
            for key, _ in also:  # a verified user's email may already be a customer's: theirs, then
                known = known or identities.known_customer(conn, key)
            customer_id = identities.resolve_customer(conn, primary, name, known).id
            for key in [primary, *(k for k, _ in also)]:
                identities.add_identity(conn, customer_id, key, name)
            conn.execute(update(CustomerIdentity)
                         .where(CustomerIdentity.kind == chat[0], CustomerIdentity.value == chat[1])
                         .values(customer_id=customer_id))  # an earlier answer's link, before anything was said
            identities.add_identity(conn, customer_id, chat, name)
        proven = [primary, chat] if verified else []  # the chat too: the console marks it verified
        proven += [key for key, flag in also if flag]
        for kind, value in proven:
            conn.execute(update(CustomerIdentity)
                         .where(CustomerIdentity.customer_id == customer_id, CustomerIdentity.kind == kind,
                                CustomerIdentity.value == value)
                         .values(verified=True))
        return customer_id

    conversation.customer_id = await session.run_sync(link)


async def after_message(session: AsyncSession, conversation: ChatConversation, *, ticket_id: int,
                        customer_id: int, seen: bool = True) -> None:
    """What a stored visitor message tells the conversation: its (current) ticket and customer."""
    if conversation.ticket_id != ticket_id:
        taken = await session.scalar(select(ChatConversation.id).where(ChatConversation.ticket_id == ticket_id,
                                                                      ChatConversation.id != conversation.id))
        if taken is None:  # a merged-into ticket that another conversation already names keeps that one
            conversation.ticket_id = ticket_id
    conversation.customer_id = conversation.customer_id or customer_id
    # a message left offline: the visitor is gone, and replies go by email at once
    conversation.last_seen_at = utcnow() if seen else min(conversation.last_seen_at, utcnow() - AWAY)
    await session.commit()


# -- messages as the widget sees them ---------------------------------------------------------------

def external_id(public_id: str, local_id: str) -> str:
    return f"{public_id}:{local_id}"


def _own_messages(public_id: str):
    """The conversation's messages: the `(channel, external_id)` index's range of its prefix."""
    return and_(Message.channel == CHANNEL, Message.external_id > f"{public_id}:",
                Message.external_id < f"{public_id};",  # ';' follows ':'; public ids have neither
                or_(Message.direction == "inbound",
                    and_(Message.direction == "outbound", Message.delivery_status.in_(("sending", "sent")))))


def message_frame(message: Message, attachments: list[Attachment] | None = None) -> dict:
    local = (message.external_id or "").split(":", 1)[-1]
    files = message.attachments if attachments is None else attachments
    return {
        "seq": message.id, "id": local, "from": "visitor" if message.direction == "inbound" else "agent",
        "name": message.sender_name, "text": message.text or "", "at": iso(message.created_at),
        "attachments": [{"id": a.id, "filename": a.filename, "size": a.size, "content_type": a.content_type}
                        for a in files],
    }


def iso(at: datetime | None) -> str | None:
    return at.isoformat().replace("+00:00", "Z") if at else None


async def history(session: AsyncSession, public_id: str, after: int = 0) -> list[dict]:
    """Every message after `after`, oldest first (at most the newest HISTORY_LIMIT).

    Also the replies delivered since message `after` was stored though numbered before it (a reply
    is numbered when queued, shown when delivered): the widget drops a seq it already shows."""
    own = _own_messages(public_id)
    newer = Message.id > after
    if after > 0:
        since = await session.scalar(select(Message.created_at).where(own, Message.id == after))
        if since is not None:
            newer = or_(newer, and_(Message.direction == "outbound", Message.id < after, Message.updated_at >= since))
    rows = list(await session.scalars(select(Message).where(own, newer).order_by(Message.id.desc())
                                      .limit(HISTORY_LIMIT).options(selectinload(Message.attachments))))
    return [message_frame(m) for m in reversed(rows)]


async def replies_sent_between(session: AsyncSession, since: datetime,
                               until: datetime) -> list[tuple[str, int, datetime]]:
    """(public id, seq, when) of the agents' replies marked sent in (since, until]: what the sockets'
    catch-up compares with what they carried (channels/chat/socket.py). One range read of the
    outbox's (delivery_status, updated_at) index, whatever the number of conversations."""
    rows = await session.execute(select(Message.external_id, Message.id, Message.updated_at).where(
        Message.delivery_status == "sent", Message.updated_at > since, Message.updated_at <= until,
        Message.channel == CHANNEL, Message.direction == "outbound"))
    return [(external.split(":", 1)[0], seq, at) for external, seq, at in rows if external and ":" in external]


async def stored_frame(session: AsyncSession, public_id: str, seq: int) -> dict | None:
    message = await session.scalar(select(Message).where(_own_messages(public_id), Message.id == seq)
                                   .options(selectinload(Message.attachments)))
    return message_frame(message) if message is not None else None


async def visitor_attachment(session: AsyncSession, public_id: str, attachment_id: int) -> Attachment | None:
    """A file of one of the conversation's own messages; None for any other (whoever's it is)."""
    return await session.scalar(select(Attachment).join(Message, Message.id == Attachment.message_id)
                                .where(Attachment.id == attachment_id, _own_messages(public_id)))


async def transcript(session: AsyncSession, conversation: ChatConversation, *, before: int | None = None) -> str:
    """The conversation as plain text, oldest first: "[2026-12-01 14:02 UTC] Ann: Hello"."""
    lines = []
    for frame in await history(session, conversation.public_id):
        if before is not None and frame["seq"] >= before:
            continue
        who = frame["name"] or ("You" if frame["from"] == "visitor" else "Support")
        at = frame["at"][:16].replace("T", " ") + " UTC" if frame["at"] else ""
        files = "".join(f"\n    (file: {a['filename']})" for a in frame["attachments"])
        lines.append(f"[{at}] {who}: {frame['text']}{files}")
    return "\n".join(lines)


# -- the visitor's side, as seen by the others --------------------------------------------------------

async def mark_visitor_read(session: AsyncSession, conversation: ChatConversation, seq: int) -> int | None:
    """The visitor has seen everything up to `seq` (never backwards); the new mark, or None if unchanged."""
    if seq <= conversation.visitor_last_read_id:
        return None
    newest = await session.scalar(select(Message.id).where(_own_messages(conversation.public_id), Message.id <= seq)
                                  .order_by(Message.id.desc()).limit(1))
    if newest is None or newest <= conversation.visitor_last_read_id:
        return None
    conversation.visitor_last_read_id = newest
    await session.commit()
    return newest


async def touch(session: AsyncSession, public_ids: list[str]) -> None:
    """These visitors are connected now (one statement per chunk: the sockets of a web process)."""
    now = utcnow()
    for start in range(0, len(public_ids), 500):
        chunk = public_ids[start:start + 500]
        await session.execute(update(ChatConversation).where(ChatConversation.public_id.in_(chunk))
                              .values(last_seen_at=now))
    await session.commit()


# -- the agents' side -----------------------------------------------------------------------------

async def conversation_of_ticket(session: AsyncSession, ticket: Ticket) -> ChatConversation | None:
    if ticket.channel != CHANNEL or not ticket.platform_thread_id:
        return None
    return await session.scalar(select(ChatConversation).where(ChatConversation.public_id == ticket.platform_thread_id))


async def conversation_of_ticket_id(session: AsyncSession, ticket_id: int) -> ChatConversation | None:
    """The chat behind a ticket, by the ticket's id (None for any other channel's ticket)."""
    ticket = await session.get(Ticket, ticket_id)
    return await conversation_of_ticket(session, ticket) if ticket is not None else None


def seen_reply(messages: list[Message], conversation: ChatConversation | None) -> int | None:
    """The newest agent reply the visitor has read: the console writes "Seen" under it."""
    if conversation is None or not conversation.visitor_last_read_id:
        return None
    return max((m.id for m in messages if m.direction == "outbound" and m.id <= conversation.visitor_last_read_id
                and m.delivery_status == "sent"), default=None)


async def sending_account(session: AsyncSession, ticket: Ticket, message: Message) -> dict | None:
    """What the chat sender needs to deliver an agent's reply, so it never reads the database: the
    conversation, the message frame, and whether it goes by email (the visitor away for AWAY and an
    email known), then with the transcript so far."""
    return (await sending_accounts(session, [(ticket, message)])).get(message.id)


async def sending_accounts(session: AsyncSession, replies: list[tuple[Ticket, Message]]) -> dict[int, dict]:
    """`sending_account` of several replies (the outbox delivers chat replies in batches), keyed by
    message id, with one query for all their conversations."""
    threads = {ticket.platform_thread_id for ticket, _ in replies
               if ticket.channel == CHANNEL and ticket.platform_thread_id}
    if not threads:
        return {}
    found = {conversation.public_id: (conversation, channel_name) for conversation, channel_name in (
        await session.execute(
            select(ChatConversation, ChatChannel.name).join(ChatChannel, ChatChannel.id == ChatConversation.channel_id)
            .where(ChatConversation.public_id.in_(threads)))).all()}
    away_since = utcnow() - AWAY
    accounts = {}
    for ticket, message in replies:
        if ticket.channel != CHANNEL or ticket.platform_thread_id not in found:
            continue
        conversation, channel_name = found[ticket.platform_thread_id]
        by_email = conversation.email is not None and conversation.last_seen_at < away_since
        accounts[message.id] = {
            "conversation": conversation.public_id,
            "channel_name": channel_name,
            "frame": message_frame(message),
            "by_email": by_email,
            "email": conversation.email,
            "name": conversation.name,
            "transcript": await transcript(session, conversation, before=message.id) if by_email else None,
        }
    return accounts


async def agent_read(session: AsyncSession, ticket: Ticket) -> None:
    """An agent opened a chat ticket: the visitor's messages so far are read (published as `read`)."""
    conversation = await conversation_of_ticket(session, ticket)
    if conversation is None:
        return
    newest = await session.scalar(select(Message.id).where(_own_messages(conversation.public_id),
                                                           Message.direction == "inbound")
                                  .order_by(Message.id.desc()).limit(1))
    if newest is None or newest <= conversation.agent_last_read_id:
        return
    conversation.agent_last_read_id = newest
    await session.commit()
    live.publish(live.chat_channel(conversation.public_id), {"type": "read", "from": "agent", "seq": newest})


async def agent_typing(session: AsyncSession, ticket_id: int, name: str, typing: bool) -> None:
    """An agent's typing state on a chat ticket, to the visitor (first name only)."""
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None or ticket.channel != CHANNEL or not ticket.platform_thread_id:
        return
    live.publish(live.chat_channel(ticket.platform_thread_id),
                 {"type": "typing", "from": "agent", "name": (name or "").split(" ")[0], "state": typing})


# -- live -----------------------------------------------------------------------------------------

# The local relay carries at most 16 KiB a datagram and JSON escapes non-ASCII text six-fold: a long
# message goes out as a reference, and each socket reads it from the database.
INLINE_FRAME_BYTES = 8000


def publish_message(public_id: str, frame: dict) -> None:
    """A message of the conversation, to its sockets (every web process) through `chat:{public_id}`."""
    event = {"type": "message", **frame}
    if len(frame.get("text", "")) * 6 + 1000 > INLINE_FRAME_BYTES:
        event = {"type": "message", "seq": frame["seq"], "ref": True}
    live.publish(live.chat_channel(public_id), event)
