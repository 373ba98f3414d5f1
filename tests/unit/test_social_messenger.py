"""Messenger's and Instagram's webhook bodies read into messages and status updates; reply windows
and text splitting (channels/social/messenger.py, channels/social/instagram.py)."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from channels.social import instagram, messenger
from helpdesk.channel import DeliveryError, InboundMessage, StatusUpdate, UnreadablePayload

PAGE = "104123456789012"
PSID = "7234567890123456"


def corpus(corpus_dir, name: str) -> bytes:
    return (corpus_dir / "webhooks" / "messenger" / name).read_bytes()


def body(*events: dict, object_: str = "page", account: str = PAGE) -> bytes:
    return json.dumps({"object": object_, "entry": [{"id": account, "time": 1700000000500, "messaging": [
        {"sender": {"id": PSID}, "recipient": {"id": account}, "timestamp": 1700000000000, **event}
        for event in events]}]}).encode()


# -- the corpus (2016-era bodies from Meta's docs, placeholder ids) -----------------------------------

def test_corpus_text_message(corpus_dir):
    [message] = messenger.parse(corpus(corpus_dir, "wsTextMessageRequest.json"), account=None, raw_ref="raw-1")
    assert isinstance(message, InboundMessage)
    assert (message.channel, message.external_id) == ("messenger", "mid.1457764197618:41d102a3e1ae206a38")
    assert message.text == "hello, world!"
    assert (message.sender.kind, message.sender.value, message.sender.display_name) == ("messenger", "USER_ID", None)
    assert message.account == "111111"  # the entry's page id
    assert message.thread_keys.platform_thread_id == "111111:USER_ID"
    assert message.received_at == datetime(2016, 3, 12, 6, 29, 57, 627000, tzinfo=timezone.utc)
    assert message.raw_ref == "raw-1" and not message.remote_media


def test_corpus_image_message_refers_to_its_url(corpus_dir):
    [message] = messenger.parse(corpus(corpus_dir, "wsStructuredMessageRequest.json"), account=None, raw_ref="r")
    assert message.external_id == "mid.1458696618141:b4ef9d19ec21086067"
    assert message.text == ""
    [media] = message.remote_media
    assert (media.ref, media.kind) == ("IMAGE_URL", "image")


def test_corpus_postback_is_a_message_with_its_payload(corpus_dir):
    [message] = messenger.parse(corpus(corpus_dir, "wsPostbackRequest.json"), account=None, raw_ref="r")
    assert message.text == "USER_DEFINED_PAYLOAD"
    assert message.sender.value == "USER_ID" and message.account == "111111"
    # 2016 postbacks carry no mid: the id is made of what a redelivery repeats, so it is ingested once
    assert message.external_id == "postback:111111:USER_ID:1458692752478"


def test_corpus_delivery_is_a_status_update(corpus_dir):
    [update] = messenger.parse(corpus(corpus_dir, "wsDeliveryRequest.json"), account=None, raw_ref="r")
    assert update == StatusUpdate("messenger", "mid.1458668856218:ed81099e15d3f4f233", "delivered",
                                  datetime(2016, 3, 22, 17, 47, 36, 253000, tzinfo=timezone.utc))


def test_corpus_optin_stores_nothing(corpus_dir):
    assert messenger.parse(corpus(corpus_dir, "wsAuthRequest.json"), account=None, raw_ref="r") == []


def test_every_corpus_file_passes_the_envelope_check(corpus_dir):
    files = sorted((corpus_dir / "webhooks" / "messenger").glob("*.json"))
    assert len(files) == 5
    for path in files:
        messenger.check(path.read_bytes())


# -- today's format -----------------------------------------------------------------------------------

def test_reply_quick_reply_and_attachments():
    [message] = messenger.parse(body({"message": {
        "mid": "m_abc", "text": "Size M please", "quick_reply": {"payload": "SIZE_M"},
        "reply_to": {"mid": "m_our_question"},
        "attachments": [
            {"type": "image", "payload": {"url": "https://cdn.fbsbx.com/v/photo.jpg?sig=1"}},
            {"type": "video", "payload": {"url": "https://video.xx.fbcdn.net/v/clip.mp4"}},
            {"type": "audio", "payload": {"url": "https://cdn.fbsbx.com/v/voice.mp4"}},
            {"type": "file", "payload": {"url": "https://cdn.fbsbx.com/v/invoice.pdf"}},
            {"type": "image", "payload": {"url": "https://cdn.fbsbx.com/v/like.png", "sticker_id": 369239263222822}},
            {"type": "fallback", "title": "Teapot", "payload": {"url": "https://shop.example/teapot"}},
        ]}}), account=PAGE, raw_ref="r")
    assert message.text == "Size M please\n[Shared a link: Teapot https://shop.example/teapot]"
    assert message.thread_keys.in_reply_to == "m_our_question"
    assert message.thread_keys.platform_thread_id == f"{PAGE}:{PSID}"
    assert [(m.kind, m.ref) for m in message.remote_media] == [
        ("image", "https://cdn.fbsbx.com/v/photo.jpg?sig=1"), ("video", "https://video.xx.fbcdn.net/v/clip.mp4"),
        ("audio", "https://cdn.fbsbx.com/v/voice.mp4"), ("file", "https://cdn.fbsbx.com/v/invoice.pdf"),
        ("sticker", "https://cdn.fbsbx.com/v/like.png")]
    assert message.received_at == datetime(2023, 11, 14, 22, 13, 20, tzinfo=timezone.utc)


def test_echo_of_our_own_page_is_skipped_and_the_rest_of_the_batch_kept():
    parsed = messenger.parse(body(
        {"message": {"mid": "m_echo", "text": "our reply", "is_echo": True, "app_id": 1517776481860111}},
        {"message": {"mid": "m_customer", "text": "thanks!"}},
        {"delivery": {"mids": ["m_1", "m_2"], "watermark": 1700000000100}},
    ), account=PAGE, raw_ref="r")
    assert [p.external_id for p in parsed] == ["m_customer", "m_1", "m_2"]
    assert [getattr(p, "status", None) for p in parsed] == [None, "delivered", "delivered"]


def test_postback_with_title_reads_as_the_button_pressed():
    [message] = messenger.parse(body({"postback": {"mid": "m_pb", "title": "Talk to a person",
                                                   "payload": "HUMAN"}}), account=PAGE, raw_ref="r")
    assert (message.external_id, message.text, message.sender.value) == ("m_pb", "Talk to a person", PSID)


def test_read_watermark_names_no_message_and_is_left_out():
    assert messenger.parse(body({"read": {"watermark": 1700000000000}}), account=PAGE, raw_ref="r") == []


def test_reaction_and_unreaction():
    react, unreact = messenger.parse(body(
        {"reaction": {"mid": "m_our", "action": "react", "reaction": "love", "emoji": "\u2764\ufe0f"}},
        {"reaction": {"mid": "m_our", "action": "unreact", "reaction": "love"}},
    ), account=PAGE, raw_ref="r")
    assert (react.external_id, react.status, react.reaction) == ("m_our", None, "\u2764\ufe0f")
    assert (unreact.external_id, unreact.reaction) == ("m_our", "")


def test_several_pages_in_one_delivery_keep_their_own_account():
    payload = {"object": "page", "entry": [
        {"id": "page-a", "time": 1, "messaging": [{"sender": {"id": "u1"}, "recipient": {"id": "page-a"},
                                                   "timestamp": 1, "message": {"mid": "m_a", "text": "a"}}]},
        {"id": "page-b", "time": 1, "messaging": [{"sender": {"id": "u1"}, "recipient": {"id": "page-b"},
                                                   "timestamp": 2, "message": {"mid": "m_b", "text": "b"}}]}]}
    a, b = messenger.parse(json.dumps(payload).encode(), account="page-a", raw_ref="r")
    assert (a.account, a.thread_keys.platform_thread_id) == ("page-a", "page-a:u1")
    assert (b.account, b.thread_keys.platform_thread_id) == ("page-b", "page-b:u1")


def test_optin_and_referral_are_ignored():
    assert messenger.parse(body({"optin": {"ref": "x"}}, {"referral": {"ref": "ad"}}), account=PAGE, raw_ref="r") == []


@pytest.mark.parametrize("raw, reason", [
    (b"not json", "not JSON"),
    (b'{"object": "instagram", "entry": []}', "expected 'page'"),
    (b'{"object": "page"}', "entry"),
])
def test_check_refuses_what_is_not_a_messenger_webhook(raw, reason):
    with pytest.raises(UnreadablePayload, match=reason):
        messenger.check(raw)


def test_event_without_sender_is_unreadable():
    raw = json.dumps({"object": "page", "entry": [{"id": PAGE, "messaging": [
        {"recipient": {"id": PAGE}, "message": {"mid": "m", "text": "?"}}]}]}).encode()
    with pytest.raises(UnreadablePayload, match="sender.id"):
        messenger.parse(raw, account=PAGE, raw_ref="r")


# -- Instagram (Meta's documented examples: developers.facebook.com/docs/instagram-platform/webhooks/examples)

IG_ACCOUNT = "17841400000000001"
IGSID = "6543210987654321"


def ig_body(*events: dict) -> bytes:
    return json.dumps({"object": "instagram", "entry": [{"id": IG_ACCOUNT, "time": 1569262486134, "messaging": [
        {"sender": {"id": IGSID}, "recipient": {"id": IG_ACCOUNT}, "timestamp": 1569262485349, **event}
        for event in events]}]}).encode()


def test_instagram_text_message():
    [message] = instagram.parse(ig_body({"message": {"mid": "aWdfZAG1faXRlbTox", "text": "Is it in stock?"}}),
                                account=IG_ACCOUNT, raw_ref="r")
    assert (message.channel, message.external_id, message.text) == ("instagram", "aWdfZAG1faXRlbTox", "Is it in stock?")
    assert (message.sender.kind, message.sender.value) == ("instagram", IGSID)
    assert message.account == IG_ACCOUNT and message.thread_keys.platform_thread_id == f"{IG_ACCOUNT}:{IGSID}"
    assert message.received_at == datetime(2019, 9, 23, 18, 14, 45, 349000, tzinfo=timezone.utc)


def test_instagram_story_reply_keeps_the_text_and_says_so():
    [message] = instagram.parse(ig_body({"message": {
        "mid": "aWdfZAG1faXRlbToy", "text": "Love this colour",
        "reply_to": {"story": {"url": "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=1", "id": "1801"}}}}),
        account=IG_ACCOUNT, raw_ref="r")
    assert message.text == ("[Replied to your story: https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=1]\n"
                            "Love this colour")
    assert message.thread_keys.in_reply_to is None


def test_instagram_deleted_message_echo_and_attachment():
    parsed = instagram.parse(ig_body(
        {"message": {"mid": "m_gone", "is_deleted": True}},
        {"message": {"mid": "m_ours", "text": "hi", "is_echo": True}},
        {"message": {"mid": "m_img", "attachments": [
            {"type": "image", "payload": {"url": "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=2"}}]}},
        {"message": {"mid": "m_odd", "is_unsupported": True}},
    ), account=IG_ACCOUNT, raw_ref="r")
    assert [m.external_id for m in parsed] == ["m_img", "m_odd"]
    assert parsed[0].remote_media[0].ref == "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=2"
    assert "does not pass on" in parsed[1].text


def test_instagram_seen_names_the_message_and_reactions_too():
    read, reaction = instagram.parse(ig_body(
        {"read": {"mid": "m_our_reply"}},
        {"reaction": {"mid": "m_our_reply", "action": "react", "reaction": "love", "emoji": "\u2764\ufe0f"}},
    ), account=IG_ACCOUNT, raw_ref="r")
    assert (read.channel, read.external_id, read.status) == ("instagram", "m_our_reply", "read")
    assert (reaction.external_id, reaction.reaction) == ("m_our_reply", "\u2764\ufe0f")


def test_instagram_check_wants_the_instagram_object():
    instagram.check(ig_body())
    with pytest.raises(UnreadablePayload, match="expected 'instagram'"):
        instagram.check(body())


# -- sending rules ------------------------------------------------------------------------------------

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)


def test_reply_within_24_hours_is_a_response():
    assert messenger.messaging_type((NOW - timedelta(hours=23)).isoformat(), NOW) == {"messaging_type": "RESPONSE"}
    assert messenger.messaging_type(None, NOW) == {"messaging_type": "RESPONSE"}


def test_reply_within_7_days_is_tagged_human_agent_naive_times_being_utc():
    last = (NOW - timedelta(days=3)).replace(tzinfo=None).isoformat()
    assert messenger.messaging_type(last, NOW) == {"messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"}


def test_reply_after_7_days_is_refused_for_good():
    with pytest.raises(DeliveryError, match="only within 7 days of the customer's last message") as caught:
        messenger.messaging_type((NOW - timedelta(days=8)).isoformat(), NOW, platform="Messenger")
    assert caught.value.retryable is False


def test_long_text_is_split_at_word_breaks_within_the_limit():
    text = " ".join(["teapot"] * 700)  # 4899 characters
    parts = messenger.split_text(text, 2000)
    assert len(parts) == 3 and all(len(p) <= 2000 for p in parts)
    assert " ".join(parts) == text
    assert messenger.split_text("short", 2000) == ["short"]
    assert messenger.split_text("", 2000) == []


def test_instagram_counts_its_limit_in_utf8_bytes():
    text = "ä" * 900  # 1800 bytes, no spaces
    parts = messenger.split_text(text, instagram.INSTAGRAM.text_limit, instagram.INSTAGRAM.measure)
    assert [len(p.encode()) for p in parts] == [1000, 800]
    assert "".join(parts) == text
