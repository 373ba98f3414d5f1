"""The console's one router: its path, the signed-in guard, the agent, htmx requests, `Vary`, errors.

Each screen's controller adds only what is its own: a sub-path, a stricter role (admin
screens, the SLA board). The sign-in form is the one route open to everyone (`PUBLIC`).
"""
from __future__ import annotations

from litestar import Router
from litestar.datastructures import ResponseHeader
from litestar.di import Provide
from litestar_htmx import HTMXRequest

from helpdesk.web.auth import current_agent, same_origin, signed_in
from helpdesk.web.console.admin import AdminController
from helpdesk.web.console.attachments import AttachmentController
from helpdesk.web.console.chat_admin import ChatAdminController
from helpdesk.web.console.customer_attributes import CustomerAttributeController
from helpdesk.web.console.customer_privacy import CustomerPrivacyController
from helpdesk.web.console.customers import CustomerController
from helpdesk.web.console import errors
from helpdesk.web.console.drafts import DraftController
from helpdesk.web.console.live import LiveController
from helpdesk.web.console.notifications import NotificationController
from helpdesk.web.console.organizations import OrganizationController
from helpdesk.web.console.quarantine import QuarantineController
from helpdesk.web.console.queues import QueueController
from helpdesk.web.console.session import SessionController
from helpdesk.web.console.sla_admin import SlaAdminController
from helpdesk.web.console.sla_board import SlaBoardController
from helpdesk.web.console.snooze import SnoozeController
from helpdesk.web.console.social_admin import SocialAdminController
from helpdesk.web.console.tickets import TicketController
from helpdesk.web.console.tokens_admin import TokensAdminController
from helpdesk.web.console.webhooks_admin import WebhooksAdminController

console_router = Router(
    path="/console",
    route_handlers=[SessionController, QueueController, TicketController, DraftController, AttachmentController,
                    CustomerController, SlaBoardController, AdminController, ChatAdminController, SocialAdminController,
                    SlaAdminController, QuarantineController, LiveController, SnoozeController, NotificationController,
                    OrganizationController, CustomerAttributeController,
                    WebhooksAdminController, TokensAdminController, CustomerPrivacyController],
    guards=[same_origin, signed_in, errors.ids_in_range],
    dependencies={"agent": Provide(current_agent)},
    request_class=HTMXRequest,
    # one URL answers as a page and as an htmx fragment: caches must key on the header
    response_headers=[ResponseHeader(name="Vary", value="HX-Request")],
    # an error is a console page or, for htmx, a message in view; JSON errors stay outside /console
    exception_handlers=errors.handlers,
    include_in_schema=False,
)
