"""Ticket search on SQLite (FTS5) and PostgreSQL (tsvector + GIN), fed through the real ingest path."""
from __future__ import annotations

import pytest
from sqlalchemy import delete, select, update

from helpdesk.inbound.ingest import ingest
from helpdesk.models import Customer, CustomerIdentity, Message, Ticket
from helpdesk.tickets import search as search_module
from helpdesk.tickets.search import find, numbered_ticket, search
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


# --- the search box: ticket numbers, identities, pages (helpdesk.tickets.search.find) -------------

async def test_a_ticket_number_with_or_without_hash_finds_that_ticket_first(session, settings):
    wanted = await add(session, settings, subject="Kettle", text="It whistles.")
    ticket = await session.get(Ticket, wanted)
    for query in (str(ticket.number), f"#{ticket.number}", f" # {ticket.number} "):
        assert await numbered_ticket(session, query) == wanted
        found = await find(session, query)
        assert found.ticket.ticket_id == wanted and found.ticket.subject == "Kettle"


async def test_a_number_that_is_no_ticket_falls_back_to_text_search(session, settings):
    wanted = await add(session, settings, subject="Order 778899 missing", text="Where is order 778899?")
    assert await numbered_ticket(session, "778899") is None
    found = await find(session, "#778899")
    assert found.ticket is None and [hit.ticket_id for hit in found.page.hits] == [wanted]


async def test_an_email_address_in_any_case_finds_its_customer(session, settings):
    wanted = await add(session, settings, sender="zoe.quartermain@example.org", name="Zoë Quartermain")
    await add(session, settings, sender="zoe@example.org", name="Another Zoë", subject="Hi", text="Hi")
    customer_id = (await session.get(Ticket, wanted)).customer_id
    found = await find(session, "  Zoe.QuarterMain@EXAMPLE.org ")
    assert [(c.id, c.name, c.kinds, c.value) for c in found.customers] == [
        (customer_id, "Zoë Quartermain", ("email",), "zoe.quartermain@example.org")]
    assert [hit.ticket_id for hit in found.page.hits] == [wanted]
    assert (await find(session, "zoe.quartermain@exa")).customers == []  # exact match only


@pytest.mark.parametrize("query", ["+49 151 2345678", "0049 (151) 234-5678", "+491512345678"])
async def test_a_phone_number_in_international_spellings_finds_its_customer(session, settings, query):
    ticket_id = await add(session, settings, sender="dee@example.com", name="Dee Okafor", subject="Hi", text="Hi")
    customer_id = (await session.get(Ticket, ticket_id)).customer_id
    session.add(CustomerIdentity(customer_id=customer_id, kind="whatsapp", value="+491512345678"))
    session.add(CustomerIdentity(customer_id=customer_id, kind="phone", value="+491512345678"))
    await session.commit()
    found = await find(session, query)
    assert [(c.id, c.kinds) for c in found.customers] == [(customer_id, ("phone", "whatsapp"))]
    assert (await find(session, "+49 151 2345679")).customers == []


async def test_results_page_past_twenty_and_every_match_is_reached(session, settings, monkeypatch):
    """Pages of 20 walk the ranked window, then the next window of older matches."""
    wanted = [await add(session, settings, sender=f"c{n}@example.com", subject=f"Lamp {n}", text="lamp flickers",
                        external_id=f"<lamp-{n}@example.com>") for n in range(47)]
    await add(session, settings, sender="x@example.com", subject="Kettle", text="It whistles.")
    monkeypatch.setattr(search_module, "CANDIDATES", 30)
    seen, after, pages = [], None, 0
    while True:
        page = await search_module.search_page(session, "lamp", after=after)
        assert len(page.hits) <= 20
        seen += [hit.ticket_id for hit in page.hits]
        pages += 1
        if page.after is None:
            break
        after = page.after
    assert sorted(seen) == sorted(wanted) and len(seen) == len(set(seen))
    assert pages == 3  # 20 + 10 of the newest 30, then the 17 older ones
    assert set(seen[:30]) == set(sorted(wanted)[-30:])
    assert (await search_module.search_page(session, "lamp", after="nonsense")).hits[0].ticket_id in wanted
