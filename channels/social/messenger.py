"""Facebook Messenger: Meta's `page` webhooks in, the Send API out. Instagram messaging is the same
format on another object (`instagram.py` makes its own `MetaMessaging` with different names and limits).

Each `entry[]` is one page (its id is the account), each `messaging[]` event one thing that happened:
- `message`: a customer's message (text, files as `RemoteMedia` by their CDN URL, `reply_to.mid` as
  the message it answers). `is_echo` messages are our own page's (our replies, the page inbox's):
  never a customer's, skipped. `is_deleted` (Instagram: the customer unsent it) is skipped too.
- `postback`: a button the customer pressed: a message whose text is the button's title.
- `delivery`: our messages (`mids`) reached the customer's device -> StatusUpdate "delivered".
- `read`: Instagram names the message read (`read.mid`) -> StatusUpdate "read". Messenger sends
  only a watermark ("everything before this time is read"), which names no message; the core's
  updates are about one message each, so a watermark is left out: a reply reads "delivered" until then.
- `reaction`: the customer's emoji on a message ("" when taken back) -> StatusUpdate with `reaction`.
- `optin`, `referral`, `account_linking`, handover and the rest: nothing to store.

A customer's messages on one page thread into one ticket (`platform_thread_id` "<page>:<PSID>").

Replies (`MessengerSender`) go to `POST /me/messages` with the page's token. Meta allows a freeform
reply within 24 hours of the customer's last message ("RESPONSE"); an agent may answer within 7 days
with the HUMAN_AGENT tag; after that Meta refuses, so we do before trying.
"""
from __future__ import annotations

import json
import mimetypes
import posixpath
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import unquote, urlsplit

import httpx

from channels.social import meta
from helpdesk.channel import (
    Attachment, DeliveryError, Identity, InboundMessage, Outbound, RemoteMedia, StatusUpdate, ThreadKeys,
    UnreadablePayload, register_sender,
)
from helpdesk.inbound import pipeline
from helpdesk.settings import Settings
from helpdesk.web.public import Webhook, endpoints

CHANNEL = "messenger"
MAX_MEDIA_BYTES = 25 * 1024 * 1024  # Meta's own limit for video, audio and files
STANDARD_WINDOW = timedelta(hours=24)
HUMAN_AGENT_WINDOW = timedelta(days=7)
TIMEOUT = httpx.Timeout(20.0, connect=5.0)
_FILE_KINDS = {"image", "video", "audio", "file"}
# attachment types that are a link to something, not a file we could keep: shown to the agent as a line
_SHARED_KINDS = {"fallback": "Shared a link", "share": "Shared a post", "ig_reel": "Shared a reel",
                 "reel": "Shared a reel", "story_mention": "Mentioned you in their story",
                 "template": "Sent a card", "location": "Shared a location", "product": "Shared a product"}


