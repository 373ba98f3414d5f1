"""Tags are comma-separated single words; what is not a tag is refused with a reason."""
from __future__ import annotations

import pytest

from helpdesk.tickets.actions import TicketError, parse_tags


@pytest.mark.parametrize("raw, tags", [
    ("vip, refund", ("vip", "refund")),
    ("VIP,vip , Refund", ("vip", "refund")),
    ("", ()),
    (" , ,", ()),
    ("order:1234, eu/de", ("order:1234", "eu/de")),
])
def test_comma_separated_tags(raw, tags):
    assert parse_tags(raw) == tags


def test_a_tag_with_a_space_is_refused_with_a_suggestion_not_split():
    with pytest.raises(TicketError, match="'vip customer' has a space.*write 'vip-customer'"):
        parse_tags("VIP customer, refund")


def test_a_long_bad_tag_is_quoted_short_in_the_error():
    with pytest.raises(TicketError) as error:
        parse_tags("x" * 80 + "!")
    assert len(str(error.value)) < 120 and "…" in str(error.value)
