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
from helpdesk.models.base import parse_id
from helpdesk.staff import directory as staff
from helpdesk.web.console.pages import (FORM, fragment, go, is_htmx, queue_pane, remember_queue, remembered_queue,
                                        render)

SEARCH_LISTS = ("search-hits", "search-page-hits")  # the box's drop-down, the search page
QUEUE_FRAGMENTS = {"queue-pane": "console/_queue_pane.html", "queue-section": "console/_queue_pane.html"}


@dataclass
class BulkForm:
    """The queue pane's bulk form: ticked rows, a change (`action`: "assign:12", "assign:me",
    "team:none", "status:pending", "priority:urgent", "tag", "untag"; tags in `value`), and the
    queue, filters and order shown."""

    ticket_ids: list[str] | str = field(default_factory=list)  # a single ticked row arrives as a plain string
    action: str = ""
    value: str = ""
    queue: str = ""
    status: str = ""
    priority: str = ""
    channel: str = ""
    assignee: str = ""
    tag: str = ""
    sort: str = ""

    @property
    def ids(self) -> list[int]:
        raw = [self.ticket_ids] if isinstance(self.ticket_ids, str) else self.ticket_ids
        return [i for i in map(parse_id, raw) if i is not None]

    @property
    def filters(self) -> queues.Filters:
        return queues.Filters.from_query({"status": self.status, "priority": self.priority, "channel": self.channel,
                                          "assignee": self.assignee, "tag": self.tag})

    def changes(self, agent: Agent) -> tickets.Changes:
        """What the action does, or a TicketError naming the field to correct."""
        kind, _, choice = self.action.partition(":")
        if kind in ("assign", "team") and choice:
            chosen = agent.id if (kind, choice) == ("assign", "me") else "none" if choice == "none" else parse_id(choice)
            if chosen is not None:
                return tickets.Changes(**{"assignee_id" if kind == "assign" else "team_id": chosen})
        if kind == "status" and choice:
            return tickets.Changes(status=choice)
        if kind == "priority" and choice:
            return tickets.Changes(priority=choice)
        if kind in ("tag", "untag"):
            tags = tickets.parse_tags(self.value)
            if not tags:
                raise tickets.TicketError(f"write the tag to {'add' if kind == 'tag' else 'remove'}", field="value")
            return tickets.Changes(add_tags=tags) if kind == "tag" else tickets.Changes(remove_tags=tags)
        raise tickets.TicketError("choose what to change on the selected tickets", field="action")


async def bulk_notice(db: AsyncSession, changes: tickets.Changes, done: dict[int, dict], selected: int) -> str:
    """What a bulk change did, in the words of the change: "12 tickets assigned to Bea Lopez." """
    if changes.assignee_id is not None:
        names = {a.id: a.name for a in await staff.agents(db)}
        what = "unassigned" if changes.assignee_id == "none" else f"assigned to {names.get(changes.assignee_id)}"
    elif changes.team_id is not None:
        names = {t.id: t.name for t in await staff.teams(db)}
        what = "taken off their team" if changes.team_id == "none" else f"moved to team {names.get(changes.team_id)}"
    elif changes.status is not None:
        what = f"set to {changes.status.replace('_', ' ')}"
    elif changes.priority is not None:
        what = f"set to {changes.priority} priority"
    else:
        verb, tags = ("tagged", changes.add_tags) if changes.add_tags else ("untagged", changes.remove_tags)
        what = f"{verb} {', '.join(tags)}"
    changed = sum(1 for what_changed in done.values() if what_changed)
    notice = f"{changed} ticket{'' if changed == 1 else 's'} {what}"
    if unchanged := len(done) - changed:
        notice += f"; {unchanged} already {'was' if unchanged == 1 else 'were'}"
    if gone := selected - len(done):
        notice += f"; {gone} merged or deleted meanwhile"
    return notice + "."


class QueueController(Controller):
    path = "/"

    @get("/", name="console_home")
    async def home(self, request: HTMXRequest, db: AsyncSession, agent: Agent) -> Template:
        context = await queue_pane(db, request, agent)
        return render(request, "console/queue.html", context, fragments=QUEUE_FRAGMENTS)

    @get("/queues/{name:str}", name="queue")
    async def queue(self, request: HTMXRequest, db: AsyncSession, agent: Agent, name: str,
                    after: str | None = None, sort: str = "") -> Template:
        filters = queues.Filters.from_query(dict(request.query_params))
        context = await queue_pane(db, request, agent, name, filters, after, sort)
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
            changes = data.changes(agent)
            done = await tickets.bulk_update(db, ids, changes, agent=agent)
            notice = await bulk_notice(db, changes, done, len(set(ids)))
        except tickets.TicketError as exc:
            error = exc
        context = await queue_pane(db, request, agent, data.queue or remembered_queue(request), data.filters,
                                   sort=data.sort)
        context.update(bulk_error=error, bulk_notice=notice, bulk_action=data.action if error else "",
                       bulk_value=data.value if error else "")
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
