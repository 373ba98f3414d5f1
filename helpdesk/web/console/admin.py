"""Admin screens: agents and teams, mailboxes, canned responses. Admins only."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Annotated

from litestar import Controller, Response, get, post
from litestar.response import Redirect, Template
from litestar_htmx import HTMXRequest
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.staff import agents as agent_service
from helpdesk.tickets import canned_responses
from helpdesk.inbound import mailboxes
from helpdesk.staff import directory as staff
from helpdesk.models import ROLES, Agent
from helpdesk.models.base import parse_id
from helpdesk.web.auth import admin_only
from helpdesk.web.console.pages import FORM, render


@dataclass
class NewAgentForm:
    name: str = ""
    email: str = ""
    role: str = "agent"
    password: str = ""
    team_id: str = ""  # a team id, or "" for none

    def shown_again(self) -> dict[str, str]:
        """What the form shows again with an error: never the password."""
        return {k: v for k, v in asdict(self).items() if k != "password"}


@dataclass
class AgentForm:
    """One agent's row; a field left empty stays as it is."""

    role: str = ""
    team_id: str = ""  # a team id, or "none"
    active: str = ""  # "1" active, "0" deactivated

    @property
    def team(self) -> int | str | None:
        return "none" if self.team_id == "none" else parse_id(self.team_id)

    @property
    def is_active(self) -> bool | None:
        return {"1": True, "0": False}.get(self.active)


@dataclass
class MailboxForm:
    """A mailbox's settings as the add and edit forms send them; a field not sent stays None (an edit
    leaves that setting as it is)."""

    address: str | None = None
    name: str | None = None
    imap_host: str | None = None
    imap_port: str | None = None
    imap_security: str | None = None
    imap_user: str | None = None
    imap_password: str | None = None
    oauth2_token: str | None = None
    folder: str | None = None
    processed_folder: str | None = None
    smtp_host: str | None = None
    smtp_port: str | None = None
    smtp_security: str | None = None
    smtp_user: str | None = None
    smtp_password: str | None = None
    auto_ack: str | None = None
    mark_seen: str | None = None
    use_idle: str | None = None
    active: str | None = None

    def sent(self) -> dict[str, str]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    def shown_again(self) -> dict[str, str]:
        """What the form shows again with an error: secrets are never echoed back."""
        return {k: v for k, v in self.sent().items() if k not in mailboxes.SECRETS}


@dataclass
class TeamForm:
    name: str = ""


@dataclass
class TeamLeadForm:
    lead_id: str = ""  # an agent id, or "" for no lead


