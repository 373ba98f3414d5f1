"""The Telegram adapter's pure parts: Zammad's Update examples in the shared corpus parse into the
messages they carry; edits, button presses, replies and service messages; splitting long replies;
Telegram's errors as the agent reads them; no bot token in httpx's log lines."""
from __future__ import annotations

import json
import logging
from datetime import datetime, timezone

import httpx
import pytest

from channels.social import telegram, telegram_api
from helpdesk.channel import Identity, Outbound, RemoteMedia, UnreadablePayload
from tests.conftest import CORPUS

FOLDER = CORPUS / "webhooks" / "telegram"
BOT = "7000001"


def update(file: str) -> bytes:
    return (FOLDER / file).read_bytes()


def parsed(raw: bytes | dict) -> list:
    if isinstance(raw, dict):
        raw = json.dumps(raw).encode()
    return telegram.parse(raw, account=BOT, raw_ref="raw-1")


def one(raw: bytes | dict):
    [message] = parsed(raw)
    return message


def corpus_files() -> list[str]:
    return sorted(path.name for path in FOLDER.glob("*.json")) if FOLDER.is_dir() else []


@pytest.fixture
def corpus(corpus_dir):
    return corpus_dir


def test_the_corpus_has_the_eighteen_zammad_updates(corpus):
    assert len(corpus_files()) == 18


@pytest.mark.parametrize("file", corpus_files())
def test_every_corpus_update_passes_the_check_and_parses_into_one_message(corpus, file):
    telegram.check(update(file))
    message = one(update(file))
    assert message.channel == "telegram" and message.account == BOT and message.raw_ref == "raw-1"
    chat = message.external_id.split(":")[0]
    assert message.thread_keys.platform_thread_id == f"{BOT}:{chat}"
    assert message.received_at.tzinfo is not None and message.sender.kind == "telegram"


def test_private_text_is_from_the_user_with_their_full_name(corpus):
    message = one(update("private-text.json"))
    assert message.external_id == "111111:5"
    assert message.sender == Identity("telegram", "111111", "Test Firstname Test Lastname")
    assert message.text == "Hello, I need your Help" and message.subject is None
    assert message.received_at == datetime(2015, 9, 7, 17, 5, 32, tzinfo=timezone.utc)
    assert message.thread_keys.platform_thread_id == f"{BOT}:111111" and message.thread_keys.in_reply_to is None
    assert message.remote_media == ()


def test_start_command_is_kept_as_the_customers_first_message(corpus):
    message = one(update("private-start2.json"))
    assert (message.external_id, message.text) == ("222222:1001", "/start")
    assert message.sender == Identity("telegram", "222222", "Test Firstname2 Test Lastname2")


def test_photo_is_its_largest_size_with_the_caption_as_text(corpus):
    message = one(update("private-photo.json"))
    assert message.remote_media == (RemoteMedia("photofileid3", "image/jpeg", None, "image"),)
    assert message.text == "caption 123<b>abc</b>"  # as sent: Telegram captions are plain text
    assert message.html is None


def test_document_keeps_its_name_and_type(corpus):
    message = one(update("private-document.json"))
    assert message.remote_media == (RemoteMedia("documentfileid", "application/pdf", "document.pdf", "document"),)
    assert message.text == ""


@pytest.mark.parametrize("file, media", [
    ("private-video.json", RemoteMedia("videofileid", "video/mp4", None, "video")),
    ("private-voice.json", RemoteMedia("voicefileid", "audio/ogg", None, "voice")),
    ("channel-voice.json", RemoteMedia("voicefileid", "audio/ogg", None, "voice")),
])
def test_video_and_voice_are_remote_media_by_file_id(corpus, file, media):
    assert one(update(file)).remote_media == (media,)


def test_channel_post_comes_from_the_channel(corpus):
    message = one(update("channel-video.json"))
    assert message.sender == Identity("telegram", "123456789", "Bot Channel")
    assert message.external_id == "123456789:14" and message.text == "caption"
    assert message.thread_keys.platform_thread_id == f"{BOT}:123456789"
    assert one(update("channel-text.json")).sender.display_name == "ZBotChannel"


