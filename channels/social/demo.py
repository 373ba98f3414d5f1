"""The demo's platforms (`/demo/platforms`): the platform simulator mounted in the demo server, where
the demo's social accounts send their replies (helpdesk/tools/demo_social.py). About a second after
each accepted reply the demo posts the receipts the platform would send (delivered, then read), signed
with the demo's secret, to its own `/webhooks/{platform}`: the console shows the reply delivered and read.

Mounted by `helpdesk serve --demo` only (workers/commands.py), never by a real installation.
"""
from __future__ import annotations

import logging
import threading

import httpx
from litestar import Router

from channels.social.simulator import Recorder, module_for, simulator_router
from helpdesk.tools.demo_social import DEMO_ACCOUNTS, DEMO_PLATFORMS_PATH

log = logging.getLogger(__name__)
RECEIPT_DELAY = 1.0  # seconds after the send; each further receipt (read after delivered) one more


def demo_platforms_router(helpdesk_url: str) -> Router:
    """The simulator at /demo/platforms, answering the demo's senders and sending receipts to `helpdesk_url`."""
    recorder = Recorder(on_sent=lambda *sent: _receipts_later(helpdesk_url, *sent))
    # httpx logs every request at INFO: each demo reply would print four lines (the send, the receipts
    # the demo posts to itself), burying what the demo says; failures still show as warnings
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # the senders post like a platform's API is posted to: no console session, no CSRF token
    return Router(path=DEMO_PLATFORMS_PATH, route_handlers=[simulator_router(recorder)],
                  opt={"exclude_from_csrf": True}, include_in_schema=False)


def _receipts_later(helpdesk_url: str, platform: str, account_id: str, request_json, answer_json) -> None:
    bodies = module_for(platform).receipt_bodies(platform, account_id, request_json, answer_json)
    for order, body in enumerate(bodies, start=1):
        timer = threading.Timer(RECEIPT_DELAY * order, _post_receipt, (helpdesk_url, platform, body))
        timer.daemon = True  # a receipt still waiting when the demo stops is simply not sent
        timer.start()


def _post_receipt(helpdesk_url: str, platform: str, body: bytes) -> None:
    simulator = module_for(platform)
    headers = simulator.signed_headers(platform, body, DEMO_ACCOUNTS[platform].webhook_secret)
    try:
        answer = httpx.post(f"{helpdesk_url}/webhooks/{platform}", content=body, headers=headers, timeout=10)
    except httpx.HTTPError as error:
        log.warning("demo: the %s receipt was not posted: %s", platform, error)
        return
    if not answer.is_success:
        log.warning("demo: the %s receipt was refused: %s %s", platform, answer.status_code, answer.text[:200])
