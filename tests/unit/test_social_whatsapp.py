"""The WhatsApp Cloud API adapter's pure parts: the documented webhook examples (pywa's fixtures in the
shared corpus) parse into the messages and status updates they carry; the 24-hour window; templates."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from channels.social import whatsapp
from helpdesk.channel import DeliveryError, InboundMessage, StatusUpdate, UnreadablePayload
from helpdesk.social import templates
from tests.conftest import CORPUS

FOLDER = CORPUS / "webhooks" / "whatsapp"
NUMBER = "1122334455667"  # the examples' phone_number_id: the account


def example(file: str, name: str) -> bytes:
    return json.dumps(json.loads((FOLDER / f"{file}.json").read_text())[name]).encode()


def parsed(file: str, name: str) -> list[InboundMessage | StatusUpdate]:
    return whatsapp.parse(example(file, name), account="signed-for", raw_ref="raw-1")


def one_message(file: str, name: str) -> InboundMessage:
    [message] = parsed(file, name)
    assert isinstance(message, InboundMessage)
    return message


def all_examples() -> list[tuple[str, str]]:
    if not FOLDER.is_dir():
        return []
    return [(path.stem, name) for path in sorted(FOLDER.glob("*.json")) for name in json.loads(path.read_text())]


@pytest.fixture(autouse=True)
def corpus(corpus_dir):
    return corpus_dir


@pytest.mark.parametrize(("file", "name"), all_examples())
def test_every_corpus_example_parses_without_crashing(file, name):
    whatsapp.check(example(file, name))
    for item in parsed(file, name):
        assert item.channel == "whatsapp" and item.external_id


def test_text_message_is_from_the_customers_e164_number_in_a_thread_per_number_and_customer():
    message = one_message("message", "text")
    assert message.text == "Body Text" and message.external_id == "wamid.xyzxyz"
    assert (message.sender.kind, message.sender.value, message.sender.display_name) == \
        ("whatsapp", "+972987654321", "Test Name")
    assert message.account == NUMBER and message.thread_keys.platform_thread_id == f"{NUMBER}:972987654321"
    assert message.received_at == datetime.fromtimestamp(1697043223, timezone.utc)
    assert message.raw_ref == "raw-1" and message.subject is None and message.html is None
    assert message.thread_keys.in_reply_to is None


def test_media_are_referred_to_by_id_with_their_type_and_caption():
    image = one_message("message", "image")
    assert image.text == "" and [(m.ref, m.content_type, m.kind) for m in image.remote_media] == \
        [("65463453", "image/jpeg", "image")]
    document = one_message("message", "document")
    assert document.text == "caption"
    [pdf] = document.remote_media
    assert (pdf.ref, pdf.content_type, pdf.filename, pdf.kind) == \
        ("1234567890987654321", "application/pdf", "filename.pdf", "document")
    assert one_message("message", "voice").remote_media[0].kind == "voice"
    assert one_message("message", "audio").remote_media[0].kind == "audio"
    assert one_message("message", "video").text == "caption"
    assert one_message("message", "static_sticker").remote_media[0].content_type == "image/webp"


def test_location_contacts_buttons_and_lists_read_as_text():
    assert one_message("message", "chosen_location").text == \
        "📍 Facebook HQ, 1 Hacker Way, Menlo Park, CA 94025 (37.4611978, -122.2164385)"
    assert one_message("message", "current_location").text == "📍 (12.25089, 43.90539)"
    assert one_message("message", "contacts").text == \
        "Shared contacts: Chandler Bing (+1 555-555-5555); Monica (+1 666-666-6666); Rachel Green (+1 777-777-7777)"
    assert one_message("callback_button", "button").text == "title"
    assert one_message("callback_button", "quick_reply").text == "title"
    assert one_message("callback_selection", "description").text == "title"
    assert one_message("message", "order").text.startswith("Order: 3 × HAMBURGER (30 ILS)")


def test_a_quoted_message_is_the_reply_threads_key():
    assert one_message("message", "reply").thread_keys.in_reply_to == "wamid.xyzxyz=="
    assert one_message("callback_button", "quick_reply").thread_keys.in_reply_to == "wamid.xyzxyz=="


def test_unsupported_messages_say_what_arrived():
    assert one_message("message", "unsupported").text == (
        "[A WhatsApp message that cannot be shown here: Message type unknown: "
        "Message type is currently not supported. (code 131051)]")
    assert "A WhatsApp pool message" in one_message("message", "unsupported_with_type").text
    errored = one_message("message", "interactive_message_with_err")
    assert "Something went wrong: Unsupported webhook payload (code 131000)" in errored.text


def test_an_edit_arrives_as_a_message_about_the_original():
    edit = one_message("edited_message", "image")
    assert edit.text == "Edited: Updated image caption" and edit.remote_media[0].ref == "1234567890"
    assert edit.thread_keys.in_reply_to == "wamid.HBgLMTQxMjU1NTA4MjkVAgASGBQzQUNCNjk5RDUwNUZGMUZEM0VBRAA="


def test_reactions_are_status_updates_about_the_message_reacted_to():
    [reaction] = parsed("message", "reaction")
    assert isinstance(reaction, StatusUpdate)
    assert (reaction.external_id, reaction.status, reaction.reaction) == ("wamid.yzxyzx=", None, "😮")
    assert [u.reaction for u in parsed("message", "unreaction_empty") + parsed("message", "unreaction_no_emoji")] \
        == ["", ""]


@pytest.mark.parametrize(("name", "status"), [("sent", "sent"), ("delivered", "delivered"), ("read", "read"),
                                              ("played", "read"), ("with_tracker", "sent")])
def test_statuses_move_our_message_forward(name, status):
    [update] = parsed("message_status", name)
    assert isinstance(update, StatusUpdate)
    assert (update.external_id, update.status, update.error) == ("wamid.xyzxyz", status, None)


def test_a_failed_status_carries_the_platforms_error_as_an_agent_reads_it():
    [update] = parsed("message_status", "failed")
    assert update.status == "failed" and update.at == datetime.fromtimestamp(1689380458, timezone.utc)
    assert update.error == ("User's number is part of an experiment: Failed to send message because this user's "
                            "phone number is part of an experiment (code 130472)")
    closed = whatsapp._status({"id": "wamid.1", "status": "failed", "timestamp": "1",
                               "errors": [{"code": 131047, "title": "Re-engagement message"}]})
    assert "24-hour window had closed: send an approved template" in closed.error


@pytest.mark.parametrize(("file", "name"), [
    ("outgoing_message", "text"), ("outgoing_message", "edit"), ("outgoing_message", "delete"),
    ("system", "phone_number_change"), ("system", "identity_change"), ("deleted_message", "revoke"),
    ("template_status_update", "approved"), ("account_update", "account_disabled"), ("call_status", "call_status"),
    ("user_marketing_preferences", "resume")])
def test_echoes_template_account_and_system_updates_store_nothing(file, name):
    assert parsed(file, name) == []


def test_a_body_that_is_not_whatsapps_envelope_is_unreadable():
    with pytest.raises(UnreadablePayload, match="whatsapp_business_account"):
        whatsapp.check(json.dumps({"object": "page", "entry": []}).encode())
    with pytest.raises(UnreadablePayload, match="not JSON"):
        whatsapp.check(b"{not json")


def test_the_window_is_24_hours_from_the_customers_last_message():
    now = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)
    assert templates.window_closed_at(now - timedelta(hours=23, minutes=59), now) is None
    assert templates.window_closed_at(now - timedelta(hours=30), now) == now - timedelta(hours=6)
    assert templates.window_closed_at(None, now) == now  # the customer never wrote on WhatsApp


def test_a_free_form_reply_outside_the_window_fails_at_once_and_is_not_retried():
    with pytest.raises(DeliveryError) as raised:
        whatsapp._check_window((datetime.now(timezone.utc) - timedelta(hours=25)).isoformat())
    assert not raised.value.retryable
    assert str(raised.value).startswith("WhatsApp's 24-hour window closed at ")
    assert str(raised.value).endswith("UTC: send an approved template instead")
    whatsapp._check_window((datetime.now(timezone.utc) - timedelta(hours=1)).isoformat())  # open: no error


def test_a_stored_template_becomes_the_apis_template_object():
    stored = templates.MessageTemplate("order_update", "en_US", "Your order {{1}} ships {{2}}.", 2) \
        .as_message_template(["#5001", "today"])
    assert whatsapp.template_object(stored) == {
        "name": "order_update", "language": {"code": "en_US"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "#5001"},
                                                       {"type": "text", "text": "today"}]}]}
    assert whatsapp.template_object({"name": "hello_world", "language": "en_US", "parameters": []}) == \
        {"name": "hello_world", "language": {"code": "en_US"}}


def test_template_parameters_are_counted_rendered_and_all_required():
    template = templates.MessageTemplate("order_update", "en_US", "Order {{1}}: {{ 2 }}", 2)
    assert templates.count_parameters(template.body) == 2 and templates.count_parameters("Hi") == 0
    assert template.render(["#5001"]) == "Order #5001: {{ 2 }}"
    assert templates.choose([template], "order_update:en_US", ["#5001", " shipped "])[1] == ["#5001", "shipped"]
    with pytest.raises(templates.TemplateInvalid, match=r"fill in parameter \{\{2\}\}"):
        templates.choose([template], "order_update:en_US", ["#5001"])
    with pytest.raises(templates.TemplateInvalid, match="not \\(or no longer\\) approved"):
        templates.choose([template], "spring_sale:en_US", [])
