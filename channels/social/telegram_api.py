"""Telegram's Bot API as our adapter calls it: replies (`TelegramSender`), file downloads
(`fetch_media`), `set_webhook` and `get_me`.

Every method is `POST {api_base_url}/bot{token}/{method}`, answered `{"ok": true, "result": ...}` or
`{"ok": false, "error_code": N, "description": "...", "parameters": {"retry_after": S}}`
(core.telegram.org/bots/api#making-requests). The bot's token is part of every URL's path, so no URL
and no raw transport error is ever put into a message or a log line: `_Bot` redacts its token from
whatever it says, and `hide_tokens_in_httpx_log` keeps httpx's own INFO line per request clean.
"""
from __future__ import annotations

import asyncio
import json
import logging
import mimetypes
import posixpath
import re
from collections.abc import Mapping
from typing import Any

import httpx

from helpdesk.channel import Attachment, DeliveryError, Outbound, RemoteMedia
from helpdesk.settings import Settings
from helpdesk.social.accounts import AccountSecrets, directory

CHANNEL = "telegram"
MAX_TEXT = 4096  # sendMessage's limit, in UTF-16 code units (what Telegram counts)
MAX_DOWNLOAD = 20 * 1024 * 1024  # getFile serves files up to 20 MB to bots
MAX_UPLOAD = 50 * 1024 * 1024  # sendDocument takes files up to 50 MB from bots
# what setWebhook subscribes to: what `parse` reads (the others would only be ignored)
ALLOWED_UPDATES = ("message", "edited_message", "channel_post", "edited_channel_post", "callback_query")
_WAIT_BETWEEN_PARTS = 5.0  # a reply split in parts waits out a rate limit this short rather than fail half sent
_TOKEN_IN_URL = re.compile(r"/bot\d+:[A-Za-z0-9_-]+")
# Telegram's descriptions of permanent errors, and what the agent can make of them
_HINTS = {
    "bot was blocked by the user": "the customer blocked the bot; replies reach them again once they unblock it",
    "user is deactivated": "the customer's Telegram account was deleted",
    "chat not found": "the bot cannot reach this chat (it was deleted, or the bot was never in it)",
    "bot was kicked": "the bot was removed from this group or channel",
    "not enough rights": "the bot may not post in this chat: an admin has to give it that right",
    "need administrator rights": "the bot has to be an admin of this channel to post in it",
}


class _HideBotTokens(logging.Filter):
    """httpx logs each request's URL at INFO, and a Bot API URL holds the bot's token."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _TOKEN_IN_URL.sub("/bot<token>", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def hide_tokens_in_httpx_log() -> None:
    httpx_log = logging.getLogger("httpx")
    if not any(isinstance(f, _HideBotTokens) for f in httpx_log.filters):
        httpx_log.addFilter(_HideBotTokens())


hide_tokens_in_httpx_log()


class _Bot:
    """One bot's calls. Its token stays in here: every error it raises has the token redacted."""

    def __init__(self, api_base_url: str, token: str | None) -> None:
        if not token:
            raise DeliveryError("this Telegram account has no bot token: enter it in the account settings",
                                retryable=False)
        self.api_base_url = api_base_url.rstrip("/")
        self._token = token

    async def call(self, method: str, *, json_body: Mapping | None = None, data: Mapping | None = None,
                   files: Mapping | None = None, timeout: float = 15.0) -> dict:
        """Telegram's whole answer (`ok`, `result`, ...); DeliveryError when it is not ok."""
        url = f"{self.api_base_url}/bot{self._token}/{method}"
        try:
            async with httpx.AsyncClient(timeout=timeout) as client:
                response = await client.post(url, json=json_body, data=data, files=files)
        except httpx.HTTPError as error:
            raise self._unreachable(method, error) from None
        answer = _json_object(response)
        if response.status_code == 200 and answer.get("ok") is True:
            return answer
        raise _api_error(method, response, answer)

    async def download(self, file_path: str, *, limit: int = MAX_DOWNLOAD) -> bytes:
        url = f"{self.api_base_url}/file/bot{self._token}/{file_path.lstrip('/')}"
        try:
            async with httpx.AsyncClient(timeout=60.0) as client, client.stream("GET", url) as response:
                if response.status_code != 200:
                    await response.aread()
                    raise _api_error("file download", response, _json_object(response))
                data = bytearray()
                async for chunk in response.aiter_bytes():
                    data += chunk
                    if len(data) > limit:
                        raise DeliveryError(f"the file is larger than {limit // (1024 * 1024)} MB, "
                                            "more than Telegram lets bots download", retryable=False)
                return bytes(data)
        except httpx.HTTPError as error:
            raise self._unreachable("file download", error) from None

    def _unreachable(self, what: str, error: httpx.HTTPError) -> DeliveryError:
        detail = str(error).replace(self._token, "<bot token>")
        return DeliveryError(f"Telegram {what}: could not reach {self.api_base_url}: {type(error).__name__}"
                             + (f": {detail}" if detail else ""), retryable=True)


