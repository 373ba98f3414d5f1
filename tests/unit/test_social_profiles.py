"""helpdesk/social/profiles.py: a social identity as agents read it in the customer panel."""
from __future__ import annotations

from helpdesk.social.profiles import platform_name, profile_handle


def test_a_whatsapp_number_is_spaced_as_dialled_and_other_platforms_show_the_profile_name():
    assert (platform_name("whatsapp"), profile_handle("whatsapp", "+4915112345678", "Hanna")) == (
        "WhatsApp", "+49 1511 2345678")
    assert profile_handle("telegram", "500000001", "Ann T.") == "Ann T."
    assert profile_handle("messenger", "24000000000001", None) == "24000000000001"  # no name: the id, not nothing


def test_kinds_that_are_no_social_platform_have_no_platform_name():
    assert platform_name("email") is None and platform_name("chat") is None
    assert profile_handle("whatsapp", "not a number") == "not a number"
