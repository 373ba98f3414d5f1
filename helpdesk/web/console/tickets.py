"""The ticket screen: conversation, reply box, properties, merge and split, attachments."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, MediaType, Response, get, post
from litestar.datastructures import UploadFile
from litestar.exceptions import NotFoundException
from litestar.response import Template
from litestar_htmx import HTMXRequest, HTMXTemplate
from markupsafe import Markup
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.channel import Attachment as OutAttachment
from helpdesk.chat import conversations as chat
from helpdesk.tickets import canned_responses
from helpdesk.tickets import drafts
from helpdesk.customers import records as customers
from helpdesk.tickets import outbox
from helpdesk.tickets import queues
from helpdesk.tickets import actions as tickets
from helpdesk.tickets import attachments
from helpdesk.tickets import history
from helpdesk.tickets import properties as ticket_properties
from helpdesk.tickets.message_html import content_id_key, remote_images, sanitise
from helpdesk.models import Agent, Attachment, Draft, Message, Ticket, utcnow
from helpdesk.models.base import MAX_BIGINT, parse_id
from helpdesk.settings import Settings
from helpdesk.social import templates as social_templates
from helpdesk.staff import directory as staff
from helpdesk.web.console.pages import (
    FORM, MULTIPART_FORM, form_rejected, fragment, go, is_htmx, queue_pane, remembered_queue, render,
)

WORKSPACE_FRAGMENTS = {"workspace": "console/_workspace.html"}
STATUS_AFTER_SEND = ("pending", "solved")
MAX_UPLOAD_BYTES = 20 * 1024 * 1024


@dataclass
class ReplyForm:
    """The reply box (multipart): a reply or an internal note, the status after sending, files."""

    body: str = ""
    mode: str = "reply"  # reply | note
    send: str = ""  # the button pressed: "" (just send), or the status after sending (STATUS_AFTER_SEND)
    # UploadFile each; a file input with nothing chosen arrives as "" (msgspec cannot type that union)
    attachments: list[Any] = field(default_factory=list)
    # WhatsApp's approved templates (console/_template_picker.html): "Send template" sends the chosen one
    send_template: str = ""
    template: str = ""  # MessageTemplate.key
    template_params: list[str] = field(default_factory=list)

    async def files(self) -> list[OutAttachment]:
        out = []
        for upload in self.attachments:
            if not isinstance(upload, UploadFile) or not upload.filename:
                continue
            data = await upload.read()
            if len(data) > MAX_UPLOAD_BYTES:
                raise tickets.TicketError(f"{upload.filename} is larger than 20 MB", field="attachments")
            out.append(OutAttachment(upload.filename[:300], upload.content_type or "application/octet-stream", data))
        return out

    @property
    def status_after(self) -> str | None:
        if self.send and self.send not in STATUS_AFTER_SEND:
            raise tickets.TicketError("choose pending or solved", field="send")
        return self.send or None


@dataclass
class CannedForm:
    """The canned-response select (alone: the browser inserts the text at the cursor, see console.js)."""

    canned_id: str = ""


@dataclass
class PropertiesForm:
    """Any of the ticket's properties; a field left empty (or not sent) stays as it is. `shown_*`:
    the values the form showed, so only what the agent changed is saved, and not over another
    agent's change since (helpdesk/tickets/properties.py)."""

    assignee_id: str = ""  # an agent id, "me" or "none"
    team_id: str = ""  # a team id or "none"
    status: str = ""
    priority: str = ""
    tags: str | None = None  # comma separated; "" clears them, not sent leaves them
    shown_assignee_id: str = ""
    shown_team_id: str = ""
    shown_status: str = ""
    shown_priority: str = ""
    shown_tags: str | None = None
    undo: str = ""  # "1": the Undo of the agent's last save

    def seen(self, agent: Agent) -> ticket_properties.Seen:
        values: dict[str, Any] = {}
        for name, raw in (("assignee_id", self.shown_assignee_id), ("team_id", self.shown_team_id)):
            if raw:
                choice = _choice(raw, agent, allow_me=False)
                values[name] = None if choice == "none" else choice
        values.update({name: raw for name, raw in (("status", self.shown_status), ("priority", self.shown_priority))
                       if raw})
        tags = tickets.parse_tags(self.shown_tags) if self.shown_tags is not None else None
        return ticket_properties.Seen(values, tags)

    def changes(self, agent: Agent) -> tickets.Changes:
        return tickets.Changes(
            assignee_id=_choice(self.assignee_id, agent),
            team_id=_choice(self.team_id, agent, allow_me=False),
            status=self.status or None,
            priority=self.priority or None,
            tags=tickets.parse_tags(self.tags) if self.tags is not None else None,
        )


