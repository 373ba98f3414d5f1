"""Custom customer attributes: typed values validated and stored, shown by type in the customer
panel, edited inline by agents (htmx, CSRF, errors next to the field) and removed."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from helpdesk.customers import attributes
from helpdesk.customers.attributes import InvalidAttribute
from helpdesk.models import AuditEvent, Customer
from tests.support.console import app, client, htmx, shop, sign_in  # noqa: F401


@pytest.mark.parametrize("type, value, stored", [
    ("text", "  gold ", "gold"),
    ("number", "19.90", "19.90"),
    ("number", 42, "42"),
    ("number", "-1 000.5", "-1000.5"),
    ("date", "2026-03-31", "2026-03-31"),
    ("date", "2026-03-31T10:00:00Z", "2026-03-31"),
    ("bool", "yes", True),
    ("bool", False, False),
    ("url", "https://shop.example/account/7", "https://shop.example/account/7"),
])
def test_values_are_stored_in_their_type(type, value, stored):
    assert attributes.validate(type, value) == stored


@pytest.mark.parametrize("type, value, message", [
    ("number", "twelve", "is not a number"),
    ("number", "NaN", "is not a number"),
    ("number", True, "is not a number"),
    ("date", "2026-02-30", "is not a date"),
    ("date", "31/03/2026", "is not a date"),
    ("url", "javascript:alert(1)", r"is not an http\(s\) address"),
    ("url", "ftp://files.example/x", r"is not an http\(s\) address"),
    ("url", "https://", r"is not an http\(s\) address"),
    ("bool", "maybe", "is not yes or no"),
    ("text", "   ", "write a value"),
    ("colour", "red", "is not an attribute type"),
])
def test_wrong_values_are_refused_with_a_clear_message(type, value, message):
    with pytest.raises(InvalidAttribute, match=message):
        attributes.validate(type, value)


def test_keys_are_normalised():
    assert attributes.normalise_key("  VIP Since! ") == "vip_since"
    assert attributes.normalise_key("Größe") == "grosse"
    with pytest.raises(InvalidAttribute, match="at most 40"):
        attributes.normalise_key("k" * 41)
    with pytest.raises(InvalidAttribute, match="letters, digits"):
        attributes.normalise_key("!!!")


async def test_set_and_remove_on_a_customer(session, shop):
    customer = await session.get(Customer, shop.customer_id)
    await attributes.set_attribute(session, customer, "Plan", "text", "gold")
    await attributes.set_attribute(session, customer, "plan", "text", "platinum")  # the same key, changed
    await attributes.set_attribute(session, customer, "Seats", "number", "12")
    stored = (await session.get(Customer, shop.customer_id, populate_existing=True)).attributes
    assert stored == {"plan": {"type": "text", "value": "platinum"}, "seats": {"type": "number", "value": "12"}}
    assert await attributes.remove_attribute(session, customer, "PLAN") is True
    assert await attributes.remove_attribute(session, customer, "plan") is False
    assert list((await session.get(Customer, shop.customer_id, populate_existing=True)).attributes) == ["seats"]
    for n in range(attributes.ATTRIBUTES_MAX - 1):
        await attributes.set_attribute(session, customer, f"k{n}", "bool", "no")
    with pytest.raises(InvalidAttribute, match="at most 50 attributes"):
        await attributes.set_attribute(session, customer, "one_more", "text", "x")
    await attributes.set_attribute(session, customer, "seats", "number", "13")  # changing one is still allowed
    actions = set(await session.scalars(select(AuditEvent.action).where(AuditEvent.object_id == customer.id)))
    assert {"customer.attribute_set", "customer.attribute_remove"} <= actions


async def test_the_panel_renders_each_type_and_agents_edit_inline(client, shop, session):
    token = await sign_in(client, "agent")
    url = f"/console/customers/{shop.customer_id}/attributes/"
    for key, type, value in [("plan", "text", "gold <b>"), ("seats", "number", "1200.5"), ("renews", "date", "2026-03-31"),
                             ("vip", "bool", "yes"), ("account", "url", "https://shop.example/a?x=1&y=2")]:
        response = await client.post(url, headers=htmx("customer-attributes", token),
                                     data={"key": key, "type": type, "value": value})
        assert response.status_code == 200 and 'id="customer-attributes"' in response.text
        assert "saved." in response.text
    panel = (await client.get(f"/console/customers/{shop.customer_id}/panel?ticket={shop.ticket_ids[0]}",
                              headers=htmx())).text
    assert "gold &lt;b&gt;" in panel  # text is escaped
    assert "1,200.5" in panel and "31 Mar 2026" in panel and '<time datetime="2026-03-31">' in panel
    assert 'class="badge attribute-yes">yes<' in panel
    assert ('<a href="https://shop.example/a?x=1&amp;y=2" rel="noopener nofollow noreferrer" target="_blank"'
            in panel)
    # a wrong value comes back next to its field, nothing stored
    bad = await client.post(url, headers=htmx("customer-attributes", token),
                            data={"key": "seats", "type": "number", "value": "a dozen"})
    assert 'id="attribute-error"' in bad.text and "is not a number" in bad.text and 'aria-invalid="true"' in bad.text
    bad_url = await client.post(url, headers=htmx("customer-attributes", token),
                                data={"key": "site", "type": "url", "value": "javascript:alert(1)"})
    assert "is not an http(s) address" in bad_url.text and 'href="javascript' not in bad_url.text
    customer = await session.get(Customer, shop.customer_id, populate_existing=True)
    assert customer.attributes["seats"] == {"type": "number", "value": "1200.5"} and "site" not in customer.attributes
    removed = await client.post(url + "remove", headers=htmx("customer-attributes", token), data={"key": "vip"})
    assert "Removed." in removed.text and 'data-attribute-key="vip"' not in removed.text
    # without a CSRF token nothing changes
    refused = await client.post(url, headers=htmx("customer-attributes"), data={"key": "x", "type": "text", "value": "y"})
    assert refused.status_code == 403
    # a plain form post (no htmx) lands back on the customer page
    plain = await client.post(url, headers={"x-csrftoken": token}, data={"key": "tier", "type": "text", "value": "2"},
                              follow_redirects=False)
    assert plain.status_code == 303 and plain.headers["location"] == f"/console/customers/{shop.customer_id}"
    plain_bad = await client.post(url, headers={"x-csrftoken": token}, data={"key": "", "type": "text", "value": "2"})
    assert plain_bad.status_code == 400 and "letters, digits" in plain_bad.text and 'id="customer-panel"' in plain_bad.text
