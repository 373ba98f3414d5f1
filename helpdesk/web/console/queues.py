"""The queue screen: the console's home, queue lists with filters and bulk actions, search."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from litestar import Controller, Response, get, post
from litestar.response import Template
from litestar_htmx import HTMXRequest
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.tickets import queues, search as ticket_search

from helpdesk.tickets import actions as tickets
from helpdesk.models import Agent
from helpdesk.web.console.pages import (FORM, fragment, go, is_htmx, queue_pane, remember_queue, remembered_queue,
                                        render)

SEARCH_LISTS = ("search-hits", "search-page-hits")  # the box's drop-down, the search page
QUEUE_FRAGMENTS = {"queue-pane": "console/_queue_pane.html", "queue-section": "console/_queue_pane.html"}


@dataclass
class BulkForm:
    """The queue pane's bulk form: ticked rows, an action and its value, and the queue and filters shown."""

    ticket_ids: list[str] | str = field(default_factory=list)  # a single ticked row arrives as a plain string
    action: str = ""
    value: str = ""
    queue: str = ""
    status: str = ""
    priority: str = ""
    channel: str = ""
    assignee: str = ""
    tag: str = ""

    @property
    def ids(self) -> list[int]:
        raw = [self.ticket_ids] if isinstance(self.ticket_ids, str) else self.ticket_ids
        return [int(i) for i in raw if i.isdigit()]

    @property
    def filters(self) -> queues.Filters:
        return queues.Filters.from_query({"status": self.status, "priority": self.priority, "channel": self.channel,
                                          "assignee": self.assignee, "tag": self.tag})

    def changes(self, agent: Agent) -> tickets.Changes:
        """What the action does, or a TicketError naming the field to correct."""
        action, value = self.action, self.value.strip()
        if action == "assign":
            if value == "me":
                return tickets.Changes(assignee_id=agent.id)
            if value == "none":
                return tickets.Changes(assignee_id="none")
            if value.isdigit():
                return tickets.Changes(assignee_id=int(value))
            raise tickets.TicketError("choose whom to assign the tickets to", field="value")
        if action == "status":
            return tickets.Changes(status=value)
        if action == "priority":
            return tickets.Changes(priority=value)
        if action == "tag":
            tags = tickets.parse_tags(value)
            if not tags:
                raise tickets.TicketError("write the tag to add", field="value")
            return tickets.Changes(add_tags=tags)
        if action == "untag":
            return tickets.Changes(remove_tags=tickets.parse_tags(value))
        raise tickets.TicketError("choose a bulk action", field="action")


class QueueController(Controller):
    path = "/"

    @get("/", name="console_home")
    async def home(self, request: HTMXRequest, db: AsyncSession, agent: Agent) -> Template:
        context = await queue_pane(db, request, agent)
        return render(request, "console/queue.html", context, fragments=QUEUE_FRAGMENTS)

    @get("/queues/{name:str}", name="queue")
    async def queue(self, request: HTMXRequest, db: AsyncSession, agent: Agent, name: str,
                    after: str | None = None) -> Template:
        filters = queues.Filters.from_query(dict(request.query_params))
        context = await queue_pane(db, request, agent, name, filters, after)
        if context["queue"].name != name:
            return render(request, "console/not_found.html", {"agent": agent, "what": f"queue {name!r}"},
                          status_code=404)
        remember_queue(request, name)
        return render(request, "console/queue.html", context, fragments=QUEUE_FRAGMENTS)

    @get("/queues/counts", name="queue_counts")
    async def counts(self, db: AsyncSession, agent: Agent, request: HTMXRequest) -> Template:
        counts = await queues.queue_counts(db, agent_id=agent.id)
        return fragment("console/_queue_nav.html", {"counts": counts, "queue": {"name": request.session.get("queue")}})

    @post("/queues/bulk", name="queue_bulk")
    async def bulk(self, request: HTMXRequest, db: AsyncSession, agent: Agent,
                   data: Annotated[BulkForm, FORM]) -> Template:
        """Bulk actions on the selected rows; re-renders the queue with a result line."""
        ids = data.ids
        error = notice = None
        try:
            done = await tickets.bulk_update(db, ids, data.changes(agent), agent=agent)
            changed = sum(1 for what in done.values() if what)
            notice = f"{changed} of {len(ids)} ticket{'s' if len(ids) != 1 else ''} changed."
        except tickets.TicketError as exc:
            error = str(exc)
        context = await queue_pane(db, request, agent, data.queue or remembered_queue(request), data.filters)
        context.update(bulk_error=error, bulk_notice=notice)
        return render(request, "console/queue.html", context, fragments=QUEUE_FRAGMENTS,
                      status_code=200 if error is None or is_htmx(request) else 400)

    @get("/search", name="search")
    async def search(self, request: HTMXRequest, db: AsyncSession, agent: Agent, q: str = "",
                     after: str | None = None, list_id: str = "") -> Template | Response:
        """The search box: as you type (`#search-results`), submitted (the page; a ticket's number
        opens the ticket), and "more results" (`after`: the next rows of a list)."""
        as_you_type = is_htmx(request) and request.htmx.target == "search-results"
        if not as_you_type and after is None:
            ticket_id = await ticket_search.numbered_ticket(db, q)
            if ticket_id is not None:
                return go(request, f"/console/tickets/{ticket_id}")
        found = await ticket_search.find(db, q, after=after)
        list_id = list_id if list_id in SEARCH_LISTS else ("search-hits" if as_you_type else "search-page-hits")
        context = {"agent": agent, "query": q, "found": found, "list_id": list_id}
        if is_htmx(request) and after is not None:
            return fragment("console/_search_hits.html", context)
        if as_you_type:
            return fragment("console/_search_results.html", context)
        context.update(await queue_pane(db, request, agent))
        return render(request, "console/search.html", context)
