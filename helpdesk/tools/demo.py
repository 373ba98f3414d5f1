"""Realistic demo data: a small shop's customers, orders and conversations. Safe to run twice."""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from urllib.parse import urlsplit

from sqlalchemy import func, select, update

from helpdesk.channel import Identity, InboundMessage, ThreadKeys
from helpdesk.staff.agents import create_agent, ensure_team
from helpdesk.customers import identities
from helpdesk.customers.orders import ItemIn, OrderIn, upsert_orders_bulk
from helpdesk import db
from helpdesk.inbound.ingest import ingest
from helpdesk.inbound.mailboxes import add_mailbox, edit_mailbox
from helpdesk.chat.channels import create_channel
from helpdesk.models import (
    Agent, BusinessCalendar, ChatChannel, ChatConversation, Customer, CustomerIdentity, Mailbox, Message,
    SlaPolicy, Ticket,
)
from helpdesk.settings import Settings
from helpdesk.sla import events as sla_events
from helpdesk.sla import policies as sla_policies
from helpdesk.tickets import outbox
from helpdesk.tools import demo_social

DEMO_LOGIN = ("admin@demo.test", "demo-password")
DEMO_MAILBOX = "support@demo.test"  # the address the demo's email tickets came in at
DEMO_CHAT_KEY = "demo"  # the demo shop page's widget (channels/chat/widget/demo)
AGENTS = [
    ("admin@demo.test", "Alex Admin", "admin"),
    ("lena@demo.test", "Lena Lead", "lead"),
    ("bea@demo.test", "Bea Agent", "agent"),
    ("carlos@demo.test", "Carlos Agent", "agent"),
]
FIRST = ["Ann", "Ben", "Chloé", "Dmitri", "Eva", "Farah", "Gustav", "Hana", "Ivan", "Jana", "Kofi", "Lea", "Marta",
         "Nils", "Olga", "Pedro", "Qiu", "Rosa", "Sven", "Tomás", "Uma", "Vera", "Wen", "Xavier", "Yara", "Zoë"]
LAST = ["Becker", "Costa", "Dubois", "Eriksen", "Fischer", "García", "Hansen", "Ito", "Jovanović", "Kowalski",
        "Larsen", "Müller", "Novak", "Okafor", "Petrov", "Rossi", "Schmidt", "Tanaka", "Weber", "Zhang"]
PRODUCTS = [("TEA-001", "Sencha green tea 100 g", "8.90"), ("TEA-014", "Earl Grey 250 g", "12.50"),
            ("CUP-200", "Ceramic mug, blue", "14.00"), ("POT-300", "Glass teapot 1 l", "29.90"),
            ("SET-010", "Tasting set (6 teas)", "24.00"), ("ACC-050", "Bamboo tea scoop", "4.50"),
            ("TEA-220", "Rooibos vanilla 100 g", "7.90"), ("KET-900", "Gooseneck kettle", "59.00")]
TOPICS = [
    ("Where is my order?", "Hi, I ordered last week and the parcel has not arrived yet. Can you check order {order}?"),
    ("Damaged teapot", "The glass teapot from order {order} arrived cracked. Can I get a replacement?"),
    ("Change delivery address", "Can I still change the delivery address for {order}? I am moving on Friday."),
    ("Refund question", "I returned the kettle two weeks ago. When will the refund for {order} be processed?"),
    ("Wholesale inquiry", "We run a small café and would like to order tea in bulk. Do you offer wholesale prices?"),
    ("Wrong item received", "I received Earl Grey instead of Sencha in order {order}."),
    ("Discount code not working", "The code WINTER10 says it is invalid at checkout."),
    ("Invoice needed", "Could you send me an invoice with our VAT number for order {order}?"),
]
FOLLOW_UPS = ["Thanks! Any news?", "Here is a photo of the damage.", "That works for me, thank you.",
              "Sorry, one more question: do you ship to Norway?", "Still waiting on this, please help."]
