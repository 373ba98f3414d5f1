"""WhatsApp Cloud API: verify, parse, send (docs/social.md).

Deliveries come in Meta's envelope (`object: "whatsapp_business_account"`, `entry[].changes[]`);
the change with `field: "messages"` carries customers' `messages[]` and the `statuses[]` of ours.
Its `metadata.phone_number_id` is the account (the number customers wrote to), the customer is
`Identity("whatsapp", "+<wa_id>")`: E.164, so a customer whose phone is that number is the same
customer (helpdesk/customers/identities.py). Echoes of messages the business sent from another
client, template, account, call and preference updates carry nothing to store.

Media arrive as ids, downloaded in the worker through `GET /{media-id}` (a short-lived URL) and
then that URL, both with the account's token. Replies go to `POST /{phone-number-id}/messages`;
outside the 24-hour customer service window only an approved template is delivered
(helpdesk/social/templates.py), so a free-form reply then fails at once, without calling the API.
Docs: developers.facebook.com/docs/whatsapp/cloud-api (webhooks/components, reference/messages,
reference/media, guides/send-message-templates).
"""
from __future__ import annotations

import json
import logging
import mimetypes
from collections.abc import Mapping
from datetime import datetime, timezone

import httpx

from channels.social import meta
from helpdesk.channel import (
    Attachment, DeliveryError, Identity, InboundMessage, Outbound, RemoteMedia, StatusUpdate, ThreadKeys,
    register_sender,
)
from helpdesk.inbound import pipeline
from helpdesk.models import utcnow
from helpdesk.settings import Settings
from helpdesk.social import templates
from helpdesk.social.accounts import AccountSecrets, directory
from helpdesk.web.public import Webhook, endpoints

CHANNEL = "whatsapp"
OBJECT = "whatsapp_business_account"
TIMEOUT = 20.0
MAX_MEDIA_BYTES = 100 * 1024 * 1024  # WhatsApp's largest file (a document) is 100 MB
MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")
STATUSES = {"sent": "sent", "delivered": "delivered", "read": "read", "played": "read", "failed": "failed"}
WINDOW_CLOSED_CODE = 131047  # "Re-engagement message": more than 24 hours since the customer last wrote
# what each type of outgoing file is sent as; anything else goes as a document (which keeps its name)
_SEND_AS = {"image/jpeg": "image", "image/png": "image", "video/mp4": "video", "video/3gpp": "video",
            "audio/aac": "audio", "audio/mp4": "audio", "audio/mpeg": "audio", "audio/amr": "audio",
            "audio/ogg": "audio"}

log = logging.getLogger(__name__)


# -- webhook -------------------------------------------------------------------------------------

def check(body: bytes) -> None:
    meta.check_envelope(body, OBJECT)


async def verify(headers: Mapping[str, str], body: bytes, settings: Settings) -> str | None:
    return await meta.verify(CHANNEL, headers, body, settings)


async def handshake(params: Mapping[str, str], settings: Settings) -> str:
    return await meta.handshake(CHANNEL, params, settings)


WEBHOOK = Webhook(CHANNEL, verify=verify, handshake=handshake, check=check, deferred=True)


# -- parse ---------------------------------------------------------------------------------------

def parse(raw: bytes, *, account: str | None, raw_ref: str) -> list[InboundMessage | StatusUpdate]:
    """Every customer message, reaction and status of one delivery; [] for deliveries about other things."""
    payload = meta.check_envelope(raw, OBJECT)
    found: list[InboundMessage | StatusUpdate] = []
    for entry in _dicts(payload["entry"]):
        for change in _dicts(entry.get("changes")):
            value = change.get("value")
            if change.get("field") != "messages" or not isinstance(value, dict):
                continue  # smb_message_echoes, message_template_*, account_update, calls, user_preferences
            number = str((value.get("metadata") or {}).get("phone_number_id") or account or "")
            names = {str(c.get("wa_id")): (c.get("profile") or {}).get("name") for c in _dicts(value.get("contacts"))}
            for message in _dicts(value.get("messages")):
                item = _message(message, number, names, raw_ref, _dicts(value.get("errors")))
                if item is not None:
                    found.append(item)
            found += filter(None, (_status(status) for status in _dicts(value.get("statuses"))))
    return found