@dataclass(frozen=True)
class MetaMessaging:
    """One of Meta's Messenger-format platforms: what differs between Messenger and Instagram."""

    channel: str  # channel, identity kind and webhook path: "messenger" | "instagram"
    webhook_object: str  # the envelope's `object`: "page" | "instagram"
    name: str  # as agents read it
    text_limit: int  # the most one message may carry
    measure: Callable[[str], int] = len  # how the platform counts `text_limit`

    # -- webhook -------------------------------------------------------------------------------

    def check(self, body: bytes) -> None:
        meta.check_envelope(body, self.webhook_object)

    async def verify(self, headers: Mapping[str, str], body: bytes, settings: Settings) -> str | None:
        return await meta.verify(self.channel, headers, body, settings)

    async def handshake(self, params: Mapping[str, str], settings: Settings) -> str:
        return await meta.handshake(self.channel, params, settings)

    def webhook(self) -> Webhook:
        return Webhook(platform=self.channel, verify=self.verify, handshake=self.handshake, check=self.check,
                       deferred=True)

    def install(self, settings: Settings) -> None:
        """Register the parser, media fetcher, sender and webhook with the core."""
        pipeline.register_parser(self.channel, self.parse)
        pipeline.register_media_fetcher(self.channel, fetch_media)
        register_sender(MetaMessagingSender(settings, self))
        endpoints.add_webhook(self.webhook())

    # -- parse ---------------------------------------------------------------------------------

    def parse(self, raw: bytes, *, account: str | None, raw_ref: str) -> list[InboundMessage | StatusUpdate]:
        """Every customer message, receipt and reaction a delivery carries (often one, sometimes none)."""
        payload = meta.check_envelope(raw, self.webhook_object)
        found: list[InboundMessage | StatusUpdate] = []
        for page_id, event, at in _events(payload, account):
            if isinstance(event.get("message"), dict):
                message = self._message(page_id, event, at, raw_ref)
                if message is not None:
                    found.append(message)
            elif isinstance(event.get("postback"), dict):
                found.append(self._postback(page_id, event, at, raw_ref))
            elif isinstance(event.get("delivery"), dict):
                found += [StatusUpdate(self.channel, str(mid), "delivered", _time(event["delivery"].get("watermark"), at))
                          for mid in event["delivery"].get("mids") or ()]
            elif isinstance(event.get("read"), dict) and event["read"].get("mid"):
                found.append(StatusUpdate(self.channel, str(event["read"]["mid"]), "read", at))
            elif isinstance(event.get("reaction"), dict) and event["reaction"].get("mid"):
                reaction = event["reaction"]
                emoji = "" if reaction.get("action") == "unreact" else str(
                    reaction.get("emoji") or reaction.get("reaction") or "")
                found.append(StatusUpdate(self.channel, str(reaction["mid"]), None, at, reaction=emoji))
        return found

    def _message(self, page_id: str, event: dict, at: datetime, raw_ref: str) -> InboundMessage | None:
        message = event["message"]
        if message.get("is_echo") or message.get("is_deleted"):
            return None
        psid = _sender(event)
        lines = []
        reply_to = message.get("reply_to") if isinstance(message.get("reply_to"), dict) else {}
        if isinstance(reply_to.get("story"), dict):
            story_url = reply_to["story"].get("url")
            lines.append("[Replied to your story" + (f": {story_url}]" if story_url else "]"))
        if isinstance(message.get("text"), str) and message["text"].strip():
            lines.append(message["text"].strip())
        media = []
        for attachment in message.get("attachments") or ():
            if not isinstance(attachment, dict):
                continue
            kind, payload = attachment.get("type"), attachment.get("payload")
            payload = payload if isinstance(payload, dict) else {}
            if kind in _FILE_KINDS and payload.get("url"):
                media.append(RemoteMedia(ref=str(payload["url"]), kind="sticker" if payload.get("sticker_id") else kind))
            elif kind in _SHARED_KINDS or payload.get("url"):
                what = " ".join(str(p) for p in (attachment.get("title") or payload.get("title"), payload.get("url"))
                                if p)
                lines.append(f"[{_SHARED_KINDS.get(kind, 'Sent an attachment')}{': ' + what if what else ''}]")
        if message.get("is_unsupported"):
            lines.append(f"[A message {self.name} does not pass on to apps: open the {self.name} app to see it]")
        if not lines and not media:
            lines.append("[An empty message]")
        mid = str(message.get("mid") or f"{page_id}:{psid}:{int(at.timestamp() * 1000)}")
        return self._inbound(page_id, psid, mid, "\n".join(lines), at, raw_ref, media=tuple(media),
                             in_reply_to=str(reply_to["mid"]) if reply_to.get("mid") else None)

    def _postback(self, page_id: str, event: dict, at: datetime, raw_ref: str) -> InboundMessage:
        postback = event["postback"]
        psid = _sender(event)
        # the title is what the customer saw on the button; 2016-era postbacks carry only the payload
        text = str(postback.get("title") or postback.get("payload") or "[Pressed a button]")
        mid = str(postback.get("mid") or f"postback:{page_id}:{psid}:{int(at.timestamp() * 1000)}")
        return self._inbound(page_id, psid, mid, text, at, raw_ref)

    def _inbound(self, page_id: str, psid: str, mid: str, text: str, at: datetime, raw_ref: str, *,
                 media: tuple[RemoteMedia, ...] = (), in_reply_to: str | None = None) -> InboundMessage:
        # no name: Meta's webhooks carry only the page-scoped id of the sender
        return InboundMessage(
            channel=self.channel, external_id=mid, sender=Identity(self.channel, psid, None), subject=None,
            text=text, html=None, attachments=[],
            thread_keys=ThreadKeys(in_reply_to=in_reply_to, platform_thread_id=f"{page_id}:{psid}"),
            received_at=at, account=page_id, raw_ref=raw_ref, remote_media=media)


