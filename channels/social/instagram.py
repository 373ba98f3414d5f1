"""Instagram messaging: the Messenger webhook format on the `instagram` object, sent through the same
Send API (`messenger.py` does the work; this names what differs).

Instagram's own quirks are read by the shared parser: `is_deleted` (the customer unsent a message:
nothing to store) and story replies (`reply_to.story`: the text is kept, noted "Replied to your story").
A text message may hold 1000 bytes of UTF-8 (Meta's Instagram messaging limits); longer replies are split.
"""
from __future__ import annotations

from channels.social.messenger import MetaMessaging, MetaMessagingSender
from helpdesk.settings import Settings

CHANNEL = "instagram"

INSTAGRAM = MetaMessaging(channel=CHANNEL, webhook_object="instagram", name="Instagram", text_limit=1000,
                          measure=lambda text: len(text.encode()))

# what every social module offers by name (tests, `helpdesk simulate`)
check, verify, handshake, parse, WEBHOOK = INSTAGRAM.check, INSTAGRAM.verify, INSTAGRAM.handshake, INSTAGRAM.parse, INSTAGRAM.webhook()


class InstagramSender(MetaMessagingSender):
    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, INSTAGRAM)


def install(settings: Settings) -> None:
    """Register the parser, media fetcher, sender and webhook of Instagram with the core."""
    INSTAGRAM.install(settings)