class AdminController(Controller):
    path = "/admin"
    guards = [admin_only]

    @get("/", name="admin")
    async def index(self, agent: Agent) -> Redirect:
        return Redirect("/console/admin/agents")

    # --- agents and teams ---------------------------------------------------------------

    async def _agents_context(self, db: AsyncSession, agent: Agent, **extra) -> dict:
        agents = sorted(await staff.agents(db), key=lambda a: (not a.active, a.name))  # active first, by name
        return _section(agent, "agents", {"roles": ROLES, "agents": agents, "teams": await staff.teams(db)}, extra)

    @get("/agents", name="admin_agents")
    async def agents(self, request: HTMXRequest, db: AsyncSession, agent: Agent) -> Template:
        return render(request, "console/admin_agents.html", await self._agents_context(db, agent))

    @post("/agents", name="admin_agent_create")
    async def create_agent(self, request: HTMXRequest, db: AsyncSession, agent: Agent,
                           data: Annotated[NewAgentForm, FORM]) -> Template:
        try:
            created = await agent_service.create_agent(
                db, email=data.email, name=data.name, role=data.role or "agent", password=data.password,
                team_id=parse_id(data.team_id),
            )
        except agent_service.AgentError as exc:
            context = await self._agents_context(db, agent, error=exc, failed_form="new-agent-form",
                                                 form=data.shown_again())
            return render(request, "console/admin_agents.html", context, status_code=400)
        return render(request, "console/admin_agents.html",
                      await self._agents_context(db, agent, notice=f"{created.name} can now sign in."))

    @post("/agents/{agent_id:int}", name="admin_agent_update")
    async def update_agent(self, request: HTMXRequest, db: AsyncSession, agent: Agent, agent_id: int,
                           data: Annotated[AgentForm, FORM]) -> Template:
        try:
            changed = await agent_service.update_agent(db, agent_id, role=data.role or None, team_id=data.team,
                                                       active=data.is_active, acting_agent_id=agent.id)
        except agent_service.AgentError as exc:
            return render(request, "console/admin_agents.html", await self._agents_context(db, agent, error=str(exc)),
                          status_code=400)
        return render(request, "console/admin_agents.html",
                      await self._agents_context(db, agent, notice=f"{changed.name} updated."))

    @post("/teams", name="admin_team_create")
    async def create_team(self, request: HTMXRequest, db: AsyncSession, agent: Agent,
                          data: Annotated[TeamForm, FORM]) -> Template:
        try:
            team = await agent_service.create_team(db, data.name)
        except agent_service.AgentError as exc:
            context = await self._agents_context(db, agent, error=exc, failed_form="new-team-form")
            return render(request, "console/admin_agents.html", context, status_code=400)
        return render(request, "console/admin_agents.html",
                      await self._agents_context(db, agent, notice=f"Team {team.name} created."))

    @post("/teams/{team_id:int}", name="admin_team_update")
    async def update_team(self, request: HTMXRequest, db: AsyncSession, agent: Agent, team_id: int,
                          data: Annotated[TeamLeadForm, FORM]) -> Template:
        lead = parse_id(data.lead_id)
        try:
            team = await agent_service.set_team_lead(db, team_id, lead)
        except agent_service.AgentError as exc:
            return render(request, "console/admin_agents.html", await self._agents_context(db, agent, error=str(exc)),
                          status_code=400)
        return render(request, "console/admin_agents.html",
                      await self._agents_context(db, agent, notice=f"Team {team.name} updated."))

    # --- mailboxes ----------------------------------------------------------------------

    async def _mailboxes_context(self, db: AsyncSession, agent: Agent, **extra) -> dict:
        return _section(agent, "mailboxes", {"mailboxes": await mailboxes.list_mailboxes(db), "editing": None}, extra)

    @get("/mailboxes", name="admin_mailboxes")
    async def mailbox_list(self, request: HTMXRequest, db: AsyncSession, agent: Agent) -> Template:
        return render(request, "console/admin_mailboxes.html", await self._mailboxes_context(db, agent))

    @post("/mailboxes", name="admin_mailbox_create")
    async def mailbox_add(self, request: HTMXRequest, db: AsyncSession, agent: Agent,
                          data: Annotated[MailboxForm, FORM]) -> Template:
        try:
            mailbox = await mailboxes.add_mailbox(db, data.sent())
        except mailboxes.MailboxError as exc:
            return render(request, "console/admin_mailboxes.html", await self._mailboxes_context(
                db, agent, error=str(exc), form=data.shown_again()), status_code=400)
        return render(request, "console/admin_mailboxes.html",
                      await self._mailboxes_context(db, agent, notice=f"{mailbox.address} added."))

    @post("/mailboxes/{mailbox_id:int}", name="admin_mailbox_update")
    async def mailbox_edit(self, request: HTMXRequest, db: AsyncSession, agent: Agent, mailbox_id: int,
                           data: Annotated[MailboxForm, FORM]) -> Template:
        try:
            mailbox, restarted = await mailboxes.edit_mailbox(db, mailbox_id, data.sent())
        except mailboxes.MailboxError as exc:
            return render(request, "console/admin_mailboxes.html", await self._mailboxes_context(
                db, agent, error=str(exc), form=data.shown_again(), editing=mailbox_id), status_code=400)
        notice = f"{mailbox.address} updated." + (" Reading starts over from its unread mail." if restarted else "")
        return render(request, "console/admin_mailboxes.html", await self._mailboxes_context(db, agent, notice=notice))

    @post("/mailboxes/{mailbox_id:int}/delete", name="admin_mailbox_delete")
    async def mailbox_remove(self, request: HTMXRequest, db: AsyncSession, agent: Agent, mailbox_id: int) -> Template:
        await mailboxes.remove_mailbox(db, mailbox_id)
        return render(request, "console/admin_mailboxes.html",
                      await self._mailboxes_context(db, agent, notice="Mailbox removed."))

    # --- canned responses ---------------------------------------------------------------

    async def _canned_context(self, db: AsyncSession, agent: Agent, **extra) -> dict:
        return _section(agent, "canned", {"responses": await canned_responses.list_responses(db),
                                          "placeholders": canned_responses.PLACEHOLDERS, "editing": None}, extra)

    @get("/canned", name="admin_canned")
    async def canned(self, request: HTMXRequest, db: AsyncSession, agent: Agent) -> Template:
        return render(request, "console/admin_canned.html", await self._canned_context(db, agent))

    @post("/canned", name="admin_canned_create")
    async def canned_create(self, request: HTMXRequest, db: AsyncSession, agent: Agent,
                            data: Annotated[canned_responses.Draft, FORM]) -> Template:
        return await self._canned_save(request, db, agent, data, None)

    @post("/canned/{response_id:int}", name="admin_canned_update")
    async def canned_update(self, request: HTMXRequest, db: AsyncSession, agent: Agent, response_id: int,
                            data: Annotated[canned_responses.Draft, FORM]) -> Template:
        return await self._canned_save(request, db, agent, data, response_id)

    async def _canned_save(self, request: HTMXRequest, db: AsyncSession, agent: Agent, data: canned_responses.Draft,
                           response_id: int | None) -> Template:
        try:
            saved = await canned_responses.save(db, data, response_id)
        except canned_responses.CannedResponseError as exc:
            context = await self._canned_context(db, agent, error=exc, form=asdict(data), editing=response_id)
            if response_id is None:
                context["failed_form"] = "new-canned-form"
            elif any(r.id == response_id for r in context["responses"]):  # else the error shows at the top
                context["failed_form"] = f"canned-{response_id}"
            return render(request, "console/admin_canned.html", context, status_code=400)
        return render(request, "console/admin_canned.html",
                      await self._canned_context(db, agent, notice=f"Saved {saved.title}."))

    @post("/canned/{response_id:int}/delete", name="admin_canned_delete")
    async def canned_delete(self, request: HTMXRequest, db: AsyncSession, agent: Agent, response_id: int) -> Response:
        await canned_responses.remove(db, response_id)
        return render(request, "console/admin_canned.html", await self._canned_context(db, agent, notice="Deleted."))


def _section(agent: Agent, section: str, data: dict, extra: dict) -> dict:
    """An admin screen's context: its data, then no error, notice or form values unless `extra` gives them.
    An error shows next to the form `failed_form` names, or at the top of the screen without one."""
    return {"agent": agent, "section": section, **data, "error": None, "failed_form": None, "notice": None, "form": {},
            **extra}
