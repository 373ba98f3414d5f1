"""All tables, imported together so metadata and Alembic see every one."""
from helpdesk.models.accounts import Mailbox, SocialAccount
from helpdesk.models.agents import ROLES, Agent, Team
from helpdesk.models.audit import AuditEvent, Notification, QuarantinedMessage
from helpdesk.models.base import Base, utcnow
from helpdesk.models.chat import ChatChannel, ChatConversation
from helpdesk.models.customers import (
    Customer,
    CustomerIdentity,
    DuplicateDismissal,
    IdentityConflict,
    Order,
    OrderItem,
    Organization,
    OrganizationDomain,
)
from helpdesk.models.integrations import ApiToken, Shop, WebhookDelivery, WebhookEndpoint
from helpdesk.models.sla import SLA_EVENT_KINDS, SLA_TARGETS, BusinessCalendar, SlaEvent, SlaPolicy
from helpdesk.models.tickets import (
    OPEN_STATUSES,
    PRIORITIES,
    STATUSES,
    Attachment,
    CannedResponse,
    Draft,
    Message,
    Ticket,
    TicketParticipant,
    TicketTag,
)

__all__ = [
    "ApiToken", "DuplicateDismissal", "IdentityConflict", "Shop", "WebhookDelivery", "WebhookEndpoint",
    "Agent", "Attachment", "AuditEvent", "Base", "BusinessCalendar", "CannedResponse", "ChatChannel",
    "ChatConversation", "Customer",
    "CustomerIdentity", "Draft", "Mailbox", "Message", "Notification", "OPEN_STATUSES", "Order", "OrderItem", "Organization",
    "OrganizationDomain", "PRIORITIES", "QuarantinedMessage", "ROLES", "SLA_EVENT_KINDS", "SLA_TARGETS", "STATUSES",
    "SlaEvent", "SlaPolicy",
    "SocialAccount", "Team", "Ticket", "TicketParticipant", "TicketTag", "utcnow",
]
