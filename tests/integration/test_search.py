"""Ticket search on SQLite (FTS5) and PostgreSQL (tsvector + GIN), fed through the real ingest path."""
from __future__ import annotations

import pytest
from sqlalchemy import delete, select, update

from helpdesk.inbound.ingest import ingest
from helpdesk.models import Customer, CustomerIdentity, Message, Ticket
from helpdesk.tickets.search import search
from tests.factories import inbound


async def add(session, settings, **kwargs) -> int:
    return (await ingest(session, inbound(**kwargs), settings=settings)).ticket_id


async def ids(session, query: str) -> list[int]:
    return [hit.ticket_id for hit in await search(session, query)]


async def test_finds_ticket_by_word_from_message_body(session, settings):
    wanted = await add(session, settings, sender="ann@example.com", subject="Parcel",
                       text="The blender arrived with a cracked jug.")
    await add(session, settings, sender="bob@example.com", subject="Invoice", text="Please send the invoice again.")
    hits = await search(session, "jug")
    assert [hit.ticket_id for hit in hits] == [wanted]
    hit = hits[0]
    assert hit.subject == "Parcel" and hit.customer_name == "Ann Example" and hit.channel == "email"
    assert hit.status and hit.number is not None and hit.rank > 0
    assert "<mark>jug</mark>" in hit.snippet


async def test_finds_ticket_by_customer_name_and_email_identity(session, settings):
    wanted = await add(session, settings, sender="zoe.quartermain@example.org", name="Zoë Quartermain",
                       subject="Hello", text="Hi there")
    await add(session, settings, sender="bob@example.com", name="Bob Builder", subject="Hello", text="Hi there")
    assert await ids(session, "quartermain") == [wanted]
    assert await ids(session, "zoe.quartermain@example.org") == [wanted]
    assert await ids(session, "zoe.quartermain@exa") == [wanted]  # typed half-way
    assert await ids(session, "zoe quartermain") == [wanted]


async def test_finds_ticket_by_subject_prefix_as_you_type(session, settings):
    wanted = await add(session, settings, subject="Refrigerator door squeaks", text="Noise")
    await add(session, settings, sender="bob@example.com", subject="Return label", text="Noise")
    assert await ids(session, "refri") == [wanted]
    assert await ids(session, "door squ") == [wanted]
    assert await ids(session, "squ door") == []  # only the last word is a prefix


async def test_subject_match_ranks_above_body_match(session, settings):
    in_body = await add(session, settings, sender="bob@example.com", subject="Question",
                        text="Something about the warranty and many other words of a longer message.")
    in_subject = await add(session, settings, sender="cy@example.com", subject="Warranty claim", text="See title.")
    assert await ids(session, "warranty") == [in_subject, in_body]


async def test_identity_and_name_changes_reach_the_index(session, settings):
    ticket_id = await add(session, settings, sender="dee@example.com", name="Dee", subject="Hi", text="Hi")
    ticket = await session.get(Ticket, ticket_id)
    await session.execute(update(Customer).where(Customer.id == ticket.customer_id).values(name="Delphine Okafor"))
    session.add(CustomerIdentity(customer_id=ticket.customer_id, kind="whatsapp", value="+4915112345678"))
    await session.commit()
    assert await ids(session, "okafor") == [ticket_id]
    assert await ids(session, "4915112345678") == [ticket_id]
    await session.execute(delete(CustomerIdentity).where(CustomerIdentity.kind == "whatsapp"))
    await session.commit()
    assert await ids(session, "4915112345678") == []


async def test_merged_messages_are_found_under_the_surviving_ticket(session, settings):
    survivor = await add(session, settings, sender="eve@example.com", subject="Broken kettle", text="It leaks.")
    merged = await add(session, settings, sender="eve@example.com", subject="Another thing",
                       text="Also the toaster sparks.", external_id="<other@example.com>")
    assert survivor != merged
    assert await ids(session, "toaster") == [merged]
    await session.execute(update(Message).where(Message.ticket_id == merged).values(ticket_id=survivor))
    await session.execute(update(Ticket).where(Ticket.id == merged).values(merged_into_id=survivor))
    await session.commit()
    assert await ids(session, "toaster") == [survivor]
    # and an edited or deleted message leaves the index
    await session.execute(update(Message).where(Message.ticket_id == survivor).values(text="Fixed now."))
    await session.commit()
    assert await ids(session, "toaster") == []
    assert await ids(session, "fixed") == [survivor]


