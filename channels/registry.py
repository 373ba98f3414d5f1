"""Installs every channel's Sender for a process that delivers (worker, serve)."""
from __future__ import annotations

from helpdesk.channel import register_sender
from helpdesk.settings import Settings


def install_senders(settings: Settings) -> None:
    """One line per channel adapter; each reads its accounts from the database on send."""
    try:
        from channels.email.smtp import SmtpSender
    except ModuleNotFoundError:  # the email adapter is being written
        pass
    else:
        register_sender(SmtpSender(settings))
