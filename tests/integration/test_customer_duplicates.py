"""Duplicate suggestions and identity conflicts: found by each rule in SQL, never for dismissed
pairs, tombstones or erased customers; conflicts listed, kept apart or gone after a merge."""
from __future__ import annotations

from sqlalchemy import select

from helpdesk.customers import conflicts, duplicates
from helpdesk.customers import records as customers
from helpdesk.models import (AuditEvent, Customer, CustomerIdentity, DuplicateDismissal, IdentityConflict,
                             Organization, utcnow)


async def person(session, name: str | None, *identities: tuple[str, str], organization_id: int | None = None) -> int:
    customer = Customer(name=name, organization_id=organization_id,
                        identities=[CustomerIdentity(kind=k, value=v) for k, v in identities])
    session.add(customer)
    await session.commit()
    return customer.id


def pairs(found) -> dict[tuple[int, int], list[str]]:
    return {(s.customer.id, s.other.id): s.reasons for s in found}


async def test_same_phone_on_two_customers_is_suggested_with_the_number(session):
    ann = await person(session, "Ann Example", ("email", "ann@example.com"), ("phone", "+4915112345678"))
    whatsapp = await person(session, "Ann WA", ("whatsapp", "+4915112345678"))
    await person(session, "Bob", ("phone", "+4915199999999"))
    found = pairs(await duplicates.suggestions(session))
    assert found == {(ann, whatsapp): ["same phone +4915112345678"]}


async def test_same_name_in_the_same_organization_ignoring_case_and_spaces(session):
    acme = Organization(name="Acme GmbH")
    other_org = Organization(name="Other Ltd")
    session.add_all([acme, other_org])
    await session.commit()
    first = await person(session, "Ann Example", ("email", "ann@acme.test"), organization_id=acme.id)
    second = await person(session, "  ann  EXAMPLE ", ("email", "a.example@acme.test"), organization_id=acme.id)
    await person(session, "Ann Example", ("email", "ann@other.test"), organization_id=other_org.id)
    await person(session, "Ann Example", ("email", "ann@nowhere.test"))  # no organization: no suggestion
    found = pairs(await duplicates.suggestions(session))
    assert list(found) == [(first, second)]
    assert found[(first, second)] == ["same name Ann Example at Acme GmbH"]


async def test_emails_differing_in_case_dots_at_gmail_or_a_plus_tag(session):
    dots = await person(session, "Ann", ("email", "ann.cook@gmail.com"))
    plain = await person(session, "Ann C", ("email", "anncook@googlemail.com"))
    tagged = await person(session, "Bob", ("email", "bob+shop@example.com"))
    bob = await person(session, "Bob B", ("email", "bob@example.com"))
    cased = await person(session, "Cy", ("email", "Cy@Example.com"))  # stored before normalising
    cy = await person(session, "Cy 2", ("email", "cy@example.com"))
    # dots only matter where the provider ignores them
    await person(session, "Dee", ("email", "dee.lee@example.com"))
    await person(session, "Dee L", ("email", "deelee@example.com"))
    found = pairs(await duplicates.suggestions(session))
    assert set(found) == {(dots, plain), (tagged, bob), (cased, cy)}
    assert found[(dots, plain)] == ["emails ann.cook@gmail.com and anncook@googlemail.com differ only in "
                                    "dots and gmail/googlemail"]
    assert found[(tagged, bob)] == ["emails bob+shop@example.com and bob@example.com differ only in a +tag"]
    assert found[(cased, cy)] == ["emails Cy@Example.com and cy@example.com differ only in case"]


def test_email_key_is_the_mailbox_two_spellings_share():
    assert duplicates.email_key("Ann.Cook+shop@GoogleMail.com") == "anncook@gmail.com"
    assert duplicates.email_key("ann.cook+x@example.com") == "ann.cook@example.com"
    assert duplicates.email_key("+only@example.com") == "+only@example.com"