async def test_deleted_ticket_leaves_the_index(session, settings):
    ticket_id = await add(session, settings, subject="Ephemeral", text="gone soon")
    await session.execute(delete(Message).where(Message.ticket_id == ticket_id))
    await session.execute(delete(Ticket).where(Ticket.id == ticket_id))
    await session.commit()
    assert await ids(session, "ephemeral") == []


@pytest.mark.parametrize("query", ['"', '*', 'OR', 'AND NOT', '-', ':', "'", '\\', 'subject:foo', 'a" OR "b',
                                   'NEAR(a b)', '(', ')', '^', '&|!', "o'brien", '%_', '😀', 'x' * 500])
async def test_query_syntax_characters_do_not_raise(session, settings, query):
    await add(session, settings, subject="Plain", text="OR and NOT are words too, said O'Brien")
    assert isinstance(await search(session, query), list)


async def test_operators_are_plain_words(session, settings):
    wanted = await add(session, settings, subject="Plain", text="This OR that, said O'Brien")
    assert await ids(session, "or") == [wanted]
    assert await ids(session, "o'brien") == [wanted]


@pytest.mark.parametrize("query", ["", "   ", "-", "***"])
async def test_empty_query_returns_nothing(session, settings, query):
    await add(session, settings, subject="Anything", text="at all")
    assert await search(session, query) == []


async def test_snippet_escapes_html(session, settings):
    await add(session, settings, subject="Markup", text="<script>alert(1)</script> my gizmo & <b>gadget</b>")
    (hit,) = await search(session, "gizmo")
    assert "<script>" not in hit.snippet and "&lt;script&gt;" in hit.snippet
    assert "<mark>gizmo</mark> &amp; &lt;b&gt;gadget" in hit.snippet


async def test_limit_caps_results(session, settings):
    for n in range(5):
        await add(session, settings, sender=f"c{n}@example.com", subject=f"Lamp {n}", text="lamp flickers")
    assert len(await search(session, "lamp", limit=3)) == 3
    assert len(await ids(session, "lamp")) == 5


async def test_a_batch_keeps_every_touched_document_current(session, settings):
    """ingest_many rebuilds documents once per batch (PostgreSQL defers the triggers): new tickets,
    replies, and the older tickets of a customer the batch gave a name to are all findable."""
    from helpdesk.inbound.ingest import ingest_many

    nameless = await add(session, settings, sender="quiet@example.com", name=None, subject="Kettle",
                         text="It whistles.")
    assert await ids(session, "Quixote") == []
    batch = [
        inbound(sender="quiet@example.com", name="Quentin Quixote", subject="Toaster", text="Sparks fly.",
                external_id="<named@example.com>"),
        inbound(sender="bob@example.com", subject="Blender", text="The lid cracked.", external_id="<bob@example.com>"),
        inbound(sender="bob@example.com", subject="Re: Blender", text="Also the jug wobbles.",
                in_reply_to="<bob@example.com>", external_id="<bob-2@example.com>"),
    ]
    named, blender, reply = await ingest_many(session, batch, settings=settings)
    assert not isinstance(named, Exception), repr(named)
    assert sorted(await ids(session, "Quixote")) == sorted([nameless, named.ticket_id])
    assert await ids(session, "wobbles") == [blender.ticket_id] == [reply.ticket_id]
    assert await ids(session, "sparks") == [named.ticket_id]
    # a writer that does not defer still has the triggers (here: an agent renames a ticket)
    await session.execute(update(Ticket).where(Ticket.id == nameless).values(subject="Kettle descaling"))
    await session.commit()
    assert await ids(session, "descaling") == [nameless]