AGENT_REPLIES = ["Thanks for reaching out! I have checked {order} and it is on its way; tracking follows by email.",
                 "I am sorry about that. A replacement is on its way at no cost to you.",
                 "Done: the address is updated. Anything else I can help with?",
                 "The refund was issued today; it takes 3–5 business days to show on your statement."]
CHANNELS = [("email", 0.5), ("chat", 0.2), ("whatsapp", 0.15), ("telegram", 0.1), ("messenger", 0.05)]


def _identity_for(channel: str, index: int, email: str, phone: str) -> Identity:
    if channel == "email":
        return Identity("email", email)
    if channel == "whatsapp":
        return Identity("whatsapp", phone)
    if channel == "chat":
        return Identity("chat", f"visitor-{index:04d}")
    return Identity(channel, demo_social.demo_user_id(channel, index))


def _demo_customer(sync_session, name: str, senders: list[Identity]) -> int:
    """The demo customer with these identities, made the way ingest makes customers (and found
    again on a second run); the first identity is the one they first wrote from."""
    conn = sync_session.connection()
    first, *others = [identities.normalise_identity(identity.kind, identity.value) for identity in senders]
    customer = identities.resolve_customer(conn, first, name, identities.known_customer(conn, first))
    for key in others:
        identities.add_identity(conn, customer.id, key, None)
    return customer.id


def chat_origins(settings: Settings) -> list[str]:
    """The demo's chat channel is for the demo's own pages: its base URL's origin, and any port on
    loopback (the demo runs wherever `serve --port` puts it). Never a real channel's setting."""
    base = urlsplit(settings.base_url)
    return [f"{base.scheme}://{base.netloc}", "http://127.0.0.1:*", "http://localhost:*"]


async def _seed_chat(session, settings: Settings, team_id: int) -> None:
    """The chat channel "demo" (the demo shop page's widget), and a conversation behind each demo
    chat ticket, so that an agent's reply to one has somewhere to go: by email to the customer,
    who is long gone from the chat (the demo's mail sink)."""
    channel = await session.scalar(select(ChatChannel).where(ChatChannel.key == DEMO_CHAT_KEY))
    if channel is None:
        channel = (await create_channel(
            session, settings, name="Demo Tea Shop", key=DEMO_CHAT_KEY, allowed_origins=chat_origins(settings),
            prechat_fields=["name", "email"], team_id=team_id, colour="#2f6b3a",
            greeting="Hi! Questions about tea, orders or deliveries? We are here.")).channel
    answered = select(ChatConversation.public_id)
    threads = (await session.execute(
        select(Ticket.platform_thread_id, func.max(Ticket.id), Ticket.customer_id, Customer.name)
        .join(Customer, Customer.id == Ticket.customer_id)
        .where(Ticket.channel == "chat", Ticket.platform_thread_id.is_not(None),
               Ticket.platform_thread_id.not_in(answered))
        .group_by(Ticket.platform_thread_id, Ticket.customer_id, Customer.name))).all()
    long_ago = datetime.now(timezone.utc) - timedelta(days=1)
    for thread, ticket_id, customer_id, name in threads:
        email = await session.scalar(select(CustomerIdentity.value).where(
            CustomerIdentity.customer_id == customer_id, CustomerIdentity.kind == "email").limit(1))
        session.add(ChatConversation(public_id=thread, channel_id=channel.id, ticket_id=ticket_id,
                                     customer_id=customer_id, name=name, email=email, last_seen_at=long_ago,
                                     created_at=long_ago, visitor_last_read_id=0, agent_last_read_id=0))
    await session.commit()


async def send_demo_mail_through(session, host: str, port: int) -> None:
    """The demo mailbox sends through this SMTP server (`serve --demo`'s local sink, on a new port
    each run): added on the first run, pointed at the new port on the next. It reads no IMAP."""
    sending = {"smtp_host": host, "smtp_port": str(port), "smtp_security": "none"}
    mailbox_id = await session.scalar(select(Mailbox.id).where(Mailbox.address == DEMO_MAILBOX))
    if mailbox_id is None:
        await add_mailbox(session, {"address": DEMO_MAILBOX, "name": "Demo Tea Shop", **sending})
    else:
        await edit_mailbox(session, mailbox_id, {**sending, "active": True})


