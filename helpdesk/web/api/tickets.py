"""/api/v1/tickets: list with filters, get with messages, create, update properties, add a reply
or a note. Everything goes through the ticket domain (`helpdesk.tickets.actions`, `.outbox`) and
ingest, so history, SLA clocks and live updates behave as for an agent in the console.

A ticket made through the API is an email ticket: its `text` is stored as the customer's first
(inbound) message, received through ingest like a mail, so an agent's reply goes to the customer's
email address. The token's creator is the author of its changes, replies and notes.
"""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Controller, Request, Response, get, patch, post
from litestar.params import Parameter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.channel import Identity, InboundMessage, ThreadKeys
from helpdesk.customers import records
from helpdesk.inbound.ingest import ingest
from helpdesk.models import Agent, CustomerIdentity, Ticket, utcnow
from helpdesk.settings import Settings
from helpdesk.tickets import actions, outbox
from helpdesk.web.api import convert, listing, paging
from helpdesk.web.api import schemas as s
from helpdesk.web.api.access import Caller
from helpdesk.web.api.customers import live_customer
from helpdesk.web.api.problems import documented, Problem, invalid, not_found

TicketId = Annotated[int, Parameter(ge=1, le=2**31 - 1)]


async def _ticket(session: AsyncSession, ticket_id: int) -> Ticket:
    ticket = await session.get(Ticket, ticket_id, populate_existing=True)
    if ticket is None:
        raise not_found("ticket")
    return ticket


async def _answer(session: AsyncSession, ticket_id: int) -> s.TicketOut:
    view = await actions.load_ticket_view(session, ticket_id)
    if view is None:
        raise not_found("ticket")
    await session.refresh(view.ticket)
    return convert.ticket(view.ticket, view.tags, view.messages)


async def _author(session: AsyncSession, caller: Caller) -> Agent | None:
    agent = await session.get(Agent, caller.agent_id) if caller.agent_id else None
    return agent if agent is not None and agent.active else None


async def _customer_email(session: AsyncSession, data: s.TicketCreate) -> str:
    if data.customer_id is None:
        if not data.email:
            raise Problem(422, "name the customer: customer_id or email",
                          errors=[{"field": "customer_id", "detail": "customer_id or email is needed"}])
        return data.email
    customer = await live_customer(session, data.customer_id)
    email = await session.scalar(select(CustomerIdentity.value).where(
        CustomerIdentity.customer_id == customer.id, CustomerIdentity.kind == "email").order_by(CustomerIdentity.id))
    if email is None:
        raise Problem(422, "this customer has no email address for the replies to go to",
                      errors=[{"field": "customer_id", "detail": "no email identity"}])
    return email


def _changes(data: s.TicketUpdate) -> actions.Changes:
    person = lambda value: None if value is msgspec.UNSET else ("none" if value is None else value)  # noqa: E731
    return actions.Changes(assignee_id=person(data.assignee_id), team_id=person(data.team_id), status=data.status,
                           priority=data.priority, tags=tuple(data.tags) if data.tags is not None else None,
                           add_tags=tuple(data.add_tags), remove_tags=tuple(data.remove_tags))