@dataclass
class TicketMergeForm:
    target: str = ""  # the number of the ticket to merge into, "#1234" or "1234"

    def target_number(self) -> int:
        number = parse_id(self.target.strip().lstrip("#"), limit=MAX_BIGINT)
        if number is None:
            raise tickets.TicketError("write the number of the ticket to merge into, like 1234", field="target")
        return number


def _choice(value: str, agent: Agent, *, allow_me: bool = True) -> int | str | None:
    """A select's value: "" leaves it, "none" clears it, "me" is the signed-in agent."""
    if value == "":
        return None
    if value == "none":
        return "none"
    if value == "me" and allow_me:
        return agent.id
    if (chosen := parse_id(value)) is not None:
        return chosen
    raise tickets.TicketError(f"not a valid choice: {value!r}")


@dataclass
class TimelineItem:
    message: Message
    body: Markup | None  # sanitised HTML, or None to show the plain text
    files: list[Attachment]  # attachments not already shown inline in the body
    author: str
    blocked_images: int = 0  # remote images left out of the body until the agent asks for them

    @property
    def kind(self) -> str:
        return self.message.direction

    @property
    def previews(self) -> attachments.MessageFiles:
        """The files as the message shows them: thumbnails, PDF tiles, the rest as links."""
        return attachments.sort_files(self.files)

    @property
    def at(self) -> datetime:
        return self.message.created_at


def attachment_url(attachment_id: int) -> str:
    return f"/console/attachments/{attachment_id}"


def timeline_item(message: Message, agents: dict[int, Agent], *, show_images: bool = False) -> TimelineItem:
    inline = {content_id_key(a.content_id): attachment_url(a.id) for a in message.attachments if a.content_id}
    body = sanitise(message.html, inline_urls=inline, show_remote_images=show_images) if message.html else None
    blocked = remote_images(message.html) if body is not None and not show_images else 0
    shown = set()
    if body is not None:
        shown = {a.id for a in message.attachments if a.content_id and attachment_url(a.id) in body}
    if message.direction == "inbound":
        author = message.sender_name or message.sender_value or "Customer"
    else:
        agent = agents.get(message.agent_id) if message.agent_id else None
        author = agent.name if agent else (message.sender_name or "Helpdesk")
    return TimelineItem(message, body, [a for a in message.attachments if a.id not in shown], author, blocked)


def reply_box(draft: Draft | None) -> dict[str, Any]:
    """What the reply box shows: the agent's draft restored (helpdesk/tickets/drafts.py), or an empty reply."""
    if draft is None:
        return {"body": "", "mode": "reply", "error": None, "draft": None}
    return {"body": draft.body, "mode": draft.mode, "error": None, "draft": draft}


async def workspace_context(db: AsyncSession, agent: Agent, ticket_id: int) -> dict[str, Any]:
    view = await tickets.load_ticket_view(db, ticket_id)
    if view is None:
        raise NotFoundException(f"there is no ticket {ticket_id}")
    customer_view = await customers.load_customer_view(db, view.ticket.customer_id)
    events = history.entries(await history.events(db, ticket_id), view.agents, view.teams)
    events += history.sla_entries(await history.sla_events(db, ticket_id))  # sorted in with the rest by interleave
    conversation = await chat.conversation_of_ticket(db, view.ticket)  # a chat's visitor: what they have read
    return {
        "agent": agent,
        "view": view,
        "ticket": view.ticket,
        "timeline": history.interleave((timeline_item(m, view.agents) for m in view.messages), events),
        "customer_view": customer_view,
        "clocks": await tickets.sla_clocks(db, view.ticket),
        "canned": await canned_responses.list_responses(db),
        "reply": reply_box(await drafts.load(db, ticket_id, agent.id)),  # the agent's own draft, restored
        "chat_seen": chat.seen_reply(view.messages, conversation),
        "reply_window": social_templates.reply_window(view.ticket, view.messages, utcnow()),  # WhatsApp's 24 hours
    }


async def _ticket(db: AsyncSession, ticket_id: int) -> Ticket:
    ticket = await tickets.ticket_by_id(db, ticket_id)
    if ticket is None:
        raise NotFoundException(f"there is no ticket {ticket_id}")
    return ticket


