"""Custom customer attributes: typed key/values an agent or an integration keeps on a customer.

Stored in `Customer.attributes` as {"plan": {"type": "text", "value": "gold"}, ...}; a value is
kept in its JSON form (a number as a string of its decimal, so 19.90 stays 19.90; a date as
ISO 8601) and shown by type: a URL as a link, a date formatted, a bool as yes/no.
The console's panel and the REST API both change them through `set_attribute` / `remove_attribute`.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.models import AuditEvent, Customer

TYPES = ("text", "number", "date", "bool", "url")
KEY_MAX = 40
ATTRIBUTES_MAX = 50
TEXT_MAX = 1000
URL_MAX = 2000
_TRUE = {"true", "yes", "y", "1", "on"}
_FALSE = {"false", "no", "n", "0", "off"}


class InvalidAttribute(ValueError):
    """An attribute that cannot be stored; the message says why, `field` says which input ("key",
    "type" or "value") so the console shows it there."""

    def __init__(self, message: str, *, field: str = "value") -> None:
        super().__init__(message)
        self.field = field


def normalise_key(key: str) -> str:
    """ "VIP since" -> "vip_since": lower case, [a-z0-9_], at most KEY_MAX characters."""
    text = unicodedata.normalize("NFKD", (key or "").casefold()).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^a-z0-9_]+", "_", text.strip()).strip("_")
    if not text:
        raise InvalidAttribute("give the attribute a name of letters, digits or _", field="key")
    if len(text) > KEY_MAX:
        raise InvalidAttribute(f"an attribute name can have at most {KEY_MAX} characters", field="key")
    return text


def validate(type: str, value: Any) -> Any:
    """The value in its stored form for `type`, or InvalidAttribute saying what is wrong with it.
    Accepts what a form posts (text) and what JSON carries (numbers, booleans)."""
    if type not in TYPES:
        raise InvalidAttribute(f"{type!r} is not an attribute type: use one of {', '.join(TYPES)}", field="type")
    return _VALIDATORS[type](value)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidAttribute("a text attribute takes text")
    value = value.strip()
    if not value:
        raise InvalidAttribute("write a value (or remove the attribute)")
    if len(value) > TEXT_MAX:
        raise InvalidAttribute(f"a text value can have at most {TEXT_MAX} characters")
    return value


def _number(value: Any) -> str:
    if isinstance(value, bool):
        raise InvalidAttribute("yes/no is not a number")
    text = str(value).strip().replace(" ", "").replace("_", "")
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise InvalidAttribute(f"{str(value).strip()!r} is not a number (write it like 42 or 19.90)") from None
    if not number.is_finite():
        raise InvalidAttribute(f"{str(value).strip()!r} is not a number (write it like 42 or 19.90)")
    if abs(number.adjusted()) > 30:
        raise InvalidAttribute("that number is too large to keep")
    return format(number, "f")


def _date(value: Any) -> str:
    text = str(value or "").strip()
    try:
        return date.fromisoformat(text[:10] if len(text) > 10 and text[10] in "T " else text).isoformat()
    except ValueError:
        raise InvalidAttribute(f"{text!r} is not a date (write it as YYYY-MM-DD, such as 2026-03-31)") from None


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value if value is not None else "").strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InvalidAttribute(f"{str(value).strip()!r} is not yes or no")


def _url(value: Any) -> str:
    text = str(value or "").strip()
    parts = urlsplit(text)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or any(c.isspace() for c in text):
        raise InvalidAttribute(f"{text!r} is not an http(s) address (write it like https://example.com/...)")
    if len(text) > URL_MAX:
        raise InvalidAttribute(f"an address can have at most {URL_MAX} characters")
    return text


_VALIDATORS = {"text": _text, "number": _number, "date": _date, "bool": _bool, "url": _url}


@dataclass(frozen=True)
class Attribute:
    """One attribute as the panel shows it."""

    key: str
    type: str
    value: Any

    @property
    def label(self) -> str:
        return self.key.replace("_", " ").capitalize()

    @property
    def display(self) -> str:
        """The value as a person reads it (a URL's link is the template's: it knows the markup)."""
        if self.type == "bool":
            return "yes" if self.value else "no"
        if self.type == "date":
            try:
                return date.fromisoformat(self.value).strftime("%-d %b %Y")
            except (TypeError, ValueError):
                return str(self.value)
        if self.type == "number":
            return _grouped(str(self.value))
        return str(self.value)

    @property
    def form_value(self) -> str:
        """The value as the edit form shows it."""
        if self.type == "bool":
            return "yes" if self.value else "no"
        return str(self.value)


def _grouped(number: str) -> str:
    """12345.5 -> 12,345.5: thousands separated, the decimals as stored."""
    sign, _, rest = number.rpartition("-")
    whole, dot, fraction = rest.partition(".")
    return f"{sign}{int(whole or 0):,}{dot}{fraction}"


def attributes_of(customer: Customer) -> list[Attribute]:
    """The customer's attributes in key order; an entry of unknown shape is skipped, not fatal."""
    found = []
    for key, entry in sorted((customer.attributes or {}).items()):
        if isinstance(entry, dict) and entry.get("type") in TYPES and "value" in entry:
            found.append(Attribute(key, entry["type"], entry["value"]))
    return found


async def set_attribute(session: AsyncSession, customer: Customer, key: str, type: str, value: Any, *,
                        agent_id: int | None = None) -> Attribute:
    """Add or change one attribute (committed); InvalidAttribute when the key, type or value is wrong."""
    key = normalise_key(key)
    stored = validate(type, value)
    attributes = dict(customer.attributes or {})
    if key not in attributes and len(attributes) >= ATTRIBUTES_MAX:
        raise InvalidAttribute(f"a customer can have at most {ATTRIBUTES_MAX} attributes: remove one first",
                               field="key")
    attributes[key] = {"type": type, "value": stored}
    customer.attributes = attributes  # a new dict: the JSON column notices assignment, not mutation
    session.add(AuditEvent(agent_id=agent_id, action="customer.attribute_set", object_type="customer",
                           object_id=customer.id, data={"key": key, "type": type}))
    await session.commit()
    return Attribute(key, type, stored)


async def remove_attribute(session: AsyncSession, customer: Customer, key: str, *,
                           agent_id: int | None = None) -> bool:
    """Remove one attribute (committed); False when the customer had none by that name."""
    try:
        key = normalise_key(key)
    except InvalidAttribute:
        return False
    attributes = dict(customer.attributes or {})
    if attributes.pop(key, None) is None:
        return False
    customer.attributes = attributes or None
    session.add(AuditEvent(agent_id=agent_id, action="customer.attribute_remove", object_type="customer",
                           object_id=customer.id, data={"key": key}))
    await session.commit()
    return True