def _events(payload: dict, account: str | None) -> Iterator[tuple[str, dict, datetime]]:
    """(page id, event, when) of every `messaging[]` event of every entry."""
    for entry in payload["entry"]:
        if not isinstance(entry, dict):
            raise UnreadablePayload("an `entry` item is not an object")
        page_id = str(entry.get("id") or account or "")
        for event in entry.get("messaging") or ():
            if not isinstance(event, dict):
                raise UnreadablePayload("a `messaging` item is not an object")
            yield page_id, event, _time(event.get("timestamp"), _time(entry.get("time"), None))


def _sender(event: dict) -> str:
    sender = event.get("sender")
    if not isinstance(sender, dict) or not sender.get("id"):
        raise UnreadablePayload("a messaging event without `sender.id`")
    return str(sender["id"])


def _time(milliseconds, default: datetime | None) -> datetime:
    """Meta's times are Unix milliseconds."""
    try:
        return datetime.fromtimestamp(int(milliseconds) / 1000, tz=timezone.utc)
    except (TypeError, ValueError, OverflowError, OSError):
        return default or datetime.now(timezone.utc)


# -- media -------------------------------------------------------------------------------------------

async def fetch_media(media: RemoteMedia, *, channel: str, account: str | None, settings: Settings) -> Attachment:
    """Download a file a message refers to: Messenger's and Instagram's attachment URLs are signed CDN
    links that need no token (and expire: the worker fetches them right after the webhook)."""
    if urlsplit(media.ref).scheme not in ("http", "https"):
        raise DeliveryError(f"not a web address: {media.ref[:100]!r}", retryable=False)
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=True) as client:
            async with client.stream("GET", media.ref) as response:
                if response.status_code != 200:
                    raise DeliveryError(f"the {channel} file server answered HTTP {response.status_code}",
                                        retryable=response.status_code >= 500)
                data = bytearray()
                async for chunk in response.aiter_bytes():
                    data += chunk
                    if len(data) > MAX_MEDIA_BYTES:
                        raise DeliveryError(f"the file is larger than {MAX_MEDIA_BYTES // (1024 * 1024)} MB",
                                            retryable=False)
                content_type = response.headers.get("content-type", "").split(";")[0].strip()
    except httpx.HTTPError as error:
        raise meta.transport_error(error, f"downloading a {channel} file") from None
    content_type = content_type or media.content_type or "application/octet-stream"
    return Attachment(filename=media.filename or _filename(media, content_type), content_type=content_type,
                      data=bytes(data))


def _filename(media: RemoteMedia, content_type: str) -> str:
    name = posixpath.basename(unquote(urlsplit(media.ref).path))
    if name and "." in name.strip("."):
        return name[-200:]
    return (media.kind or "file") + (mimetypes.guess_extension(content_type) or "")


# -- send --------------------------------------------------------------------------------------------

def messaging_type(last_inbound_at: str | None, now: datetime, *, platform: str = "Messenger") -> dict:
    """How a reply may go out, by the time since the customer's last message: a standard "RESPONSE"
    within 24 hours, tagged HUMAN_AGENT within 7 days (an agent's answer, as Meta allows), else refused."""
    if not last_inbound_at:
        return {"messaging_type": "RESPONSE"}  # nothing to go by: the platform decides
    last = datetime.fromisoformat(last_inbound_at)
    if last.tzinfo is None:
        last = last.replace(tzinfo=timezone.utc)  # SQLite gives back naive UTC
    if now - last <= STANDARD_WINDOW:
        return {"messaging_type": "RESPONSE"}
    if now - last <= HUMAN_AGENT_WINDOW:
        return {"messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"}
    raise DeliveryError(
        f"{platform} allows replies only within 7 days of the customer's last message (their last was on "
        f"{last:%Y-%m-%d %H:%M} UTC): this reply cannot be delivered until they write again.", retryable=False)