async def seed_demo(settings: Settings, *, customers: int = 60, tickets: int = 220,
                    progress: bool = False, mail_relay: tuple[str, int] | None = None,
                    platforms_url: str | None = None) -> tuple[str, str]:
    """Seed (or complete) the demo data set; returns the demo admin's (email, password).
    With a `mail_relay` (host, port), the demo mailbox sends its replies through it; the social
    accounts send to the platform simulator at `platforms_url` (default: the demo server's own)."""
    rng = random.Random(42)
    sessions = db.sessions(settings)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    try:
        async with sessions() as session:
            if mail_relay:
                await send_demo_mail_through(session, *mail_relay)
            await demo_social.seed_social_accounts(
                session, settings, platforms_url or settings.base_url + demo_social.DEMO_PLATFORMS_PATH)
            team_id = await ensure_team(session, "Support")
            await session.commit()
            for email, name, role in AGENTS:
                if await session.scalar(select(Agent.id).where(Agent.email == email)) is None:
                    password = DEMO_LOGIN[1] if email == DEMO_LOGIN[0] else "demo-password"
                    agent = await create_agent(session, email=email, name=name, role=role, password=password)
                    agent.team_id = team_id
                    await session.commit()
            agent_ids = list(await session.scalars(select(Agent.id).order_by(Agent.id)))
            if await session.scalar(select(SlaPolicy.id).where(SlaPolicy.name == "Standard")) is None:
                calendar = BusinessCalendar(
                    name="Office hours", timezone="Europe/Berlin",
                    weekly_hours={d: [["08:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
                    holidays=["2026-12-24", "2026-12-25", "2026-12-26", "2027-01-01"])
                session.add(calendar)
                await session.flush()
                session.add_all([
                    SlaPolicy(name="Urgent", position=0, match_priority="urgent", calendar_id=None,
                              first_response_minutes=60, next_response_minutes=120, resolution_minutes=8 * 60),
                    SlaPolicy(name="Standard", position=10, calendar_id=calendar.id,
                              first_response_minutes=4 * 60, next_response_minutes=8 * 60,
                              resolution_minutes=3 * 10 * 60),
                ])
                await session.commit()

        people = []
        async with sessions() as session:
            for i in range(customers):
                first, last = FIRST[i % len(FIRST)], LAST[(i * 7) % len(LAST)]
                name = f"{first} {last}"
                email = f"{first.lower()}.{last.lower()}{i}@example.com".encode("ascii", "ignore").decode()
                phone = f"+49151{1000000 + i * 7919:07d}"
                channels = ["email"]
                for channel, _ in CHANNELS[1:]:
                    if channel == "chat" or rng.random() < 0.5:
                        channels.append(channel)
                await session.run_sync(
                    _demo_customer, name, [_identity_for(channel, i, email, phone) for channel in channels])
                orders = []
                shop_orders = []  # through the one order upsert, as a shop's webhook sends them
                for k in range(rng.randint(1, 5)):
                    external_id = f"demo-{i}-{k}"
                    picks = [(*p, rng.randint(1, 3)) for p in rng.sample(PRODUCTS, rng.randint(1, 3))]
                    status, age = rng.choice(["paid", "fulfilled", "fulfilled", "refunded", "open"]), rng.randint(1, 400)
                    items = tuple(ItemIn(title, qty, Decimal(price), sku=sku) for sku, title, price, qty in picks)
                    placed_at = now - timedelta(days=age)
                    shop_orders.append(OrderIn(
                        source="demo", external_id=external_id, number=f"#{10000 + i * 10 + k}", status=status,
                        currency="EUR", total=sum(it.unit_price * it.quantity for it in items), placed_at=placed_at,
                        updated_at=placed_at, email=email, name=name, items=items))
                    orders.append(shop_orders[-1].number)
                await upsert_orders_bulk(session, shop_orders)
                people.append((i, name, email, phone, orders, channels))
            await session.commit()

        # per ticket, of the messages this run stored (a second run leaves later activity alone)
        last_message_at: dict[int, datetime] = {}
        for n in range(tickets):
            i, name, email, phone, orders, channels = rng.choice(people)
            channel = rng.choices([c for c, _ in CHANNELS], weights=[w for _, w in CHANNELS])[0]
            channel = channel if channel in channels else "email"
            subject, body = rng.choice(TOPICS)
            order = rng.choice(orders)
            sender = _identity_for(channel, i, email, phone)
            sender = Identity(sender.kind, sender.value, name)
            started = now - timedelta(days=rng.uniform(0, 30), minutes=rng.randint(0, 600))
            turns = rng.randint(1, 4)
            last_ticket = None
            previous_id = None
            for turn in range(turns):
                at = started + timedelta(hours=turn * rng.uniform(1, 20))
                if at > now:
                    break
                if turn % 2 == 0:
                    external_id = (f"<demo-{n}-{turn}@example.com>" if channel == "email" else f"demo-{n}-{turn}")
                    social = demo_social.DEMO_ACCOUNTS.get(channel)  # the account it came in through
                    message = InboundMessage(
                        channel=channel, external_id=external_id, sender=sender,
                        subject=subject if channel == "email" else None,
                        text=(body.format(order=order) if turn == 0 else rng.choice(FOLLOW_UPS)), html=None,
                        attachments=[], received_at=at,
                        account=DEMO_MAILBOX if channel == "email" else social.external_id if social else None,
                        thread_keys=ThreadKeys(in_reply_to=previous_id, platform_thread_id=(
                            None if channel == "email" else demo_social.demo_thread(channel, sender.value) if social
                            else f"demo-thread-{n}")))
                    async with sessions() as session:
                        result = await ingest(session, message, settings=settings)
                    last_ticket, previous_id = result.ticket_id, external_id
                    if not result.duplicate:
                        last_message_at[last_ticket] = max(at, last_message_at.get(last_ticket, at))
                else:
                    external_id = f"<demo-reply-{n}-{turn}@{settings.mail_domain}>"
                    agent_id, reply = rng.choice(agent_ids), rng.choice(AGENT_REPLIES).format(order=order)
                    status = rng.choice(["open", "pending", "solved", "solved", "closed"])
                    async with sessions() as session:
                        if await session.scalar(select(Message.id).where(Message.channel == channel,
                                                                         Message.external_id == external_id)):
                            previous_id = external_id
                            continue
                        last_message_at[last_ticket] = max(at, last_message_at.get(last_ticket, at))
                        ticket = await session.get(Ticket, last_ticket)
                        session.add(Message(ticket_id=ticket.id, direction="outbound", channel=channel,
                                            external_id=external_id, agent_id=agent_id,
                                            text=reply,
                                            delivery_status="sent", sent_at=at, created_at=at, updated_at=at))
                        ticket.assignee_id = agent_id
                        ticket.last_outbound_at = at
                        # the clocks move as they would have then: met, paused when pending, stopped when solved
                        rules = await sla_policies.load_policies(session)
                        stamps = sla_policies.agent_replied(rules, ticket, at)
                        stamps += outbox.set_status(ticket, status, at, rules=rules)
                        await sla_events.record(session, stamps)
                        await session.commit()
                    previous_id = external_id
            if progress and (n + 1) % 50 == 0:
                print(f"demo: {n + 1}/{tickets} conversations", flush=True)
        # ingest and the console stamp the moment they store something; the seed replays history,
        # so a ticket's last activity is its last message, not the moment of seeding
        async with sessions() as session:
            for ticket_id, at in last_message_at.items():
                await session.execute(update(Ticket).where(Ticket.id == ticket_id).values(updated_at=at))
            await session.commit()
        async with sessions() as session:
            await _seed_chat(session, settings, team_id)
    finally:
        await db.dispose_sessions()
    return DEMO_LOGIN