async def test_dismissed_pairs_tombstones_and_erased_customers_are_not_suggested(session):
    ann = await person(session, "Ann", ("phone", "+4915112345678"))
    twin = await person(session, "Ann 2", ("whatsapp", "+4915112345678"))
    bob = await person(session, "Bob", ("email", "bob@gmail.com"))
    bob_dots = await person(session, "Bob 2", ("email", "b.o.b@gmail.com"))
    cy = await person(session, "Cy", ("sms", "+4917700000000"))
    cy_erased = await person(session, "Cy 2", ("phone", "+4917700000000"))
    assert set(pairs(await duplicates.suggestions(session))) == {(ann, twin), (bob, bob_dots), (cy, cy_erased)}

    await duplicates.dismiss(session, twin, ann, agent_id=None)  # either order
    await duplicates.dismiss(session, ann, twin, agent_id=None)  # twice is harmless
    erased = await session.get(Customer, cy_erased)
    erased.erased_at = utcnow()
    await session.commit()
    assert set(pairs(await duplicates.suggestions(session))) == {(bob, bob_dots)}
    assert await session.scalar(select(DuplicateDismissal.other_id)) == twin

    await customers.merge_customers(session, bob_dots, bob)
    assert await duplicates.suggestions(session) == []
    third = await person(session, "Bob 3", ("email", "bob+x@gmail.com"))
    # the survivor holds both addresses now; the tombstone is never suggested again
    assert set(pairs(await duplicates.suggestions(session))) == {(bob, third)}


async def test_one_customers_suggestions_for_the_panel(session):
    ann = await person(session, "Ann", ("phone", "+4915112345678"), ("email", "ann@gmail.com"))
    twin = await person(session, "Ann 2", ("whatsapp", "+4915112345678"))
    dotted = await person(session, "Ann 3", ("email", "a.nn@gmail.com"))
    bob = await person(session, "Bob", ("email", "bob@example.com"))
    bob2 = await person(session, "Bob 2", ("email", "bob+2@example.com"))
    mine = pairs(await duplicates.suggestions(session, customer_id=ann))
    assert set(mine) == {(ann, twin), (ann, dotted)}
    assert set(pairs(await duplicates.suggestions(session, customer_id=bob2))) == {(bob, bob2)}
    # from either side: the plain spelling finds the fancy one too
    assert set(pairs(await duplicates.suggestions(session, customer_id=bob))) == {(bob, bob2)}
    assert set(pairs(await duplicates.suggestions(session, customer_id=dotted))) == {(ann, dotted)}
    assert len(pairs(await duplicates.suggestions(session))) == 3


async def test_conflicts_are_listed_kept_apart_or_settled_by_a_merge(session):
    holder = await person(session, "Ann", ("email", "ann@example.com"))
    claimant = await person(session, "Ann (shop)", ("phone", "+4915112345678"))
    third = await person(session, "Cy", ("email", "cy@example.com"))
    session.add_all([
        IdentityConflict(kind="email", value="ann@example.com", holder_id=holder, claimant_id=claimant, source="shopify"),
        IdentityConflict(kind="email", value="cy@example.com", holder_id=third, claimant_id=claimant, source="api"),
    ])
    await session.commit()
    listed = await conflicts.open_conflicts(session)
    assert [(c.holder.id, c.claimant.id, c.source) for c in listed] == [(third, claimant, "api"), (holder, claimant, "shopify")]
    assert listed[1].holder.identities == (("email", "ann@example.com"),) and listed[1].claimant.name == "Ann (shop)"

    await conflicts.keep_apart(session, listed[0].id, agent_id=None)
    assert [c.holder.id for c in await conflicts.open_conflicts(session)] == [holder]
    assert await session.scalar(select(DuplicateDismissal).where(DuplicateDismissal.customer_id == min(third, claimant)))
    await customers.merge_customers(session, claimant, holder)
    assert await conflicts.open_conflicts(session) == []
    assert await session.scalar(select(AuditEvent.action).where(AuditEvent.action == "customer.not_duplicate"))