def split_text(text: str, limit: int, measure: Callable[[str], int] = len) -> list[str]:
    """Text cut into parts of at most `limit`, at a paragraph, line or word break where there is one."""
    parts = []
    rest = text.strip()
    while measure(rest) > limit:
        cut = _longest_prefix(rest, limit, measure)
        head = rest[:cut]
        for separator in ("\n\n", "\n", " "):
            at = head.rfind(separator)
            if at > cut // 2:
                cut = at
                break
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        parts.append(rest)
    return parts


def _longest_prefix(text: str, limit: int, measure: Callable[[str], int]) -> int:
    if measure is len:
        return limit
    low, high = 1, len(text)  # the longest prefix that fits (UTF-8 bytes): binary search
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if measure(text[:middle]) <= limit else (low, middle - 1)
    return low


class MetaMessagingSender:
    """Replies through the Send API: text (split at the platform's limit), then each file as its own
    message, uploaded with the request. Returns the first message's id (what receipts will name)."""

    def __init__(self, settings: Settings, platform: MetaMessaging) -> None:
        self.settings = settings
        self.platform = platform
        self.channel = platform.channel

    async def send(self, outbound: Outbound) -> str | None:
        name = self.platform.name
        account = outbound.sending_account
        if not account or not account.get("access_token"):
            raise DeliveryError(f"no active {name} account {outbound.account or ''} with an access token to "
                                f"reply through: add or re-enable it under Admin → Social accounts", retryable=False)
        how = messaging_type(outbound.extra.get("last_inbound_at"), datetime.now(timezone.utc), platform=name)
        recipient = {"id": outbound.recipient.value}
        requests = [{"json": {"recipient": recipient, **how, "message": {"text": part}}}
                    for part in split_text(outbound.text or "", self.platform.text_limit, self.platform.measure)]
        for attachment in outbound.attachments:
            message = {"attachment": {"type": _attachment_type(attachment.content_type),
                                      "payload": {"is_reusable": False}}}
            requests.append({"data": {"recipient": json.dumps(recipient), **how, "message": json.dumps(message)},
                             "files": {"filedata": (attachment.filename, attachment.data, attachment.content_type)}})
        if not requests:
            raise DeliveryError("nothing to send: the reply has neither text nor files", retryable=False)
        url = f"{account['api_base_url'].rstrip('/')}/me/messages"
        sent: list[str] = []
        async with httpx.AsyncClient(timeout=TIMEOUT) as client:
            for request in requests:
                try:
                    sent.append(await self._post(client, url, account["access_token"], request))
                except DeliveryError as error:
                    if not sent:
                        raise
                    # part of the reply reached the customer: trying again would send that part twice
                    raise DeliveryError(f"{len(sent)} of {len(requests)} parts of this reply went out, then: "
                                        f"{error}. Not retried, so the customer does not get those parts twice: "
                                        f"send what is missing as a new reply.", retryable=False) from None
        return sent[0]

    async def _post(self, client: httpx.AsyncClient, url: str, token: str, request: dict) -> str:
        what = f"{self.platform.name} Send API"
        try:
            response = await client.post(url, params={"access_token": token}, **request)
        except httpx.HTTPError as error:
            raise meta.transport_error(error, what) from None
        if response.status_code != 200:
            raise meta.graph_error(response, what)
        try:
            return str(response.json()["message_id"])
        except (ValueError, KeyError, TypeError):
            raise DeliveryError(f"{what} answered without a message_id: {response.text[:200]}",
                                retryable=False) from None


def _attachment_type(content_type: str) -> str:
    kind = (content_type or "").split("/")[0]
    return kind if kind in ("image", "video", "audio") else "file"


MESSENGER = MetaMessaging(channel=CHANNEL, webhook_object="page", name="Messenger", text_limit=2000)

# what every social module offers by name (tests, `helpdesk simulate`)
check, verify, handshake, parse, WEBHOOK = MESSENGER.check, MESSENGER.verify, MESSENGER.handshake, MESSENGER.parse, MESSENGER.webhook()


class MessengerSender(MetaMessagingSender):
    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, MESSENGER)


def install(settings: Settings) -> None:
    """Register the parser, media fetcher, sender and webhook of Messenger with the core."""
    MESSENGER.install(settings)