def _dicts(value) -> list[dict]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _time(timestamp) -> datetime:
    try:
        return datetime.fromtimestamp(int(timestamp), timezone.utc)
    except (TypeError, ValueError, OverflowError):
        return utcnow()


def _message(message: dict, number: str, names: dict, raw_ref: str,
             delivery_errors: list[dict]) -> InboundMessage | StatusUpdate | None:
    kind = message.get("type")
    wa_id = str(message.get("from") or "")
    if kind in ("system", "revoke") or not wa_id or not message.get("id"):
        # a number change or identity notice is not the customer speaking; a deleted message stays
        # in our record as it arrived (the agent may have read it already)
        return None
    received_at = _time(message.get("timestamp"))
    if kind == "reaction":
        reaction = message.get("reaction") or {}
        if not reaction.get("message_id"):
            return None
        return StatusUpdate(CHANNEL, str(reaction.get("message_id") or ""), None, received_at,
                            reaction=reaction.get("emoji") or "")
    in_reply_to = (message.get("context") or {}).get("id")
    prefix = ""
    if kind == "edit":  # the edited message arrives whole, under a new id, pointing at the original
        edit = message.get("edit") or {}
        in_reply_to = edit.get("original_message_id") or in_reply_to
        message = {**(edit.get("message") or {}), "id": message["id"]}
        kind, prefix = message.get("type"), "Edited: "
    text, media = _content(kind, message, message.get("errors") or delivery_errors)
    referral = message.get("referral")
    if isinstance(referral, dict) and (referral.get("headline") or referral.get("source_url")):
        text += f"\n[Came from: {' — '.join(filter(None, (referral.get('headline'), referral.get('source_url'))))}]"
    return InboundMessage(
        channel=CHANNEL, external_id=str(message["id"]),
        sender=Identity(CHANNEL, "+" + wa_id.lstrip("+"), names.get(wa_id) or None),
        subject=None, text=(prefix + text).strip(), html=None,
        attachments=[], thread_keys=ThreadKeys(in_reply_to=in_reply_to, platform_thread_id=f"{number}:{wa_id}"),
        received_at=received_at, account=number or None, raw_ref=raw_ref, remote_media=media,
    )


def _content(kind: str | None, message: dict, errors: list[dict]) -> tuple[str, tuple[RemoteMedia, ...]]:
    """The text an agent reads for one message, and the files it refers to."""
    body = message.get(kind) if isinstance(kind, str) else None
    body = body if isinstance(body, dict) else {}
    if kind == "text":
        return str(body.get("body") or ""), ()
    if kind in MEDIA_TYPES and body.get("id"):
        media_kind = "voice" if kind == "audio" and body.get("voice") else kind
        media = RemoteMedia(str(body["id"]), body.get("mime_type"), body.get("filename"), media_kind)
        return str(body.get("caption") or ""), (media,)
    if kind == "location":
        place = ", ".join(str(body[key]) for key in ("name", "address") if body.get(key))
        return f"📍 {place + ' ' if place else ''}({body.get('latitude')}, {body.get('longitude')})", ()
    if kind == "contacts":
        return "Shared contact" + ("s" if len(message.get("contacts") or []) != 1 else "") + ": " + "; ".join(
            _contact(contact) for contact in _dicts(message.get("contacts"))), ()
    if kind == "button":  # a quick-reply button of a template
        return str(body.get("text") or body.get("payload") or ""), ()
    if kind == "interactive" and body:
        return _interactive(body), ()
    if kind == "order":
        items = ", ".join(f"{item.get('quantity')} × {item.get('product_retailer_id')} "
                          f"({item.get('item_price')} {item.get('currency')})" for item in _dicts(body.get("product_items")))
        return "\n".join(filter(None, [f"Order: {items}", body.get("text")])), ()
    what = body.get("type") if kind == "unsupported" else kind
    reason = "; ".join(_error_text(error) for error in errors) or "not a kind of message this helpdesk shows"
    return f"[A WhatsApp {what + ' ' if what else ''}message that cannot be shown here: {reason}]", ()


