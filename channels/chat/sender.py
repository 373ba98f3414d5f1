"""The outbox's `Sender` for channel "chat": an agent's reply goes to the visitor's sockets through
the live channel `chat:{public_id}`; a visitor who has been away for two minutes and gave an email
gets it by email instead, the transcript so far below it (through the email sender).

The outbox hands over what this needs in `Outbound.sending_account`
(helpdesk.chat.conversations.sending_account), so the sender never reads the database. Internal
notes never come here: the outbox queues replies only."""
from __future__ import annotations

import uuid
from dataclasses import replace

from helpdesk.channel import DeliveryError, Identity, Outbound, sender_for
from helpdesk.chat import conversations
from helpdesk.settings import Settings


class ChatSender:
    channel = "chat"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def send(self, outbound: Outbound) -> str | None:
        account = outbound.sending_account
        if not account or not account.get("conversation"):
            raise DeliveryError("this chat ticket has no chat conversation to answer in", retryable=False)
        if account["by_email"]:
            await sender_for("email").send(self._as_email(outbound, account))
        else:
            conversations.publish_message(account["conversation"], account["frame"])
        return None  # the message keeps its external id: `<public_id>:out-…`, the conversation's

    def _as_email(self, outbound: Outbound, account: dict) -> Outbound:
        text = outbound.text
        if account.get("transcript"):
            text += f"\n\n— Your chat with {account.get('channel_name') or 'us'} so far —\n\n{account['transcript']}"
        return replace(
            outbound, channel="email", recipient=Identity("email", account["email"], account.get("name")), cc=(),
            text=text, html=None, external_id=f"<{uuid.uuid4().hex}@{self.settings.mail_domain}>",
            in_reply_to=None, references=(), sending_account=account.get("email_account"))
