"""A chat channel's allowed origins: normalised, exact, and a port wildcard for loopback only."""
from __future__ import annotations

import pytest

from helpdesk.chat.channels import ChatChannelError, normalise_origin, origin_allowed
from helpdesk.models import ChatChannel


@pytest.mark.parametrize("given, stored", [
    ("https://Shop.Example/", "https://shop.example"), ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
    ("http://127.0.0.1:*", "http://127.0.0.1:*"), ("http://localhost:*", "http://localhost:*"),
])
def test_origins_are_stored_in_one_form(given, stored):
    assert normalise_origin(given) == stored


@pytest.mark.parametrize("given", ["https://*.shop.example", "https://shop.example:*", "shop.example",
                                   "https://shop.example/path", "javascript:alert(1)", "https://user@shop.example",
                                   "https://shop.example:99999"])
def test_what_is_not_an_origin_or_a_public_wildcard_is_refused(given):
    with pytest.raises(ChatChannelError):
        normalise_origin(given)


def test_an_origin_is_allowed_exactly_or_by_a_loopback_port_wildcard():
    channel = ChatChannel(allowed_origins=["https://shop.example", "http://127.0.0.1:*"])
    assert origin_allowed(channel, "https://shop.example")
    assert origin_allowed(channel, "http://127.0.0.1:8123")
    for other in ("https://shop.example.evil", "http://shop.example", "http://127.0.0.1:", "http://127.0.0.1:80x",
                  "http://127.0.0.10:80", "null", None, ""):
        assert not origin_allowed(channel, other), other
    assert not origin_allowed(ChatChannel(allowed_origins=[]), "https://shop.example")