def _contact(contact: dict) -> str:
    name = (contact.get("name") or {}).get("formatted_name") or "(no name)"
    phones = ", ".join(str(p.get("phone")) for p in _dicts(contact.get("phones")) if p.get("phone"))
    return f"{name} ({phones})" if phones else name


def _interactive(interactive: dict) -> str:
    kind = interactive.get("type")
    chosen = interactive.get(kind) if isinstance(interactive.get(kind), dict) else {}
    if kind in ("button_reply", "list_reply"):
        return str(chosen.get("title") or chosen.get("id") or "")
    if kind == "nfm_reply":  # a WhatsApp Flow's form, answered
        try:
            answers = json.loads(chosen.get("response_json") or "{}")
        except ValueError:
            answers = {}
        fields = "; ".join(f"{key}: {value}" for key, value in answers.items() if key != "flow_token") \
            if isinstance(answers, dict) else ""
        return f"Form answered ({chosen.get('name') or 'flow'}): {fields or chosen.get('body') or 'no answers'}"
    if kind == "call_permission_reply":
        return f"Call permission: {chosen.get('response') or 'answered'}"
    return f"[A WhatsApp {kind or 'interactive'} reply]"


def _status(status: dict) -> StatusUpdate | None:
    state = STATUSES.get(str(status.get("status") or ""))
    if state is None or not status.get("id"):
        return None  # a call's status, "deleted", "warning": nothing our messages record
    error = None
    if state == "failed":
        error = "; ".join(_error_text(e) for e in _dicts(status.get("errors"))) or "WhatsApp could not deliver it"
    return StatusUpdate(CHANNEL, str(status["id"]), state, _time(status.get("timestamp")), error=error)


def _error_text(error: dict) -> str:
    """A WhatsApp error as an agent reads it: what happened, why, and the code to look up."""
    code = error.get("code")
    if code == WINDOW_CLOSED_CODE:
        return "WhatsApp's 24-hour window had closed: send an approved template instead (code 131047)"
    title = error.get("title") or error.get("message") or "error"
    details = (error.get("error_data") or {}).get("details")
    parts = [str(title)] + [str(p) for p in (error.get("message"), details) if p and p != title]
    return ": ".join(parts) + (f" (code {code})" if code is not None else "")


# -- media ---------------------------------------------------------------------------------------

async def fetch_media(media: RemoteMedia, *, channel: str, account: str | None, settings: Settings) -> Attachment:
    """A file a customer sent: its short-lived URL from `GET /{media-id}`, then the bytes, both with the token."""
    secrets = await directory.account(settings, CHANNEL, account)
    if secrets is None or not secrets.access_token:
        raise DeliveryError(f"no active WhatsApp account {account} to download media with", retryable=False)
    auth = {"Authorization": f"Bearer {secrets.access_token}"}
    what = f"WhatsApp media {media.ref}"
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT, headers=auth) as client:
            response = await client.get(f"{secrets.api_base_url}/{media.ref}")
            if response.status_code != 200:
                raise meta.graph_error(response, what)
            found = response.json()
            if not isinstance(found, dict) or not found.get("url"):
                raise DeliveryError(f"{what}: the API gave no download URL", retryable=False)
            if int(found.get("file_size") or 0) > MAX_MEDIA_BYTES:
                raise DeliveryError(f"{what} is larger than {MAX_MEDIA_BYTES // 2**20} MB", retryable=False)
            data = await _download(client, found["url"], what)
    except httpx.HTTPError as error:
        raise meta.transport_error(error, what) from None
    content_type = (media.content_type or found.get("mime_type") or "application/octet-stream").strip()
    return Attachment(media.filename or _filename(media, content_type), content_type, data)


