"""A customer's social profile as agents read it in the customer panel: the platform's name and the
number or name they know the customer by ("WhatsApp +49 1511 2345678", "Messenger Ann Example"),
not the platform's opaque user id (kept in the tooltip)."""
from __future__ import annotations

import phonenumbers

from helpdesk.social.accounts import PLATFORM_NAMES


def platform_name(kind: str) -> str | None:
    """"WhatsApp" for a whatsapp identity; None for a kind that is no social platform (email, chat)."""
    return PLATFORM_NAMES.get(kind)


def profile_handle(kind: str, value: str, display_name: str | None = None) -> str:
    """What follows the platform's name: a WhatsApp number spaced as dialled, else the profile's name
    (Messenger, Instagram and Telegram identities are user ids that mean nothing to an agent)."""
    if kind == "whatsapp":
        try:
            return phonenumbers.format_number(phonenumbers.parse(value, None),
                                              phonenumbers.PhoneNumberFormat.INTERNATIONAL)
        except phonenumbers.NumberParseException:
            return value
    return display_name or value