def _json_object(response: httpx.Response) -> dict:
    try:
        answer = response.json()
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


def _api_error(method: str, response: httpx.Response, answer: dict) -> DeliveryError:
    """Telegram's error as the agent should read it; retryable for rate limits and outages."""
    code = answer.get("error_code") if isinstance(answer.get("error_code"), int) else response.status_code
    description = str(answer.get("description") or response.reason_phrase or "error")
    parameters = answer.get("parameters") if isinstance(answer.get("parameters"), dict) else {}
    retry_after = parameters.get("retry_after")
    if not isinstance(retry_after, (int, float)):
        try:
            retry_after = float(response.headers["retry-after"])
        except (KeyError, ValueError):
            retry_after = None
    detail = f"Telegram {method}: {description} (error {code})"
    if code == 401:
        detail += ": Telegram does not know this bot token (revoked or mistyped); enter the bot's current token"
    elif "migrate_to_chat_id" in parameters:
        detail += f": the group became a supergroup with chat id {parameters['migrate_to_chat_id']}"
    else:
        hint = next((text for phrase, text in _HINTS.items() if phrase in description.lower()), None)
        detail += f": {hint}" if hint else ""
    retryable = code == 429 or code >= 500 or response.status_code >= 500
    return DeliveryError(detail, retryable=retryable, retry_after=retry_after if retryable else None)


# -- replies ------------------------------------------------------------------------------------------

def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Parts of at most `limit` UTF-16 code units, cut at a paragraph, line or word where one is near."""
    parts, rest = [], text.strip()
    while _utf16_length(rest) > limit:
        cut = _fitting(rest, limit)
        for separator in ("\n\n", "\n", " "):
            at = rest.rfind(separator, 0, cut)
            if at > cut // 2:
                cut = at
                break
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    return parts + [rest] if rest else parts


def _utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _fitting(text: str, limit: int) -> int:
    """How many characters of `text` fit in `limit` UTF-16 code units (never half a surrogate pair)."""
    units = 0
    for index, character in enumerate(text):
        units += 2 if ord(character) > 0xFFFF else 1
        if units > limit:
            return index
    return len(text)


def chat_of(outbound: Outbound) -> int | str:
    """The chat a reply goes to: the ticket's thread (`{bot id}:{chat id}`), else the customer's user id
    (a private chat's id is the user's id)."""
    thread = outbound.extra.get("platform_thread_id") or ""
    chat = thread.rsplit(":", 1)[-1] if ":" in thread else outbound.recipient.value
    return int(chat) if re.fullmatch(r"-?\d+", chat) else chat


def _reply_parameters(outbound: Outbound, chat_id: int | str) -> dict | None:
    """In a group, the answer quotes the customer's message, so the group sees whom it answers; in a
    private chat (a positive chat id) there is only one person to answer, and quoting would be noise."""
    chat, _, message_id = (outbound.extra.get("reply_to") or "").rpartition(":")
    if not isinstance(chat_id, int) or chat_id > 0 or chat != str(chat_id) or not message_id.isdigit():
        return None
    return {"message_id": int(message_id), "allow_sending_without_reply": True}


class TelegramSender:
    """Replies through the ticket's bot: the text (in parts of 4096 characters), then each attachment
    as a document. Returns `{chat id}:{message id}` of the first part: how our parser names messages,
    so a customer's reply quoting it threads back."""

    channel = CHANNEL

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def send(self, outbound: Outbound) -> str | None:
        account = outbound.sending_account
        if not account:
            raise DeliveryError("no active Telegram bot for this ticket: add or activate its account", retryable=False)
        bot = _Bot(account.get("api_base_url") or self.settings.telegram_api_url, account.get("access_token"))
        chat_id = chat_of(outbound)
        reply = _reply_parameters(outbound, chat_id)
        calls = [("sendMessage", {"json_body": {"chat_id": chat_id, "text": part}})
                 for part in split_text(outbound.text or "")]
        for attachment in outbound.attachments:
            if len(attachment.data) > MAX_UPLOAD:
                raise DeliveryError(f"{attachment.filename} is larger than the 50 MB Telegram takes from bots",
                                    retryable=False)
            calls.append(("sendDocument", {"data": {"chat_id": str(chat_id)}, "files": {
                "document": (attachment.filename, attachment.data, attachment.content_type)}, "timeout": 120.0}))
        if not calls:
            raise DeliveryError("nothing to send: the reply has no text and no attachment", retryable=False)
        if reply:
            first = calls[0][1]
            if "json_body" in first:
                first["json_body"]["reply_parameters"] = reply
            else:
                first["data"]["reply_parameters"] = json.dumps(reply)
        sent: list[int] = []
        for method, arguments in calls:
            sent.append(await self._part(bot, method, arguments, sent, len(calls)))
        return f"{chat_id}:{sent[0]}"

    async def _part(self, bot: _Bot, method: str, arguments: dict, sent: list[int], total: int) -> int:
        """One call of a reply; its message id. Once a part is out, a failure cannot be retried later
        (the retry would send that part again): a short rate limit is waited out here, anything else
        fails for good."""
        try:
            return await _sent_message_id(bot, method, arguments)
        except DeliveryError as error:
            if not sent:
                raise
            failure = error
        if failure.retryable and failure.retry_after is not None and failure.retry_after <= _WAIT_BETWEEN_PARTS:
            await asyncio.sleep(failure.retry_after)
            try:
                return await _sent_message_id(bot, method, arguments)
            except DeliveryError as error:
                failure = error
        raise DeliveryError(f"{failure} (after {len(sent)} of {total} parts were delivered: sending the reply "
                            "again would repeat them)", retryable=False)