def test_animated_sticker_is_a_tgs_file_and_its_emoji_is_told(corpus):
    message = one(update("channel-sticker.json"))
    assert message.remote_media == (RemoteMedia("stickerfileid", "application/x-tgsticker", None, "sticker"),)
    assert message.text == "[sticker 😄]"


def test_inconsistent_private_sticker_fixture_reads_as_the_users_post(corpus):
    # a `channel_post` in a private chat, with Zammad's routing keys inside: the user's id, not the keys
    message = one(update("private-sticker.json"))
    assert message.external_id == "111111:273"
    assert message.sender == Identity("telegram", "111111", "Test Firstname Test Lastname")
    assert message.account == BOT  # the verified bot, never the payload's `bid`


def test_zammad_routing_keys_are_ignored(corpus):
    message = one(update("channel-document.json"))
    assert message.account == BOT and "0987654321" not in (message.thread_keys.platform_thread_id or "")


def _private(**fields) -> dict:
    user = {"id": 42, "is_bot": False, "first_name": "Ann", "last_name": "Lee", "username": "annlee"}
    return {"message_id": 9, "from": user, "chat": {"id": 42, "first_name": "Ann", "type": "private"},
            "date": 1_700_000_000, **fields}


def test_reply_to_a_message_names_it_in_our_external_id_form():
    message = one({"update_id": 1, "message": _private(text="see above", reply_to_message={
        "message_id": 7, "chat": {"id": 42, "type": "private"}, "date": 1_699_999_000, "text": "Your order shipped"})})
    assert message.thread_keys.in_reply_to == "42:7"


def test_edit_is_a_new_message_marked_edited_replying_to_the_original():
    message = one({"update_id": 2, "edited_message": _private(text="I meant order 1002", edit_date=1_700_000_300)})
    assert message.external_id == "42:9:edit:1700000300"
    assert message.text == "(edited) I meant order 1002"
    assert message.thread_keys.in_reply_to == "42:9"
    assert message.received_at == datetime.fromtimestamp(1_700_000_300, timezone.utc)


def test_button_press_is_a_message_with_the_buttons_data():
    message = one({"update_id": 3, "callback_query": {
        "id": "4382bfdwdsb323b2d9", "from": {"id": 42, "first_name": "Ann", "is_bot": False},
        "chat_instance": "-98765", "data": "order:1002:cancel",
        "message": {"message_id": 77, "chat": {"id": 42, "type": "private"}, "date": 1_700_000_000, "text": "?"}}})
    assert message.text == "order:1002:cancel" and message.external_id == "42:button:4382bfdwdsb323b2d9"
    assert message.sender == Identity("telegram", "42", "Ann")
    assert message.thread_keys.in_reply_to == "42:77"


def test_name_falls_back_to_the_username():
    message = one({"update_id": 4, "message": {
        "message_id": 1, "from": {"id": 5, "is_bot": False, "first_name": "", "username": "nameless"},
        "chat": {"id": 5, "type": "private"}, "date": 1_700_000_000, "text": "hi"}})
    assert message.sender.display_name == "@nameless"


def test_group_message_is_from_the_member_in_the_groups_thread():
    message = one({"update_id": 5, "message": {
        "message_id": 31, "from": {"id": 42, "is_bot": False, "first_name": "Ann"},
        "chat": {"id": -1001234, "title": "Shop fans", "type": "supergroup"}, "date": 1_700_000_000, "text": "hi"}})
    assert message.sender.value == "42" and message.external_id == "-1001234:31"
    assert message.thread_keys.platform_thread_id == f"{BOT}:-1001234"


def test_location_and_contact_are_told_in_the_text():
    message = one({"update_id": 6, "message": _private(
        location={"latitude": 52.52, "longitude": 13.405},
        contact={"phone_number": "+49301234567", "first_name": "Bob"})})
    assert message.text == "[location: 52.52, 13.405]\n[contact: Bob, +49301234567]"


@pytest.mark.parametrize("body", [
    {"update_id": 7, "my_chat_member": {"chat": {"id": 42}, "date": 1}},
    {"update_id": 8, "message": _private(new_chat_members=[{"id": 9, "is_bot": False, "first_name": "Z"}])},
    {"update_id": 9, "callback_query": {"id": "1", "from": {"id": 42}, "chat_instance": "1", "game_short_name": "g"}},
    {"update_id": 10, "poll_answer": {"poll_id": "1"}},
])
def test_updates_without_a_message_for_an_agent_give_nothing(body):
    assert parsed(body) == []


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b'{"message": {}}', b'{"update_id": "5"}',
                                 b'{"update_id": true}', b"\xff\xfe"])
