"""Installs every channel adapter into the core's registries: its parser (the inbound pipeline),
its `Sender` (the outbox) and its public routes (webhooks, chat). One line per adapter; the
composition root (`workers.commands`, `workers.broker`) calls it."""
from __future__ import annotations

from helpdesk.channel import register_sender
from helpdesk.settings import Settings


def install_adapters(settings: Settings) -> None:
    from channels.email import receive
    from channels.email.smtp import SmtpSender

    from channels.chat import receive as chat_receive
    from channels.chat.endpoints import chat_router
    from channels.chat.sender import ChatSender
    from channels.chat.widget.route import widget_router
    from channels.shop import endpoints as shop
    from channels.social import instagram, messenger, telegram, whatsapp
    from helpdesk.web.public import endpoints

    receive.install()
    register_sender(SmtpSender(settings))
    endpoints.add_router(widget_router())  # GET /widget.js
    chat_receive.install()
    register_sender(ChatSender(settings))
    endpoints.add_router(chat_router)  # /chat/{key}/...: config, session, upload, socket, ...
    for social in (messenger, instagram, whatsapp, telegram):  # /webhooks/{platform}: verify, parse, send
        social.install(settings)
    shop.install(settings)  # POST /webhooks/shopify: orders, verified and upserted
