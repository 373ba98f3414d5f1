"""Identities: the one form an email, phone or platform id is stored and matched in, and the
customer behind one (found, or created on first contact)."""
from __future__ import annotations

import re
import unicodedata

import phonenumbers
from dataclasses import dataclass

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from helpdesk.models import Customer, CustomerIdentity, OrganizationDomain

PHONE_KINDS = {"phone", "whatsapp", "sms"}


class InvalidIdentity(ValueError):
    """An identity value that cannot be normalised (an empty email, a phone without digits)."""


def normalise_identity(kind: str, value: str) -> tuple[str, str]:
    """Return (kind, value) in the one form we store: lower-cased email, E.164 phone, trimmed ids."""
    kind = kind.strip().lower()
    value = unicodedata.normalize("NFKC", value or "").strip()
    if kind == "email":
        value = re.sub(r"\s+", "", value).strip("<>").lower()
        if "@" not in value or value.startswith("@") or value.endswith("@"):
            raise InvalidIdentity(f"not an email address: {value!r}")
        return kind, value
    if kind in PHONE_KINDS:
        digits = re.sub(r"[^\d+]", "", value)
        if digits.startswith("00"):
            digits = "+" + digits[2:]
        if not digits.startswith("+"):
            digits = "+" + digits  # platforms (WhatsApp, Twilio) send international numbers without "+"
        try:
            parsed = phonenumbers.parse(digits, None)
        except phonenumbers.NumberParseException as exc:
            raise InvalidIdentity(f"not a phone number: {value!r}") from exc
        return kind, phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    if not value:
        raise InvalidIdentity(f"empty {kind} identity")
    return kind, value


def email_domain(address: str) -> str | None:
    return address.rsplit("@", 1)[1] if "@" in address else None


# The customer an identity belongs to, resolved in Core: ingest runs these on its hot path, inside
# its own unit of work (see helpdesk/inbound/ingest.py), and the demo data runs the same functions.
_C = Customer.__table__
_CI = CustomerIdentity.__table__
_OD = OrganizationDomain.__table__
_IDENTITY_CUSTOMER = (
    select(_C.c.id, _C.c.merged_into_id, _C.c.organization_id, _C.c.name)
    .select_from(_CI.join(_C, _C.c.id == _CI.c.customer_id))
    .where(_CI.c.kind == bindparam("kind"), _CI.c.value == bindparam("value"))
)
_CUSTOMER_BY_ID = select(_C.c.id, _C.c.merged_into_id, _C.c.organization_id, _C.c.name).where(_C.c.id == bindparam("id"))
_INSERT_CUSTOMER = (
    insert(_C)
    .values(
        name=bindparam("name"),
        organization_id=select(_OD.c.organization_id).where(_OD.c.domain == bindparam("domain")).scalar_subquery(),
    )
    .returning(_C.c.id, _C.c.organization_id)
)
_INSERT_CUSTOMER_NO_DOMAIN = insert(_C).values(name=bindparam("name")).returning(_C.c.id, _C.c.organization_id)
_DELETE_CUSTOMER = delete(_C).where(_C.c.id == bindparam("id"))
_RENAME_CUSTOMER = update(_C).where(_C.c.id == bindparam("cid")).values(name=bindparam("new_name"))
# INSERT … ON CONFLICT DO NOTHING: a concurrent first contact costs no savepoint and no error
_INSERT_IDENTITY = {
    "postgresql": pg_insert(_CI).on_conflict_do_nothing(index_elements=["kind", "value"]).returning(_CI.c.id),
    "sqlite": sqlite_insert(_CI).on_conflict_do_nothing(index_elements=["kind", "value"]).returning(_CI.c.id),
}


@dataclass(frozen=True, slots=True)
class KnownCustomer:
    """The customer behind an identity, merge tombstones followed."""

    id: int
    organization_id: int | None
    name: str | None
    created: bool = False  # by this call: first contact
    renamed: bool = False  # by this call: a nameless customer took the sender's name


def known_customer(conn, identity: tuple[str, str], row=None, *, looked_up: bool = False) -> KnownCustomer | None:
    """The customer who owns a normalised identity, or None if nobody does yet. `row` is the
    identity's (id, merged_into_id, organization_id, name) when the caller has read it already
    (`looked_up`; ingest reads it with its dedupe query), else it is read here."""
    if not looked_up:
        row = conn.execute(_IDENTITY_CUSTOMER, {"kind": identity[0], "value": identity[1]}).first()
    if row is None:
        return None
    customer_id, merged_into_id, organization_id, name = row
    while merged_into_id is not None:  # follow merge tombstones
        customer_id, merged_into_id, organization_id, name = conn.execute(_CUSTOMER_BY_ID, {"id": merged_into_id}).one()
    return KnownCustomer(customer_id, organization_id, name)


def resolve_customer(conn, identity: tuple[str, str], display_name: str | None,
                     known: KnownCustomer | None) -> KnownCustomer:
    """The customer behind an identity, given what `known_customer` found: created with the
    identity on first contact (its organization by email domain), named if still nameless."""
    if known is None and identity[0] in _SAME_NUMBER:
        known = _same_number(conn, identity, display_name)
    while known is None:
        known = _first_contact(conn, identity, display_name)
        if known is None:  # a concurrent ingest created this identity first: use theirs
            known = known_customer(conn, identity)
    if not known.name and display_name:
        conn.execute(_RENAME_CUSTOMER, {"cid": known.id, "new_name": display_name})
        return KnownCustomer(known.id, known.organization_id, display_name, renamed=True)
    return known


# a messaging number that is a customer's phone number is that customer (a WhatsApp message from the
# number on their orders); the identity is added to them. Only an exact E.164 match: nothing fuzzy links.
_SAME_NUMBER = {"whatsapp", "sms"}


def _same_number(conn, identity: tuple[str, str], display_name: str | None) -> KnownCustomer | None:
    known = known_customer(conn, ("phone", identity[1]))
    if known is None or not add_identity(conn, known.id, identity, display_name):
        return None
    return known


def _first_contact(conn, identity: tuple[str, str], display_name: str | None) -> KnownCustomer | None:
    kind, value = identity
    domain = email_domain(value) if kind == "email" else None
    if domain is not None:
        created = conn.execute(_INSERT_CUSTOMER, {"name": display_name or None, "domain": domain}).first()
    else:
        created = conn.execute(_INSERT_CUSTOMER_NO_DOMAIN, {"name": display_name or None}).first()
    if add_identity(conn, created.id, identity, display_name):
        return KnownCustomer(created.id, created.organization_id, display_name or None, created=True)
    conn.execute(_DELETE_CUSTOMER, {"id": created.id})
    return None


def add_identity(conn, customer_id: int, identity: tuple[str, str], display_name: str | None) -> bool:
    """Give a customer a normalised identity unless someone has it already; True if it was added."""
    kind, value = identity
    return conn.execute(_INSERT_IDENTITY[conn.dialect.name], {
        "customer_id": customer_id, "kind": kind, "value": value, "display_name": display_name,
    }).first() is not None