def test_check_refuses_what_is_not_an_update(raw):
    with pytest.raises(UnreadablePayload):
        telegram.check(raw)


def test_update_with_a_broken_message_is_unreadable():
    with pytest.raises(UnreadablePayload, match="cannot read"):
        parsed({"update_id": 11, "message": {"message_id": "x", "chat": {"id": 1}, "date": 1, "text": "hi"}})
    with pytest.raises(UnreadablePayload):
        parsed({"update_id": 12, "message": {"message_id": 1, "date": 1, "text": "no chat"}})


# -- replies -----------------------------------------------------------------------------------------

def test_short_text_is_one_part():
    assert telegram_api.split_text("  Hello Ann  ") == ["Hello Ann"]
    assert telegram_api.split_text("") == []


def test_long_text_is_split_at_paragraphs_within_the_limit():
    first, second, third = ("word " * 500).strip(), ("more " * 500).strip(), ("last " * 100).strip()
    parts = telegram_api.split_text("\n\n".join([first, second, third]))  # 2499 + 2 + 2499 + 2 + 499
    assert parts == [first, f"{second}\n\n{third}"]


def test_split_counts_utf16_units_and_never_halves_an_emoji():
    text = "😀" * 3000  # 6000 UTF-16 code units, no spaces
    parts = telegram_api.split_text(text)
    assert "".join(parts) == text
    assert all(len(p.encode("utf-16-le")) // 2 <= 4096 for p in parts) and parts[0] == "😀" * 2048


def _outbound(**extra) -> Outbound:
    return Outbound(message_id=1, ticket_id=1, ticket_number=1, channel="telegram",
                    recipient=Identity("telegram", "42"), cc=(), subject=None, text="hi", html=None, attachments=[],
                    external_id="out-1", extra=extra)


def test_reply_goes_to_the_tickets_chat_else_to_the_user():
    assert telegram_api.chat_of(_outbound(platform_thread_id=f"{BOT}:-1001234")) == -1001234
    assert telegram_api.chat_of(_outbound(platform_thread_id=None)) == 42


def _error(status: int, body: dict | bytes, headers: dict | None = None):
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = httpx.Response(status, content=content, headers=headers,
                              request=httpx.Request("POST", "http://api.test/botTOKEN/sendMessage"))
    return telegram_api._api_error("sendMessage", response, telegram_api._json_object(response))


def test_rate_limit_is_retryable_after_what_telegram_asked():
    error = _error(429, {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 7",
                         "parameters": {"retry_after": 7}})
    assert error.retryable and error.retry_after == 7
    assert str(error) == "Telegram sendMessage: Too Many Requests: retry after 7 (error 429)"


def test_outage_is_retryable_even_without_telegrams_json():
    error = _error(502, b"<html>Bad Gateway</html>")
    assert error.retryable and "Bad Gateway (error 502)" in str(error)


def test_blocked_bot_is_permanent_and_says_what_happened():
    error = _error(403, {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"})
    assert not error.retryable and error.retry_after is None
    assert str(error).startswith("Telegram sendMessage: Forbidden: bot was blocked by the user (error 403): "
                                 "the customer blocked the bot")


def test_unknown_chat_and_revoked_token_are_permanent():
    chat = _error(400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"})
    assert not chat.retryable and "cannot reach this chat" in str(chat)
    token = _error(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
    assert not token.retryable and "does not know this bot token" in str(token)


def test_httpx_request_lines_never_show_a_bot_token(caplog):
    with caplog.at_level(logging.INFO, logger="httpx"):
        logging.getLogger("httpx").info('HTTP Request: %s %s "%s %d %s"', "POST",
                                        "https://api.telegram.org/bot123456:AAH-secret_part/sendMessage",
                                        "HTTP/1.1", 200, "OK")
    [record] = caplog.records
    assert "AAH-secret_part" not in record.getMessage() and "/bot<token>/sendMessage" in record.getMessage()
