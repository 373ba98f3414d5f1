"""Identity normalisation: the one form an email, phone or platform id is stored and matched in."""
from __future__ import annotations

import re
import unicodedata

import phonenumbers
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.channel import Identity
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


async def find_customer_id(session: AsyncSession, identity: Identity) -> int | None:
    kind, value = normalise_identity(identity.kind, identity.value)
    return await session.scalar(
        select(CustomerIdentity.customer_id).where(CustomerIdentity.kind == kind, CustomerIdentity.value == value)
    )


async def resolve_customer(session: AsyncSession, identity: Identity) -> tuple[Customer, bool]:
    """The customer behind an identity, created on first contact. Returns (customer, created)."""
    kind, value = normalise_identity(identity.kind, identity.value)
    row = (
        await session.execute(
            select(Customer)
            .join(CustomerIdentity, CustomerIdentity.customer_id == Customer.id)
            .where(CustomerIdentity.kind == kind, CustomerIdentity.value == value)
        )
    ).scalar_one_or_none()
    if row is not None:
        while row.merged_into_id is not None:  # follow merge tombstones
            row = await session.get(Customer, row.merged_into_id)
        if not row.name and identity.display_name:
            row.name = identity.display_name
        return row, False
    organization_id = None
    if kind == "email":
        organization_id = await session.scalar(
            select(OrganizationDomain.organization_id).where(OrganizationDomain.domain == email_domain(value))
        )
    customer = Customer(name=identity.display_name or None, organization_id=organization_id)
    try:
        # a savepoint, so a concurrent insert of the same identity costs a retry, not the transaction
        async with session.begin_nested():
            session.add(customer)
            session.add(CustomerIdentity(customer=customer, kind=kind, value=value, display_name=identity.display_name))
    except IntegrityError:
        return await resolve_customer(session, identity)
    return customer, True


async def add_identity(session: AsyncSession, customer_id: int, identity: Identity, *, verified: bool = False) -> None:
    kind, value = normalise_identity(identity.kind, identity.value)
    existing = await session.scalar(
        select(CustomerIdentity).where(CustomerIdentity.kind == kind, CustomerIdentity.value == value)
    )
    if existing is None:
        session.add(
            CustomerIdentity(
                customer_id=customer_id, kind=kind, value=value, display_name=identity.display_name, verified=verified
            )
        )
