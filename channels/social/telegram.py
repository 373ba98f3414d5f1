"""The Telegram adapter: verify a webhook by its secret token, parse its `Update`, reply through the
Bot API (channels/social/telegram_api.py).

Telegram signs nothing: `setWebhook(secret_token=...)` makes it send that token in
`X-Telegram-Bot-Api-Secret-Token` with every update (core.telegram.org/bots/api#setwebhook), and
the token names the bot, so each bot needs its own. There is no subscription handshake.

Names: a message is `{chat id}:{message id}` (message ids count per chat), the same form the
sender returns, so a reply quoting any message finds its ticket; a ticket's thread is
`{bot id}:{chat id}`. An edit is stored as a message of its own (`{chat id}:{message id}:edit:{edit
date}`, text marked "(edited)", replying to the original): the customer's first words stay as the
agent read them, and the change is visible. A channel's post comes from the channel; a button press
(`callback_query`) is a message whose text is the button's data, replying to the message with the
button. Other updates (a member joined, a poll's votes) carry nothing for an agent.
"""
from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from datetime import datetime, timezone

from channels.social.telegram_api import CHANNEL, TelegramSender, fetch_media, get_me, set_webhook
from helpdesk.channel import (Identity, InboundMessage, RemoteMedia, SignatureInvalid, ThreadKeys,
                              UnreadablePayload, register_sender)
from helpdesk.inbound import pipeline
from helpdesk.settings import Settings
from helpdesk.social.accounts import directory
from helpdesk.web.public import Webhook, endpoints

__all__ = ["CHANNEL", "WEBHOOK", "check", "get_me", "install", "parse", "set_webhook", "verify"]

SECRET_HEADER = "x-telegram-bot-api-secret-token"
# (update key, is it an edit)
_POSTS = (("message", False), ("edited_message", True), ("channel_post", False), ("edited_channel_post", True))
# content an agent should know was sent, though it is neither text nor a file
_OTHER_CONTENT = ("dice", "game", "story", "invoice", "giveaway", "paid_media")


async def verify(headers: Mapping[str, str], body: bytes, settings: Settings) -> str:
    """The id of the bot whose secret token the request carries; SignatureInvalid otherwise."""
    given = headers.get(SECRET_HEADER, "")
    if not given:
        raise SignatureInvalid("X-Telegram-Bot-Api-Secret-Token is missing")
    for account in await directory.accounts(settings, CHANNEL):
        if account.verify_token and hmac.compare_digest(given.encode(), account.verify_token.encode()):
            return account.external_id
    raise SignatureInvalid("X-Telegram-Bot-Api-Secret-Token matches no active telegram bot's secret token")


def check(body: bytes) -> None:
    _update(body)


def _update(raw: bytes) -> dict:
    try:
        update = json.loads(raw)
    except ValueError as error:
        raise UnreadablePayload(f"the body is not JSON: {error}") from None
    if not isinstance(update, dict) or type(update.get("update_id")) is not int:
        raise UnreadablePayload("a Telegram Update is a JSON object with an integer `update_id`")
    return update


def parse(raw: bytes, *, account: str | None, raw_ref: str) -> list[InboundMessage]:
    """The message one Update carries, or none (updates about members, polls, ...)."""
    update = _update(raw)
    try:
        if isinstance(update.get("callback_query"), dict):
            return _button_press(update["callback_query"], account, raw_ref)
        for key, edited in _POSTS:
            if isinstance(update.get(key), dict):
                return _post(update[key], edited, account, raw_ref)
    except (KeyError, TypeError, ValueError) as error:
        raise UnreadablePayload(f"a Telegram update this adapter cannot read: {type(error).__name__}: {error}") \
            from None
    return []


def _post(post: dict, edited: bool, account: str | None, raw_ref: str) -> list[InboundMessage]:
    chat_id, message_id = _int(post["chat"]["id"]), _int(post["message_id"])
    media = _media(post)
    text = "\n".join(filter(None, [post.get("text") or post.get("caption") or "", *_described(post)]))
    if not text and not media:
        return []  # a service message: someone joined, the title changed, a message was pinned
    external_id = f"{chat_id}:{message_id}"
    in_reply_to = _message_ref(chat_id, post.get("reply_to_message"))
    at = post.get("date")
    if edited:
        at = post.get("edit_date") or at
        external_id, in_reply_to = f"{external_id}:edit:{_int(at)}", external_id
        text = f"(edited) {text}".rstrip()
    return [InboundMessage(
        channel=CHANNEL, external_id=external_id, sender=_identity(post), subject=None, text=text, html=None,
        attachments=[], remote_media=media, received_at=_time(at), account=account, raw_ref=raw_ref,
        thread_keys=ThreadKeys(in_reply_to=in_reply_to, platform_thread_id=_thread(account, chat_id)))]


