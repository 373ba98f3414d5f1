"""strip_quotes: the reply without the history it quotes or the signature under it."""
from __future__ import annotations

import pytest

from channels.email.quotes import strip_quotes


def test_gmail_on_wrote_quote_is_stripped() -> None:
    text = (
        "Thanks, that fixed it.\n\n"
        "On Tue, Apr 3, 2012 at 4:19 PM, Bob Smith <bob@example.com> wrote:\n"
        "> Did you try turning it off and on again?\n"
    )
    assert strip_quotes(text) == "Thanks, that fixed it."


def test_gmail_attribution_wrapped_over_two_lines_is_stripped() -> None:
    text = (
        "Sounds good.\n\n"
        "On Mon, Jan 6, 2025 at 10:15 AM Customer Support Team of Example Shop <\n"
        "support@example-shop.com> wrote:\n\n"
        "> Your order has shipped.\n"
    )
    assert strip_quotes(text) == "Sounds good."


def test_outlook_english_original_message_is_stripped() -> None:
    text = (
        "Please cancel it.\n\n"
        "-----Original Message-----\n"
        "From: Support <support@example.com>\n"
        "Sent: Monday, March 3, 2025 9:00 AM\n"
        "Subject: Your order\n\n"
        "Your order is confirmed.\n"
    )
    assert strip_quotes(text) == "Please cancel it."


def test_outlook_german_quote_is_stripped() -> None:
    text = (
        "Bitte stornieren.\n\n"
        "-----Ursprüngliche Nachricht-----\n"
        "Von: Support <support@example.com>\n"
        "Gesendet: Montag, 3. März 2025 09:00\n"
        "An: kunde@example.de\n"
        "Betreff: Ihre Bestellung\n\n"
        "Ihre Bestellung ist bestätigt.\n"
    )
    assert strip_quotes(text) == "Bitte stornieren."


def test_outlook_from_sent_header_block_is_stripped() -> None:
    text = (
        "Yes, Tuesday works.\n\n"
        "From: Ann Agent <ann@example.com>\n"
        "Sent: Friday, May 2, 2025 3:12 PM\n"
        "To: Carl Customer <carl@example.org>\n"
        "Subject: RE: Installation date\n\n"
        "Would Tuesday suit you?\n"
    )
    assert strip_quotes(text) == "Yes, Tuesday works."


def test_outlook_german_von_gesendet_block_is_stripped() -> None:
    text = (
        "Danke, passt.\n\n"
        "Von: Anna Agentin <anna@example.com>\n"
        "Gesendet: Freitag, 2. Mai 2025 15:12\n"
        "An: Karl Kunde <karl@example.org>\n"
        "Betreff: AW: Termin\n\n"
        "Passt Ihnen Dienstag?\n"
    )
    assert strip_quotes(text) == "Danke, passt."


@pytest.mark.parametrize("from_line", ["From: Ann Agent <ann@example.com>", "Von: Anna Agentin <anna@example.com>"])
def test_outlook_web_separator_followed_by_from_is_stripped(from_line: str) -> None:
    text = (
        "Got it, thanks!\n\n"
        "________________________________\n"
        f"{from_line}\n"
        "Sent: Friday, May 2, 2025 3:12 PM\n\n"
        "Here is your invoice.\n"
    )
    assert strip_quotes(text) == "Got it, thanks!"


def test_separator_line_alone_is_kept() -> None:
    text = "Totals\n________________________________\nSum: 12 EUR"
    assert strip_quotes(text) == text


def test_apple_mail_english_attribution_is_stripped() -> None:
    text = (
        "Perfect.\n\nSent from my iPhone\n\n"
        "On 3 Apr 2012, at 16:19, Bob <bob@example.com> wrote:\n\n"
        "> Hi\n"
    )
    assert strip_quotes(text) == "Perfect.\n\nSent from my iPhone"


def test_apple_mail_german_attribution_is_stripped() -> None:
    text = (
        "Alles klar.\n\n"
        "Am 03.04.2012 um 16:19 schrieb Bob <bob@example.com>:\n\n"
        "> Hallo\n"
    )
    assert strip_quotes(text) == "Alles klar."


def test_thunderbird_short_attribution_followed_by_quotes_is_stripped() -> None:
    text = "Works now.\n\nBob Smith wrote:\n> Try again please.\n> Bob\n"
    assert strip_quotes(text) == "Works now."


def test_thunderbird_german_attribution_is_stripped() -> None:
    text = "Geht jetzt.\n\nAm 01.02.2020 um 10:00 schrieb Bob Smith:\n> Bitte nochmal versuchen.\n"
    assert strip_quotes(text) == "Geht jetzt."


def test_wrote_at_end_of_ordinary_sentence_is_kept() -> None:
    text = "This is what my colleague wrote:\nthe printer is broken."
    assert strip_quotes(text) == text


def test_trailing_quoted_lines_are_stripped() -> None:
    assert strip_quotes("New answer\n\n> old question\n>\n> more old\n") == "New answer"


def test_signature_after_dash_dash_space_is_stripped() -> None:
    assert strip_quotes("See you Monday.\n-- \nBob Smith\nACME Corp") == "See you Monday."


def test_interleaved_inline_replies_are_kept() -> None:
    text = (
        "On Mon, Jan 6, 2025 at 10:15 AM Ann <ann@example.com> wrote:\n"
        "> What is your order number?\n"
        "12345\n"
        "> And your postcode?\n"
        "10115\n"
    )
    result = strip_quotes(text)
    assert "12345" in result and "10115" in result


def test_bottom_posted_reply_is_not_lost() -> None:
    text = "Bob wrote:\n> Is it fixed?\n\nYes, since this morning."
    assert "Yes, since this morning." in strip_quotes(text)


def test_forwarded_message_header_is_kept() -> None:
    text = (
        "Please see the customer's mail below.\n\n"
        "---------- Forwarded message ---------\n"
        "From: Carl <carl@example.org>\n"
        "Date: Mon, 6 Jan 2025 at 10:15\n"
        "Subject: Broken\n"
        "To: <shop@example.com>\n\n"
        "My kettle is broken.\n"
    )
    assert "My kettle is broken." in strip_quotes(text)


def test_everything_quoted_returns_original_stripped() -> None:
    text = "\n> only a quote\n> nothing else\n\n"
    assert strip_quotes(text) == "> only a quote\n> nothing else"


def test_signature_only_message_keeps_its_text() -> None:
    assert strip_quotes("-- \nBob") == "-- \nBob"


def test_empty_text_stays_empty() -> None:
    assert strip_quotes("") == ""


def test_windows_line_endings_are_handled() -> None:
    text = "Thanks!\r\n\r\nOn Tue, Apr 3, 2012 at 4:19 PM, Bob <bob@example.com> wrote:\r\n> Hi\r\n"
    assert strip_quotes(text) == "Thanks!"