class TicketController(Controller):
    path = "/tickets"
    tags = ["tickets"]

    @get("/", responses=documented(404), summary="List tickets", description="Merged tickets are left out (their messages moved).")
    async def list_tickets(
        self, request: Request, db: AsyncSession, limit: paging.Limit, cursor: paging.Cursor,
        status: Annotated[s.Status | None, Parameter(default=None)],
        priority: Annotated[s.Priority | None, Parameter(default=None)],
        assignee_id: Annotated[int | None, Parameter(ge=1, le=2**31 - 1, default=None)],
        unassigned: Annotated[bool, Parameter(default=False, description="only tickets nobody is assigned")],
        customer_id: Annotated[int | None, Parameter(ge=1, le=2**31 - 1, default=None,
                                                     description="a merged customer's id counts as the survivor")],
        channel: Annotated[str | None, Parameter(max_length=20, default=None, examples=None)],
        updated_since: Annotated[datetime | None, Parameter(default=None, description="ISO 8601, e.g. 2026-11-30T00:00:00Z")],
    ) -> s.Page:
        if customer_id is not None:
            customer_id = await records.survivor_id(db, customer_id) or customer_id
        filters = listing.TicketFilters(status=status, priority=priority, assignee_id=assignee_id,
                                        unassigned=unassigned, customer_id=customer_id, channel=channel,
                                        updated_since=updated_since)
        rows = await listing.tickets(db, filters, after=paging.after_id(cursor), limit=limit)
        tags = await listing.tags_of(db, [t.id for t in rows[:limit]])
        return paging.page(request, rows, limit, lambda t: convert.ticket(t, tags.get(t.id, [])))

    @get("/{ticket_id:int}", responses=documented(404), summary="A ticket with its messages and notes")
    async def get_ticket(self, db: AsyncSession, ticket_id: TicketId) -> s.TicketOut:
        return await _answer(db, ticket_id)

    @post("/", responses=documented(404, 409, 422, also={200: (s.TicketOut, "the ticket this external_id made before")}), summary="Open a ticket for a customer", status_code=201,
          description="An email ticket whose first message is the customer's (`text`); replies go by email. "
                      "Sending the same `external_id` again answers the ticket it made (200).")
    async def create_ticket(self, db: AsyncSession, caller: Caller, settings: Settings,
                            data: s.TicketCreate) -> Response[s.TicketOut]:
        email = await _customer_email(db, data)
        key = f"api:{caller.token_id}:{data.external_id}" if data.external_id else f"api:{uuid.uuid4()}"
        message = InboundMessage(channel="email", external_id=key, sender=Identity("email", email, data.name),
                                 subject=data.subject, text=data.text, html=None, attachments=[],
                                 thread_keys=ThreadKeys(), received_at=utcnow())
        result = await ingest(db, message, settings=settings)
        if result.ticket_id is None:
            raise Problem(422, f"{email} is not an email address a ticket can be opened for",
                          errors=[{"field": "email", "detail": "not a usable address"}])
        if result.created_ticket and (data.priority or data.tags):
            ticket = await _ticket(db, result.ticket_id)
            try:
                await actions.update_ticket(db, ticket, actions.Changes(priority=data.priority, add_tags=tuple(data.tags)),
                                            agent=await _author(db, caller))
            except actions.TicketError as error:
                raise invalid(error) from None
        return Response(await _answer(db, result.ticket_id), status_code=201 if result.created_ticket else 200)

    @patch("/{ticket_id:int}", responses=documented(404, 409, 422), summary="Change status, priority, assignee, team or tags",
           description="Each change is written to the ticket's history, by the token's creator.")
    async def update_ticket(self, db: AsyncSession, caller: Caller, ticket_id: TicketId,
                            data: s.TicketUpdate) -> s.TicketOut:
        ticket = await _ticket(db, ticket_id)
        if ticket.merged_into_id is not None:
            raise Problem(409, f"this ticket was merged into ticket {ticket.merged_into_id}: change that one",
                          merged_into_id=ticket.merged_into_id)
        try:
            await actions.update_ticket(db, ticket, _changes(data), agent=await _author(db, caller))
        except actions.TicketError as error:
            raise invalid(error) from None
        return await _answer(db, ticket_id)

    @post("/{ticket_id:int}/messages", responses=documented(404, 409, 422, also={201: (s.MessageOut, "the note, stored")}), summary="Add a reply (sent through the outbox) or an internal note",
          status_code=202,
          description="A reply is committed as `queued` and sent by a worker (202); a note is stored (201).")
    async def add_message(self, db: AsyncSession, caller: Caller, settings: Settings, ticket_id: TicketId,
                          data: s.MessageCreate) -> Response[s.MessageOut]:
        ticket = await _ticket(db, ticket_id)
        if ticket.merged_into_id is not None:
            raise Problem(409, f"this ticket was merged into ticket {ticket.merged_into_id}: write there",
                          merged_into_id=ticket.merged_into_id)
        agent = await _author(db, caller)
        try:
            if data.kind == "note":
                if agent is None:
                    raise Problem(422, "a note needs an author: this token was made by no active agent",
                                  errors=[{"field": "kind", "detail": "no author for a note"}])
                message = await actions.add_note(db, ticket, agent=agent, text=data.text, settings=settings)
                return Response(convert.message(message), status_code=201)
            message = await outbox.queue_reply(db, ticket, settings=settings, text=data.text, agent=agent,
                                               status_after=data.status_after)
        except (actions.TicketError, outbox.NothingToSend) as error:
            raise invalid(error) from None
        return Response(convert.message(message), status_code=202)