def _button_press(query: dict, account: str | None, raw_ref: str) -> list[InboundMessage]:
    data = query.get("data")
    if not isinstance(data, str) or not data:
        return []  # a game's button: no data to read
    message = query.get("message") if isinstance(query.get("message"), dict) else None
    # a button under an inline-mode message has no chat: the presser's private chat is the only one
    chat_id = _int(message["chat"]["id"]) if message else _int(query["from"]["id"])
    return [InboundMessage(
        channel=CHANNEL, external_id=f"{chat_id}:button:{query['id']}", sender=_person(query["from"]),
        subject=None, text=data, html=None, attachments=[],
        received_at=datetime.now(timezone.utc),  # a callback query carries no date: it is live
        account=account, raw_ref=raw_ref,
        thread_keys=ThreadKeys(in_reply_to=_message_ref(chat_id, message),
                               platform_thread_id=_thread(account, chat_id)))]


def _identity(post: dict) -> Identity:
    """Who wrote: the chat a post was made on behalf of (a channel, a group's anonymous admin, whose
    `from` is a placeholder user), else the user, else the chat itself (a channel's post)."""
    if isinstance(post.get("sender_chat"), dict):
        return _person(post["sender_chat"])
    if isinstance(post.get("from"), dict):
        return _person(post["from"])
    return _person(post["chat"])


def _person(who: dict) -> Identity:
    full_name = " ".join(filter(None, [who.get("first_name"), who.get("last_name")])).strip()
    username = f"@{who['username']}" if who.get("username") else None
    return Identity(CHANNEL, str(_int(who["id"])), full_name or who.get("title") or username)


def _media(post: dict) -> tuple[RemoteMedia, ...]:
    found: list[RemoteMedia] = []
    photos = [p for p in post.get("photo") or () if isinstance(p, dict) and p.get("file_id")]
    if photos:  # the same picture in several sizes: the largest
        largest = max(photos, key=lambda p: (p.get("width", 0) * p.get("height", 0), p.get("file_size", 0)))
        found.append(RemoteMedia(largest["file_id"], "image/jpeg", None, "image"))
    for key, kind in (("animation", "video"), ("document", "document"), ("video", "video"),
                      ("video_note", "video"), ("voice", "voice"), ("audio", "audio"), ("sticker", "sticker")):
        item = post.get(key)
        if not isinstance(item, dict) or not item.get("file_id"):
            continue
        if any(m.ref == item["file_id"] for m in found):
            continue  # an animation is sent as a document too, with the same file
        content_type = item.get("mime_type") or {"sticker": _sticker_type(item), "video_note": "video/mp4"}.get(key)
        found.append(RemoteMedia(item["file_id"], content_type, item.get("file_name"), kind))
    return tuple(found)


def _sticker_type(sticker: dict) -> str:
    if sticker.get("is_animated"):
        return "application/x-tgsticker"
    return "video/webm" if sticker.get("is_video") else "image/webp"


def _described(post: dict) -> list[str]:
    """Lines for content that is neither text nor a file, so the agent knows it was sent."""
    lines = []
    if isinstance(post.get("sticker"), dict):
        lines.append(f"[sticker {post['sticker'].get('emoji') or ''}]".replace(" ]", "]"))
    if isinstance(post.get("venue"), dict):
        venue = post["venue"]
        lines.append(f"[place: {venue.get('title', '')}, {venue.get('address', '')}]")
    elif isinstance(post.get("location"), dict):
        lines.append(f"[location: {post['location'].get('latitude')}, {post['location'].get('longitude')}]")
    if isinstance(post.get("contact"), dict):
        contact = post["contact"]
        name = " ".join(filter(None, [contact.get("first_name"), contact.get("last_name")]))
        lines.append(f"[contact: {name}, {contact.get('phone_number', '')}]")
    if isinstance(post.get("poll"), dict):
        lines.append(f"[poll: {post['poll'].get('question', '')}]")
    lines += [f"[a Telegram {key.replace('_', ' ')}, not shown here]" for key in _OTHER_CONTENT if key in post]
    return lines


def _message_ref(chat_id: int, message: dict | None) -> str | None:
    if not isinstance(message, dict) or "message_id" not in message:
        return None
    return f"{chat_id}:{_int(message['message_id'])}"


def _thread(account: str | None, chat_id: int) -> str | None:
    return f"{account}:{chat_id}" if account else None


def _int(value) -> int:
    if type(value) is not int:
        raise ValueError(f"expected an integer id or date, got {value!r}")
    return value


def _time(date) -> datetime:
    return datetime.fromtimestamp(_int(date), timezone.utc)


WEBHOOK = Webhook(platform=CHANNEL, verify=verify, check=check, deferred=True)


def install(settings: Settings) -> None:
    """Register the parser, media fetcher, sender and webhook of telegram with the core."""
    pipeline.register_parser(CHANNEL, parse)
    pipeline.register_media_fetcher(CHANNEL, fetch_media)
    register_sender(TelegramSender(settings))
    endpoints.add_webhook(WEBHOOK)
