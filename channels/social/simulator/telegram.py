"""Telegram's Bot API, as far as our adapter uses it, and the updates Telegram sends a bot's webhook
(see the package docstring for what each platform module gives).

- `GET|POST /bot{token}/{method}` for sendMessage, sendDocument, sendPhoto, getFile, setWebhook and
  getMe, with parameters in the query string, a JSON body, a form or a multipart upload (as Telegram
  takes them, core.telegram.org/bots/api#making-requests); answers `{"ok": true, "result": ...}` or
  `{"ok": false, "error_code": N, "description": "..."}` with Telegram's wording for what it checks
  (an empty chat_id or text, text over 4096 characters, an unknown file_id).
- `GET /file/bot{token}/{file_path}`: the bytes of `recorder.media[file_id]`, at the path getFile named.

A simulator cannot know which bots exist: a token of the bot-token form (`123456:ABC...`) is taken as
its bot's, anything else, and a token passed to `revoke(token)`, is answered 401 Unauthorized. Sent
documents and photos are kept in `recorder.media`, so they can be fetched back like a customer's.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import mimetypes
import posixpath
import re
import secrets
import time
from typing import Any

from litestar import Request, Response, get, route

from channels.social.simulator import Recorded, Recorder, recorded

PLATFORM = "telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
_TOKEN = re.compile(r"bot(\d+):[A-Za-z0-9_-]+")
_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
_JSON_FIELDS = ("reply_parameters", "reply_markup", "allowed_updates", "entities", "caption_entities")
_revoked: set[str] = set()
# message ids and update ids, shared by what this process sends and what it delivers: never twice the same
_ids = itertools.count(int(time.time()) % 1_000_000 * 100)


def revoke(token: str) -> None:
    """From now on this bot token is answered 401, as after /revoke at @BotFather."""
    _revoked.add(token)


def _error(status: int, description: str, **parameters: Any) -> Response:
    body = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return Response(body, status_code=status)


def _ok(result: Any, **extra: Any) -> Response:
    return Response({"ok": True, "result": result, **extra}, status_code=200)


def routes(recorder: Recorder) -> list:
    methods = {"sendMessage": _send_message, "sendDocument": _send_document, "sendPhoto": _send_photo,
               "getFile": _get_file, "setWebhook": _set_webhook, "getMe": _get_me}
    return [_method_route(recorder, name, answer) for name, answer in methods.items()] + [_file_route(recorder)]


def _method_route(recorder: Recorder, name: str, answer):
    @route(f"/{{bot_token:str}}/{name}", http_method=["GET", "POST"], status_code=200, include_in_schema=False)
    async def bot_method(request: Request, bot_token: str) -> Response:
        entry = await recorded(request)
        recorder.record(entry)
        fault = recorder.take_fault(request.url.path)
        if fault is not None:
            return Response(fault.body, status_code=fault.status, headers=fault.headers)
        bot_id = _bot_id(bot_token)
        if bot_id is None:
            return _error(401, "Unauthorized")
        params = {**entry.query, **(entry.json if isinstance(entry.json, dict) else {}), **entry.form}
        params = {key: _decoded(key, value) for key, value in params.items()}
        response = answer(recorder, bot_id, params, entry.files)
        if name.startswith("send") and response.status_code == 200 and recorder.on_sent is not None:
            recorder.on_sent(PLATFORM, str(bot_id), params, response.content)
        return response

    return bot_method


def _file_route(recorder: Recorder):
    @get("/file/{bot_token:str}/{file_path:path}", include_in_schema=False)
    async def bot_file(request: Request, bot_token: str, file_path: str) -> Response:
        recorder.record(Recorded(method="GET", path=request.url.path, headers=dict(request.headers),
                                 query=dict(request.query_params)))
        fault = recorder.take_fault(request.url.path)
        if fault is not None:
            return Response(fault.body, status_code=fault.status, headers=fault.headers)
        if _bot_id(bot_token) is None:
            return _error(401, "Unauthorized")
        file_path = file_path.lstrip("/")
        file_id = posixpath.splitext(posixpath.basename(file_path))[0]
        if file_id not in recorder.media or _file_path(file_id, recorder.media[file_id][0]) != file_path:
            return _error(404, "Not Found")
        content_type, data = recorder.media[file_id]
        return Response(data, media_type=content_type)

    return bot_file


def _bot_id(bot_token: str) -> int | None:
    match = _TOKEN.fullmatch(bot_token)
    return int(match.group(1)) if match and bot_token[3:] not in _revoked else None


def _decoded(key: str, value: Any) -> Any:
    """Form and query values are strings; Telegram reads a few of them as JSON, and ids as numbers."""
    if isinstance(value, str) and key in _JSON_FIELDS:
        try:
            return json.loads(value)
        except ValueError:
            return value
    if isinstance(value, str) and key in ("chat_id", "message_id") and re.fullmatch(r"-?\d+", value):
        return int(value)
    return value


def _chat(chat_id: int | str) -> dict:
    if isinstance(chat_id, str):
        return {"id": -1000000000000 - int(hashlib.sha256(chat_id.encode()).hexdigest()[:8], 16),
                "title": chat_id.lstrip("@"), "username": chat_id.lstrip("@"), "type": "channel"}
    if chat_id > 0:
        return {"id": chat_id, "first_name": f"User {chat_id}", "type": "private"}
    return {"id": chat_id, "title": f"Group {chat_id}", "type": "supergroup" if chat_id < -10**12 else "group"}


def _message(bot_id: int, params: dict, **content: Any) -> dict:
    message = {"message_id": next(_ids), "from": _bot(bot_id), "chat": _chat(params["chat_id"]),
               "date": int(time.time()), **content}
    reply = params.get("reply_parameters") or (
        {"message_id": params["reply_to_message_id"]} if params.get("reply_to_message_id") else None)
    if isinstance(reply, dict) and reply.get("message_id"):
        message["reply_to_message"] = {"message_id": int(reply["message_id"]), "chat": message["chat"], "date": 0}
    return message


def _bot(bot_id: int) -> dict:
    return {"id": bot_id, "is_bot": True, "first_name": f"Simulated bot {bot_id}", "username": f"sim{bot_id}_bot"}


def _utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _send_message(recorder: Recorder, bot_id: int, params: dict, files: dict) -> Response:
    if params.get("chat_id") in (None, ""):
        return _error(400, "Bad Request: chat_id is empty")
    text = params.get("text")
    if not isinstance(text, str) or not text.strip():
        return _error(400, "Bad Request: message text is empty")
    if _utf16_length(text) > 4096:
        return _error(400, "Bad Request: message is too long")
    return _ok(_message(bot_id, params, text=text))


def _send_document(recorder: Recorder, bot_id: int, params: dict, files: dict) -> Response:
    return _send_file(recorder, bot_id, params, files, "document")


def _send_photo(recorder: Recorder, bot_id: int, params: dict, files: dict) -> Response:
    return _send_file(recorder, bot_id, params, files, "photo")


def _send_file(recorder: Recorder, bot_id: int, params: dict, files: dict, field: str) -> Response:
    if params.get("chat_id") in (None, ""):
        return _error(400, "Bad Request: chat_id is empty")
    stored = _kept_file(recorder, field, params, files)
    if stored is None:
        return _error(400, f"Bad Request: there is no {field} in the request")
    file_id, filename, content_type, size = stored
    about = {"file_id": file_id, "file_unique_id": file_id[:16], "file_size": size}
    if field == "photo":  # the sizes Telegram made of it: here only one
        content = {"photo": [{**about, "width": 1280, "height": 960}]}
    else:
        content = {"document": {**about, "file_name": filename, "mime_type": content_type}}
    caption = {"caption": params["caption"]} if params.get("caption") else {}
    return _ok(_message(bot_id, params, **content, **caption))


def _kept_file(recorder: Recorder, field: str, params: dict, files: dict) -> tuple[str, str, str, int] | None:
    """An uploaded file, kept in `recorder.media` under a new file_id; or a file_id sent before."""
    if field in files:
        filename, content_type, data = files[field]
        content_type = content_type or mimetypes.guess_type(filename or "")[0] or "application/octet-stream"
        file_id = "BQAC" + secrets.token_urlsafe(18).replace("-", "x").replace("_", "y")
        recorder.media[file_id] = (content_type, data)
        return file_id, filename or "file", content_type, len(data)
    known = params.get(field)
    if isinstance(known, str) and known in recorder.media:
        content_type, data = recorder.media[known]
        return known, "file", content_type, len(data)
    return None


def _file_path(file_id: str, content_type: str) -> str:
    folder = {"image": "photos", "video": "videos", "audio": "music"}.get(content_type.split("/")[0], "documents")
    if content_type == "audio/ogg":
        folder = "voice"
    extension = {"image/jpeg": ".jpg", "audio/ogg": ".oga"}.get(content_type) \
        or mimetypes.guess_extension(content_type) or ""
    return f"{folder}/{file_id}{extension}"


def _get_file(recorder: Recorder, bot_id: int, params: dict, files: dict) -> Response:
    file_id = params.get("file_id")
    if not isinstance(file_id, str) or file_id not in recorder.media:
        return _error(400, "Bad Request: invalid file_id")
    content_type, data = recorder.media[file_id]
    if len(data) > 20 * 1024 * 1024:
        return _error(400, "Bad Request: file is too big")
    return _ok({"file_id": file_id, "file_unique_id": file_id[:16], "file_size": len(data),
                "file_path": _file_path(file_id, content_type)})


def _set_webhook(recorder: Recorder, bot_id: int, params: dict, files: dict) -> Response:
    url = params.get("url")
    if not isinstance(url, str) or not url:
        return _ok(True, description="Webhook was deleted")  # Telegram: an empty url removes the webhook
    # Telegram takes HTTPS only; the simulator takes http for loopback too, where the demo runs
    if not re.match(r"https://|http://(localhost|127\.0\.0\.1)[:/]", url):
        return _error(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
    secret = params.get("secret_token")
    if secret is not None and not _SECRET_TOKEN.fullmatch(str(secret)):
        return _error(400, "Bad Request: secret token contains unallowed characters")
    return _ok(True, description="Webhook was set")


def _get_me(recorder: Recorder, bot_id: int, params: dict, files: dict) -> Response:
    return _ok({**_bot(bot_id), "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": False})


# -- what Telegram sends the bot's webhook -------------------------------------------------------------

def _user(sender: str, name: str | None) -> dict:
    """A Telegram user for `sender`: a number is their id; a name (the demo's `--from ann`) gets a
    stable id and becomes the username."""
    if re.fullmatch(r"\d+", sender):
        user: dict[str, Any] = {"id": int(sender)}
    else:
        user = {"id": int(hashlib.sha256(sender.encode()).hexdigest()[:8], 16), "username": sender.lstrip("@")}
    first, _, last = (name or user.get("username") or f"User {user['id']}").partition(" ")
    return {**user, "is_bot": False, "first_name": first, **({"last_name": last} if last else {})}


def inbound_body(platform: str, account_id: str, sender: str, text: str, *, name: str | None = None,
                 message_id: str | None = None) -> bytes:
    """A customer's text message in their private chat with the bot, as an Update. The bot's id is not
    in it: Telegram tells which bot by the webhook it calls (and its secret token)."""
    user = _user(sender, name)
    chat = {key: value for key, value in user.items() if key != "is_bot"} | {"type": "private"}
    return json.dumps({"update_id": next(_ids), "message": {
        "message_id": int(message_id) if str(message_id or "").isdigit() else next(_ids), "from": user, "chat": chat,
        "date": int(time.time()), "text": text}}).encode()


def signed_headers(platform: str, body: bytes, secret: str) -> dict[str, str]:
    return {"content-type": "application/json", SECRET_HEADER: secret}


def receipt_bodies(platform: str, account_id: str, request_json: Any, answer_json: Any) -> list[bytes]:
    """Telegram tells a bot nothing about delivery or reading."""
    return []
