"""Page or fragment: a full load and an htmx swap render the same partials.

An htmx request names its target (`HX-Target`); when a screen has a fragment for that
target, only the fragment is rendered. A history-restore request (the browser's back
button on a cache miss) wants the whole page, as does any non-htmx request. The console
router sends `Vary: HX-Request` with every response, since one URL answers both ways.
"""
from __future__ import annotations

from typing import Any

from litestar import Response
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template
from litestar_htmx import HTMXRequest, HTMXTemplate, HXLocation
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.customers.attributes import attributes_of
from helpdesk.social import profiles
from helpdesk.tickets import attachments, drafts, queues

from helpdesk.staff import directory as staff
from helpdesk.models import Agent

DEFAULT_QUEUE = "mine"
# A handler's `data: Annotated[SomeForm, FORM]`: a browser's form post read into a dataclass whose
# fields all have defaults, so a wrong or missing field is the form's error to show, not a JSON 400.
FORM = Body(media_type=RequestEncodingType.URL_ENCODED)
MULTIPART_FORM = Body(media_type=RequestEncodingType.MULTI_PART)


def is_htmx(request: HTMXRequest) -> bool:
    """An htmx swap; a history restore is not one (it wants the whole page)."""
    return bool(request.htmx) and not request.htmx.history_restore_request


def render(request: HTMXRequest, page: str, context: dict[str, Any], *, fragments: dict[str, str] | None = None,
           status_code: int = 200) -> Template:
    name = page
    if is_htmx(request) and fragments:
        name = fragments.get(request.htmx.target or "", page)
    context["partial"] = name != page  # a fragment carries its own <title> for htmx to apply
    return Template(name, context=context, status_code=status_code)


def fragment(name: str, context: dict[str, Any], *, status_code: int = 200) -> Template:
    return Template(name, context=context, status_code=status_code)


def go(request: HTMXRequest, url: str) -> Response:
    """Navigate after a POST: htmx follows HX-Location (keeping the page), a plain form a 303."""
    if is_htmx(request):
        return HXLocation(redirect_to=url, target="#workspace")
    return Redirect(url, status_code=303)


async def form_rejected(request: HTMXRequest, db: AsyncSession, agent: Agent, context: dict[str, Any], *,
                        page: str, part: str, target: str | None = None) -> Template:
    """A form the agent must correct, with its error: htmx gets `part` of the page again (swapped
    over the element `target` when the form posted elsewhere); a plain post, the whole `page`
    with status 400."""
    if is_htmx(request):
        return HTMXTemplate(template_name=part, context=context, re_target=f"#{target}" if target else None,
                            re_swap="outerHTML" if target else None)
    if "queue" not in context:
        context.update(await queue_pane(db, request, agent))
    return render(request, page, context, status_code=400)


def remembered_queue(request: HTMXRequest) -> str:
    """The queue the agent last opened, where the console returns to."""
    return request.session.get("queue") or DEFAULT_QUEUE


def remember_queue(request: HTMXRequest, name: str) -> None:
    if request.session.get("queue") != name:
        request.session["queue"] = name


async def queue_pane(db: AsyncSession, request: HTMXRequest, agent: Agent, name: str | None = None,
                     filters: queues.Filters | None = None, cursor: str | None = None,
                     sort: str = "") -> dict[str, Any]:
    """What the left pane needs: the queue page, every queue's count, agents and teams for the selects."""
    name = name or remembered_queue(request)
    try:
        page = await queues.list_queue(db, name, agent_id=agent.id, filters=filters or queues.Filters(), sort=sort,
                                       cursor=cursor)
    except queues.UnknownQueue:
        name = DEFAULT_QUEUE
        page = await queues.list_queue(db, name, agent_id=agent.id, filters=filters or queues.Filters())
    agents = [a for a in await staff.agents(db) if a.active]
    teams = await staff.teams(db)
    return {
        "agent": agent,
        "queue": page,
        # the rows this agent has a draft on (one query on the drafts' agent index, this page's ids)
        "drafted": await drafts.tickets_with_drafts(db, agent.id, [row.id for row in page.rows]),
        "counts": await queues.queue_nav(db),
        "active_agents": agents,
        "all_teams": teams,
        "statuses": queues.STATUSES,
        "priorities": queues.PRIORITIES,
        "channels": queues.CHANNELS,
    }


def _when(value) -> str:
    """A UTC timestamp the way an agent scans a list: time today, date otherwise."""
    if value is None:
        return ""
    from helpdesk.models import utcnow

    if value.date() == utcnow().date():
        return value.strftime("%H:%M")
    return value.strftime("%d %b %Y" if value.year != utcnow().year else "%d %b %H:%M")


def _ago(value) -> str:
    """How long ago (or how soon) a UTC time is, as an agent reads it at a glance: "just now",
    "5 min ago", "2 h ago", "3 d ago", "in 2 h"; a date beyond a week. static/relative-time.js
    words it the same way when it redraws the page's times every minute."""
    if value is None:
        return ""
    from helpdesk.models import utcnow

    now = utcnow()
    seconds = (now - value).total_seconds()
    minutes = int(abs(seconds) // 60)
    if minutes < 1:
        return "just now"
    if minutes >= 7 * 24 * 60:
        return value.strftime("%-d %b" if value.year == now.year else "%-d %b %Y")
    amount = f"{minutes} min" if minutes < 60 else f"{minutes // 60} h" if minutes < 24 * 60 else f"{minutes // 1440} d"
    return f"{amount} ago" if seconds > 0 else f"in {amount}"


def _exact(value) -> str:
    """The exact time behind a relative one, for its tooltip: "Tue 1 Dec 2026, 15:42 UTC"."""
    return value.strftime("%a %-d %b %Y, %H:%M UTC") if value is not None else ""


def _money(value, currency: str = "") -> str:
    return f"{value:,.2f} {currency}".strip()


def _iso(value) -> str:
    return value.isoformat().replace("+00:00", "Z") if value is not None else ""


def register_template_helpers(engine) -> None:
    """Filters the console templates use; passed to the app's TemplateConfig."""
    engine.engine.filters.update(when=_when, ago=_ago, exact=_exact, money=_money, iso=_iso,
                                 filesize=attachments.human_size, attachment_kind=attachments.kind,
                                 platform_name=profiles.platform_name, profile_handle=profiles.profile_handle,
                                 customer_attributes=attributes_of)
