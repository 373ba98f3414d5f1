"""Identity resolution (helpdesk/customers/resolution.py): one customer behind the identities an
order, an API call or an import names; conflicts flagged, never merged."""
from __future__ import annotations

from sqlalchemy import func, select

from helpdesk.customers.resolution import Claimed, resolve
from helpdesk.models import Customer, CustomerIdentity, IdentityConflict, Organization, OrganizationDomain


async def identities_of(session, customer_id: int) -> set[tuple[str, str]]:
    return set((await session.execute(select(CustomerIdentity.kind, CustomerIdentity.value)
                                      .where(CustomerIdentity.customer_id == customer_id))).all())


async def test_a_new_person_becomes_one_customer_with_every_identity_and_their_organization(session):
    organization = Organization(name="Kettle GmbH", domains=[OrganizationDomain(domain="kettle.example")])
    session.add(organization)
    await session.flush()
    found = await resolve(session, [Claimed("email", " Ann.Lee@Kettle.example "), Claimed("phone", "+49 (151) 1234-5678")],
                          name="Ann Lee", source="shopify")
    await session.commit()
    assert found.created and not found.conflicts
    assert await identities_of(session, found.customer_id) == {("email", "ann.lee@kettle.example"),
                                                               ("phone", "+4915112345678")}
    customer = await session.get(Customer, found.customer_id)
    assert customer.name == "Ann Lee" and customer.organization_id == organization.id


async def test_the_same_person_by_another_spelling_is_found_and_gets_the_new_identity(session):
    first = await resolve(session, [Claimed("email", "ann@example.com")], source="csv")
    await session.commit()
    again = await resolve(session, [Claimed("email", "ANN@Example.COM"), Claimed("phone", "0049 151 12345678")],
                          name="Ann", source="api")
    await session.commit()
    assert again.customer_id == first.customer_id and not again.created and again.added == [("phone", "+4915112345678")]
    assert (await session.get(Customer, first.customer_id)).name == "Ann"  # a nameless customer takes the name
    assert await session.scalar(select(func.count()).select_from(Customer)) == 1


async def test_plus_addresses_are_other_mailboxes_unless_folding_is_configured(session, monkeypatch):
    plain = await resolve(session, [Claimed("email", "bob@example.com")], source="csv")
    tagged = await resolve(session, [Claimed("email", "bob+shop@example.com")], source="csv")
    assert tagged.customer_id != plain.customer_id
    monkeypatch.setenv("HELPDESK_FOLD_PLUS_ADDRESSES", "1")
    folded = await resolve(session, [Claimed("email", "bob+news@example.com")], source="csv")
    assert folded.customer_id == plain.customer_id


async def test_identities_held_by_two_customers_are_flagged_not_merged(session):
    ann = await resolve(session, [Claimed("email", "ann@example.com")], source="csv")
    other = await resolve(session, [Claimed("phone", "+4915112345678")], source="csv")
    await session.commit()
    order = await resolve(session, [Claimed("email", "ann@example.com"), Claimed("phone", "+49 151 12345678")],
                          source="shopify")
    await session.commit()
    assert order.customer_id == ann.customer_id  # the first identity given decides
    [conflict] = list(await session.scalars(select(IdentityConflict)))
    assert (conflict.kind, conflict.value, conflict.holder_id, conflict.claimant_id, conflict.source) == (
        "phone", "+4915112345678", other.customer_id, ann.customer_id, "shopify")
    assert await identities_of(session, other.customer_id) == {("phone", "+4915112345678")}  # nothing moved
    assert (await session.get(Customer, other.customer_id)).merged_into_id is None


async def test_a_merged_customer_leads_to_the_survivor_and_unreadable_identities_are_skipped(session):
    survivor = await resolve(session, [Claimed("email", "cat@example.com")], source="csv")
    merged = await resolve(session, [Claimed("email", "cat@old.example")], source="csv")
    (await session.get(Customer, merged.customer_id)).merged_into_id = survivor.customer_id
    await session.commit()
    found = await resolve(session, [Claimed("phone", "not a number"), Claimed("email", "cat@old.example")],
                          source="api")
    assert found.customer_id == survivor.customer_id and found.skipped and "not a phone number" in found.skipped[0]
    assert await resolve(session, [Claimed("email", "nobody@example.com")], source="api", create=False) is None