async def _sent_message_id(bot: _Bot, method: str, arguments: dict) -> int:
    message_id = ((await bot.call(method, **arguments)).get("result") or {}).get("message_id")
    if not isinstance(message_id, int):
        raise DeliveryError(f"Telegram {method}: the answer names no message_id", retryable=False)
    return message_id


# -- files, webhook, the bot itself --------------------------------------------------------------------

async def fetch_media(media: RemoteMedia, *, channel: str, account: str | None, settings: Settings) -> Attachment:
    """getFile for the file's path, then the file itself, with the token of the bot that received it."""
    bot_account = await directory.account(settings, CHANNEL, account)
    if bot_account is None:
        raise DeliveryError(f"no active Telegram bot with id {account} to download the file with", retryable=False)
    bot = _Bot(bot_account.api_base_url, bot_account.access_token)
    file = (await bot.call("getFile", json_body={"file_id": media.ref})).get("result") or {}
    size = file.get("file_size")
    if isinstance(size, int) and size > MAX_DOWNLOAD:
        raise DeliveryError(f"the file is {size // (1024 * 1024)} MB, more than the 20 MB Telegram lets bots download",
                            retryable=False)
    path = file.get("file_path")
    if not isinstance(path, str) or not path:
        raise DeliveryError("Telegram getFile: the answer has no file_path", retryable=False)
    data = await bot.download(path)
    content_type = media.content_type or mimetypes.guess_type(path)[0] or "application/octet-stream"
    return Attachment(media.filename or posixpath.basename(path) or "file", content_type, data)


async def set_webhook(account: AccountSecrets, url: str) -> dict:
    """Point the bot's updates at `url`, signed with the account's secret token; Telegram's answer."""
    if not account.verify_token:
        raise DeliveryError("this Telegram account has no secret token to sign its webhook with", retryable=False)
    return await _Bot(account.api_base_url, account.access_token).call("setWebhook", json_body={
        "url": url, "secret_token": account.verify_token, "allowed_updates": list(ALLOWED_UPDATES)})


async def get_me(account: AccountSecrets) -> dict[str, Any]:
    """The bot the token belongs to (id, username): checks a token before it is saved or used."""
    return (await _Bot(account.api_base_url, account.access_token).call("getMe")).get("result") or {}