async def _download(client: httpx.AsyncClient, url: str, what: str) -> bytes:
    async with client.stream("GET", url) as response:
        if response.status_code != 200:
            await response.aread()
            raise meta.graph_error(response, what)
        data = bytearray()
        async for chunk in response.aiter_bytes():
            data += chunk
            if len(data) > MAX_MEDIA_BYTES:
                raise DeliveryError(f"{what} is larger than {MAX_MEDIA_BYTES // 2**20} MB", retryable=False)
    return bytes(data)


def _filename(media: RemoteMedia, content_type: str) -> str:
    extension = mimetypes.guess_extension(content_type.split(";")[0].strip()) or ""
    return f"{media.kind or 'file'}-{media.ref}{extension}"


# -- send ----------------------------------------------------------------------------------------

class WhatsAppSender:
    """Replies through `POST /{phone-number-id}/messages`: text, files (uploaded first), templates."""

    channel = CHANNEL

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def send(self, outbound: Outbound) -> str:
        account = outbound.sending_account
        if not account or not account.get("access_token"):
            raise DeliveryError(f"no active WhatsApp account {outbound.account or ''} to send from; "
                                "add or activate it under Admin › Social accounts", retryable=False)
        template = outbound.extra.get("template")
        if not template:
            _check_window(outbound.extra.get("last_inbound_at"))
        to = outbound.recipient.value.lstrip("+")
        base = f"{account['api_base_url']}/{account['external_id']}"
        async with httpx.AsyncClient(timeout=TIMEOUT,
                                     headers={"Authorization": f"Bearer {account['access_token']}"}) as client:
            if template:
                return await _post(client, base, to, {"type": "template", "template": template_object(template)})
            # uploads first: they are invisible to the customer, so a failure there sends nothing at all
            files = [(_send_as(a.content_type), a, await _upload(client, base, a)) for a in outbound.attachments]
            bodies = [{"type": "text", "text": {"body": outbound.text, "preview_url": False}}] \
                if outbound.text.strip() else []
            for kind, attachment, media_id in files:
                media: dict = {"id": media_id}
                if kind == "document":
                    media["filename"] = attachment.filename
                bodies.append({"type": kind, kind: media})
            if not bodies:
                raise DeliveryError("nothing to send: the reply has neither text nor files", retryable=False)
            first = None
            for body in bodies:
                try:
                    sent = await _post(client, base, to, body)
                except DeliveryError as error:
                    if first is None:
                        raise
                    # part of the reply is out: trying again would send that part twice
                    raise DeliveryError(f"only part of the reply went out: {error}", retryable=False) from None
                first = first or sent
            return first


def _check_window(last_inbound_at: str | None) -> None:
    now = utcnow()
    try:
        last = datetime.fromisoformat(last_inbound_at) if last_inbound_at else None
    except ValueError:
        last = None
    if last is not None and last.tzinfo is None:
        last = last.replace(tzinfo=timezone.utc)  # SQLite hands back naive UTC
    closed_at = templates.window_closed_at(last, now)
    if closed_at is not None:
        raise DeliveryError(templates.window_closed_message(closed_at), retryable=False)


def template_object(template: dict) -> dict:
    """The API's `template` object from `Message.template` ({"name", "language", "parameters"})."""
    language = template.get("language") or "en_US"
    sent = {"name": template["name"], "language": language if isinstance(language, dict) else {"code": language}}
    if template.get("components"):
        sent["components"] = template["components"]
    elif template.get("parameters"):
        sent["components"] = [{"type": "body", "parameters": [{"type": "text", "text": str(value)}
                                                             for value in template["parameters"]]}]
    return sent


def _send_as(content_type: str) -> str:
    return _SEND_AS.get(content_type.split(";")[0].strip().lower(), "document")