class TicketController(Controller):
    path = "/"

    @get("/tickets/{ticket_id:int}", name="ticket")
    async def show(self, request: HTMXRequest, db: AsyncSession, agent: Agent, ticket_id: int) -> Template | Response:
        ticket = await _ticket(db, ticket_id)
        if ticket.merged_into_id is not None:
            return go(request, f"/console/tickets/{ticket.merged_into_id}")
        await chat.agent_read(db, ticket)  # a chat's visitor sees that we read them
        context = await workspace_context(db, agent, ticket_id)
        if not (is_htmx(request) and request.htmx.target in WORKSPACE_FRAGMENTS):
            # the queue pane loads itself after the page (see docs/performance.md)
            context["queue_url"] = f"/console/queues/{remembered_queue(request)}"
        return render(request, "console/ticket.html", context, fragments=WORKSPACE_FRAGMENTS)

    @get("/tickets/{ticket_id:int}/timeline", name="ticket_timeline")
    async def timeline(self, db: AsyncSession, agent: Agent, ticket_id: int) -> Template:
        await chat.agent_read(db, await _ticket(db, ticket_id))
        return fragment("console/_conversation.html", await workspace_context(db, agent, ticket_id))

    @get("/tickets/{ticket_id:int}/properties", name="ticket_properties")
    async def properties(self, db: AsyncSession, agent: Agent, ticket_id: int) -> Template:
        return fragment("console/_properties_refresh.html", await workspace_context(db, agent, ticket_id))

    @get("/tickets/{ticket_id:int}/sla-clocks", name="ticket_sla_clocks")
    async def clocks(self, db: AsyncSession, agent: Agent, ticket_id: int) -> Template:
        ticket = await _ticket(db, ticket_id)
        return fragment("console/_sla_clocks.html", {"ticket": ticket, "clocks": await tickets.sla_clocks(db, ticket)})

    @post("/tickets/{ticket_id:int}/reply", name="ticket_reply")
    async def reply(self, request: HTMXRequest, db: AsyncSession, agent: Agent, settings: Settings, ticket_id: int,
                    data: Annotated[ReplyForm, MULTIPART_FORM]) -> Template | Response:
        """Reply through the outbox, or add an internal note; errors show in the reply box."""
        ticket = await _ticket(db, ticket_id)
        try:
            files = await data.files()
            # the draft goes in the message's COMMIT; when nothing is sent there is no COMMIT and it stays
            if not (data.send_template and data.mode != "note"):  # a template leaves the text typed alone
                await drafts.discard(db, ticket.id, agent.id, commit=False)
            if data.mode == "note":
                await tickets.add_note(db, ticket, agent=agent, text=data.body, attachments=files, settings=settings)
            elif data.send_template:
                text, template = await social_templates.template_reply(db, settings, ticket, data.template,
                                                                       data.template_params)
                await outbox.queue_reply(db, ticket, settings=settings, text=text, agent=agent, template=template)
            else:
                await social_templates.check_free_form(db, ticket)
                await outbox.queue_reply(db, ticket, settings=settings, text=data.body, agent=agent, attachments=files,
                                         status_after=data.status_after)
        except (outbox.NothingToSend, tickets.TicketError, social_templates.TemplateInvalid) as error:
            context = await workspace_context(db, agent, ticket_id)
            # what was sent back is newer than the saved draft: static/drafts.js saves it again
            context["reply"] = {"body": data.body, "mode": data.mode, "error": str(error), "unsaved": True}
            return await form_rejected(request, db, agent, context, page="console/ticket.html",
                                       part="console/_reply_box.html", target="reply-box")
        if not is_htmx(request):
            return go(request, f"/console/tickets/{ticket_id}")
        context = await workspace_context(db, agent, ticket_id)
        context.update(await _counts(db, request, agent))
        return fragment("console/_ticket_update.html", context)

    @get("/tickets/{ticket_id:int}/templates", name="ticket_templates")
    async def templates(self, db: AsyncSession, agent: Agent, settings: Settings, ticket_id: int,
                        template: str = "", template_params: list[str] | None = None) -> Template:
        """The template picker of a WhatsApp reply box: the account's approved templates, the chosen one's
        parameters and its preview; a platform error shows in its place."""
        ticket = await _ticket(db, ticket_id)
        return fragment("console/_template_picker.html", {"ticket": ticket, **await social_templates.picker(
            db, settings, ticket, template, template_params or [])})

    @post("/tickets/{ticket_id:int}/canned", name="ticket_canned")
    async def canned(self, db: AsyncSession, agent: Agent, ticket_id: int,
                     data: Annotated[CannedForm, FORM]) -> Response | Template:
        """A canned response filled in for this ticket, as plain text for console.js to insert at the
        cursor (the draft stays in the browser: text typed while this loads is kept); an error shows
        beside the select."""
        ticket = await _ticket(db, ticket_id)
        canned_id = parse_id(data.canned_id)
        try:
            text = await canned_responses.render_for_ticket(db, canned_id, ticket, agent_name=agent.name) \
                if canned_id is not None else None
            error = None if text is not None else "that canned response no longer exists; reload to see the list"
        except canned_responses.CannedResponseError as exc:
            error = str(exc)
        if error is None:
            return Response(text, media_type=MediaType.TEXT, status_code=200)
        return HTMXTemplate(template_name="console/_canned_error.html", context={"canned_error": error},
                            status_code=400, re_target="#canned-error", re_swap="outerHTML")

    @post("/tickets/{ticket_id:int}/properties", name="ticket_update")
    async def update(self, request: HTMXRequest, db: AsyncSession, agent: Agent, ticket_id: int,
                     data: Annotated[PropertiesForm, FORM]) -> Template:
        """Change any of assignee, team, status, priority, tags; fields not sent stay as they are. What
        another agent changed since the form was shown is not overwritten: it comes back as a conflict."""
        ticket = await _ticket(db, ticket_id)
        error = saved = None
        try:
            saved = await ticket_properties.save(db, ticket, data.changes(agent), seen=data.seen(agent), agent=agent,
                                                 undo=data.undo == "1")
        except tickets.TicketError as exc:
            error = exc
        context = await workspace_context(db, agent, ticket_id)
        context.update(properties_error=error, saved=saved, undone=data.undo == "1")
        context.update(await _counts(db, request, agent))
        if not is_htmx(request):
            if error is None:
                return go(request, f"/console/tickets/{ticket_id}")
            context.update(await queue_pane(db, request, agent))
            return render(request, "console/ticket.html", context, status_code=400)
        return fragment("console/_properties_update.html", context)

    @post("/tickets/{ticket_id:int}/merge", name="ticket_merge")
    async def merge(self, request: HTMXRequest, db: AsyncSession, agent: Agent, ticket_id: int,
                    data: Annotated[TicketMergeForm, FORM]) -> Template | Response:
        ticket = await _ticket(db, ticket_id)
        try:
            survivor = await tickets.merge_tickets(db, ticket, data.target_number(), agent=agent)
        except tickets.TicketError as exc:
            context = await workspace_context(db, agent, ticket_id)
            context.update(merge_error=str(exc), merge_target=data.target.strip().lstrip("#"))
            return await form_rejected(request, db, agent, context, page="console/ticket.html",
                                       part="console/_ticket_properties.html", target="ticket-properties")
        return go(request, f"/console/tickets/{survivor.id}")

    @post("/tickets/{ticket_id:int}/messages/{message_id:int}/split", name="message_split")
    async def split(self, request: HTMXRequest, db: AsyncSession, agent: Agent, ticket_id: int,
                    message_id: int) -> Template | Response:
        ticket = await _ticket(db, ticket_id)
        try:
            new = await tickets.split_message(db, ticket, message_id, agent=agent)
        except tickets.TicketError as exc:
            context = await workspace_context(db, agent, ticket_id)
            context["split_error"] = {"message_id": message_id, "text": str(exc)}
            return await form_rejected(request, db, agent, context, page="console/ticket.html",
                                       part="console/_conversation.html", target="conversation")
        return go(request, f"/console/tickets/{new.id}")

    @post("/tickets/{ticket_id:int}/messages/{message_id:int}/retry", name="message_retry")
    async def retry(self, db: AsyncSession, agent: Agent, ticket_id: int, message_id: int) -> Template:
        message = await tickets.load_message(db, message_id)
        if message is None or message.ticket_id != ticket_id:
            raise NotFoundException("there is no such message on this ticket")
        await outbox.retry(db, message_id)
        message = await tickets.load_message(db, message_id)  # its delivery status, as retry left it
        agents = {a.id: a for a in await staff.agents(db)}
        return fragment("console/_message.html", {"item": timeline_item(message, agents),
                                                  "ticket": await _ticket(db, ticket_id)})

    @get("/tickets/{ticket_id:int}/messages/{message_id:int}", name="message")
    async def message(self, db: AsyncSession, agent: Agent, ticket_id: int, message_id: int,
                      images: str | None = None) -> Template:
        """One message of the conversation; `?images=show` with the remote images its sender linked."""
        message = await tickets.load_message(db, message_id)
        if message is None or message.ticket_id != ticket_id:
            raise NotFoundException("there is no such message on this ticket")
        agents = {a.id: a for a in await staff.agents(db)}
        return fragment("console/_message.html", {"item": timeline_item(message, agents, show_images=images == "show"),
                                                  "ticket": await _ticket(db, ticket_id)})


async def _counts(db: AsyncSession, request: HTMXRequest, agent: Agent) -> dict[str, Any]:
    """Queue counts for an out-of-band swap after a change (live updates do it too, if connected)."""
    return {"counts": await queues.queue_counts(db, agent_id=agent.id),
            "queue": {"name": request.session.get("queue")}}
