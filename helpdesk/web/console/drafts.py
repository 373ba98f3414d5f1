"""The agent's draft in the reply box (helpdesk/tickets/drafts.py): saved by static/drafts.js as the
agent writes, discarded on request. The agent is always the signed-in one, never a parameter, so
nobody reads or writes another agent's draft."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from litestar import Controller, post
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.models import Agent
from helpdesk.tickets import canned_responses, drafts
from helpdesk.web.console.pages import FORM, fragment
from helpdesk.web.console.tickets import _ticket, reply_box

# 100,000 characters URL-encoded (up to 12 bytes each for 4-byte UTF-8) and the form's other fields
MAX_BODY_BYTES = drafts.MAX_CHARS * 12 + 4096


@dataclass
class DraftForm:
    body: str = ""
    mode: str = "reply"  # reply | note


class DraftController(Controller):
    path = "/"

    @post("/tickets/{ticket_id:int}/draft", name="draft_save", request_max_body_size=MAX_BODY_BYTES)
    async def save(self, db: AsyncSession, agent: Agent, ticket_id: int,
                   data: Annotated[DraftForm, FORM]) -> Template:
        """Keep the draft (an empty body removes it); answers the quiet status line under the box."""
        await _ticket(db, ticket_id)
        try:
            draft = await drafts.save(db, ticket_id, agent.id, body=data.body, mode=data.mode)
        except drafts.DraftError as error:
            return fragment("console/_draft_status.html", {"reply": {"draft": None, "draft_error": str(error)}},
                            status_code=400)
        return fragment("console/_draft_status.html", {"reply": {"draft": draft}})

    @post("/tickets/{ticket_id:int}/draft/discard", name="draft_discard")
    async def discard(self, db: AsyncSession, agent: Agent, ticket_id: int) -> Template:
        """Throw the draft away: an empty reply box in its place."""
        ticket = await _ticket(db, ticket_id)
        await drafts.discard(db, ticket_id, agent.id)
        return fragment("console/_reply_box.html", {"ticket": ticket, "reply": reply_box(None),
                                                    "canned": await canned_responses.list_responses(db)})