async def _post(client: httpx.AsyncClient, base: str, to: str, body: dict) -> str:
    what = f"WhatsApp {body['type']} message"
    try:
        response = await client.post(f"{base}/messages", json={
            "messaging_product": "whatsapp", "recipient_type": "individual", "to": to, **body})
    except httpx.HTTPError as error:
        raise meta.transport_error(error, what) from None
    if response.status_code != 200:
        raise _api_error(response, what)
    try:
        return str(response.json()["messages"][0]["id"])
    except (ValueError, KeyError, IndexError, TypeError):
        raise DeliveryError(f"{what}: the API accepted it but gave no message id", retryable=False) from None


async def _upload(client: httpx.AsyncClient, base: str, attachment: Attachment) -> str:
    what = f"WhatsApp upload of {attachment.filename}"
    try:
        response = await client.post(f"{base}/media", data={"messaging_product": "whatsapp",
                                                            "type": attachment.content_type},
                                     files={"file": (attachment.filename, attachment.data, attachment.content_type)})
    except httpx.HTTPError as error:
        raise meta.transport_error(error, what) from None
    if response.status_code != 200:
        raise _api_error(response, what)
    try:
        return str(response.json()["id"])
    except (ValueError, KeyError, TypeError):
        raise DeliveryError(f"{what}: the API gave no media id", retryable=False) from None


def _api_error(response: httpx.Response, what: str) -> DeliveryError:
    try:
        code = (response.json().get("error") or {}).get("code")
    except (ValueError, AttributeError):
        code = None
    if code == WINDOW_CLOSED_CODE:
        return DeliveryError("WhatsApp's 24-hour window has closed: send an approved template instead "
                             f"(HTTP {response.status_code}, code {code})", retryable=False)
    return meta.graph_error(response, what)


# -- templates -----------------------------------------------------------------------------------

async def list_templates(account: AccountSecrets | dict) -> list[templates.MessageTemplate]:
    """The approved templates of the account's WhatsApp Business Account (`options["waba_id"]`)."""
    get = account.get if isinstance(account, dict) else lambda name: getattr(account, name)
    waba_id = (get("options") or {}).get("waba_id")
    if not waba_id:
        raise DeliveryError("set the WhatsApp Business Account id (waba_id) in the account's options to list "
                            "its templates", retryable=False)
    what = "WhatsApp message templates"
    url: str | None = f"{get('api_base_url')}/{waba_id}/message_templates"
    params: dict | None = {"fields": "name,language,status,category,components", "limit": "100"}
    found: list[templates.MessageTemplate] = []
    async with httpx.AsyncClient(timeout=TIMEOUT, headers={"Authorization": f"Bearer {get('access_token')}"}) as client:
        for _ in range(20):  # pages of 100: more than any business has approved
            try:
                response = await client.get(url, params=params)
            except httpx.HTTPError as error:
                raise meta.transport_error(error, what) from None
            if response.status_code != 200:
                raise meta.graph_error(response, what)
            page = response.json()
            found += [_template(t) for t in _dicts(page.get("data")) if t.get("status") == "APPROVED" and t.get("name")]
            url, params = (page.get("paging") or {}).get("next"), None
            if not url:
                break
    return sorted(found, key=lambda t: (t.name, t.language))


def _template(listed: dict) -> templates.MessageTemplate:
    body = next((str(c.get("text") or "") for c in _dicts(listed.get("components")) if c.get("type") == "BODY"), "")
    return templates.MessageTemplate(str(listed["name"]), str(listed.get("language") or "en_US"), body,
                                     templates.count_parameters(body), listed.get("category"))


def install(settings: Settings) -> None:
    """Register the parser, media fetcher, sender, template lister and webhook of WhatsApp with the core."""
    pipeline.register_parser(CHANNEL, parse)
    pipeline.register_media_fetcher(CHANNEL, fetch_media)
    register_sender(WhatsAppSender(settings))
    templates.register_lister(CHANNEL, list_templates)
    endpoints.add_webhook(WEBHOOK)
