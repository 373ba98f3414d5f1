"""Canned responses: saved replies with placeholders, rendered in a sandbox.

Bodies are written by admins but rendered with a *sandboxed* Jinja environment and plain
values (never ORM objects), so a template cannot reach attributes, the database or Python.
"""
from __future__ import annotations

from dataclasses import dataclass

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.customers.records import customer_name
from helpdesk.models import CannedResponse, Ticket

_env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)

PLACEHOLDERS = ("customer.first_name", "customer.name", "ticket.number", "ticket.subject", "agent.name",
                "agent.first_name")


class CannedResponseError(ValueError):
    """A canned response that cannot be saved or rendered; the message names the problem, `field` the field."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def _first(name: str | None) -> str:
    return (name or "").strip().split(" ")[0] if name else ""


def placeholder_values(*, customer_name: str | None, ticket_number: int | None, ticket_subject: str,
                       agent_name: str) -> dict:
    return {
        "customer": {"name": customer_name or "", "first_name": _first(customer_name) or "there"},
        "ticket": {"number": ticket_number or "", "subject": ticket_subject},
        "agent": {"name": agent_name, "first_name": _first(agent_name)},
    }


def render(body: str, values: dict) -> str:
    """The body with its placeholders filled; an unknown placeholder is an error, not a blank."""
    try:
        return _env.from_string(body).render(values)
    except TemplateError as error:
        raise CannedResponseError(f"the canned response does not render: {error}", field="body") from error


async def render_for_ticket(session: AsyncSession, response_id: int, ticket: Ticket, *, agent_name: str) -> str | None:
    """Canned response `response_id` filled in for `ticket` (None if there is no such response)."""
    response = await session.get(CannedResponse, response_id)
    if response is None:
        return None
    values = placeholder_values(customer_name=await customer_name(session, ticket.customer_id),
                                ticket_number=ticket.number, ticket_subject=ticket.subject, agent_name=agent_name)
    return render(response.body, values)


def check(body: str) -> None:
    render(body, placeholder_values(customer_name="Ann Example", ticket_number=1, ticket_subject="Subject",
                                    agent_name="Agent Name"))


async def list_responses(session: AsyncSession) -> list[CannedResponse]:
    return list(await session.scalars(select(CannedResponse).order_by(CannedResponse.title)))


@dataclass(frozen=True)
class Draft:
    """A canned response as the admin form sends it (empty fields are `save`'s to refuse)."""

    title: str = ""
    body: str = ""


async def save(session: AsyncSession, draft: Draft, response_id: int | None = None) -> CannedResponse:
    title, body = draft.title.strip(), draft.body
    if not title:
        raise CannedResponseError("give the canned response a title", field="title")
    if not body.strip():
        raise CannedResponseError("the body is empty", field="body")
    check(body)
    clash = await session.scalar(select(CannedResponse.id).where(CannedResponse.title == title))
    if clash is not None and clash != response_id:
        raise CannedResponseError(f"a canned response called {title!r} exists already", field="title")
    response = await session.get(CannedResponse, response_id) if response_id else None
    if response is None:
        response = CannedResponse(title=title[:200], body=body)
        session.add(response)
    else:
        response.title, response.body = title[:200], body
    await session.commit()
    return response


async def remove(session: AsyncSession, response_id: int) -> None:
    response = await session.get(CannedResponse, response_id)
    if response is not None:
        await session.delete(response)
        await session.commit()
