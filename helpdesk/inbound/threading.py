"""Which ticket a message belongs to: the threading rules as a pure function.

Ingest looks the candidates up (by reply headers, platform thread, subject token) and passes
them in as values; `choose_ticket` applies the rules and says why. No I/O here.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

CONTINUE = "continue"
REOPEN = "reopen"
NEW = "new"


@dataclass(frozen=True, slots=True)
class TicketSeen:
    """A ticket a thread key points at, with the ticket it was merged into (if any), as loaded."""

    id: int
    status: str
    solved_at: datetime | None
    customer_id: int | None
    organization_id: int | None
    merged_into: TicketSeen | None = None


@dataclass(frozen=True, slots=True)
class Candidates:
    """What each thread key found. `by_reference` holds (message id, its ticket) for every message
    named in In-Reply-To/References that we hold."""

    by_reference: tuple[tuple[int, TicketSeen], ...] = ()
    by_platform_thread: TicketSeen | None = None
    by_subject_token: TicketSeen | None = None


@dataclass(frozen=True, slots=True)
class SenderSeen:
    """Who sent the message, as far as the subject-token rule needs to know."""

    customer_id: int | None  # None: not a customer yet
    organization_id: int | None = None  # the organization owning the sender's email domain
    participant_in: frozenset[int] = frozenset()  # tickets the sender takes part in (was Cc'd on)


@dataclass(frozen=True, slots=True)
class Decision:
    action: str  # CONTINUE | REOPEN | NEW
    ticket_id: int | None
    reason: str

    @property
    def opens_ticket(self) -> bool:
        return self.action == NEW


def survivor(ticket: TicketSeen) -> TicketSeen:
    """Follow merge pointers to the ticket that lives on (a cycle stops where it closes)."""
    seen = set()
    while ticket.merged_into is not None and ticket.id not in seen:
        seen.add(ticket.id)
        ticket = ticket.merged_into
    return ticket


def _is_known_participant(ticket: TicketSeen, sender: SenderSeen) -> bool:
    """Only people already in the conversation may thread in by quoting `[#N]`: its customer, a
    participant, or a colleague from the ticket's organization."""
    return (
        (sender.customer_id is not None and sender.customer_id == ticket.customer_id)
        or ticket.id in sender.participant_in
        or (ticket.organization_id is not None and sender.organization_id == ticket.organization_id)
    )


def choose_ticket(candidates: Candidates, sender: SenderSeen, *, received_at: datetime, auto_generated: bool,
                  reopen_window: timedelta) -> Decision:
    """The first thread key that finds a ticket decides, in this order: reply headers (the newest
    referenced message wins), platform thread, subject token (from a known participant only).
    Then its state: a solved ticket reopens within the window, a closed or older one gives way to
    a new ticket; auto-generated mail joins whatever it found and never reopens."""
    if candidates.by_reference:
        _, ticket = max(candidates.by_reference, key=lambda found: found[0])
        return _continue_or_reopen(survivor(ticket), "reply headers", received_at, auto_generated, reopen_window)
    if candidates.by_platform_thread is not None:
        ticket = survivor(candidates.by_platform_thread)
        return _continue_or_reopen(ticket, "platform thread", received_at, auto_generated, reopen_window)
    if candidates.by_subject_token is not None:
        ticket = survivor(candidates.by_subject_token)
        if _is_known_participant(ticket, sender):
            return _continue_or_reopen(ticket, "subject token", received_at, auto_generated, reopen_window)
        return Decision(NEW, None, f"subject token of ticket {ticket.id} from a stranger")
    return Decision(NEW, None, "no thread key matched a ticket")


def _continue_or_reopen(ticket: TicketSeen, key: str, received_at: datetime, auto_generated: bool,
                        reopen_window: timedelta) -> Decision:
    if ticket.status not in ("solved", "closed"):
        return Decision(CONTINUE, ticket.id, f"{key} of ticket {ticket.id}")
    if auto_generated:
        return Decision(CONTINUE, ticket.id, f"{key} of {ticket.status} ticket {ticket.id}; auto-generated: no reopen")
    if ticket.status == "solved" and ticket.solved_at is not None and received_at - ticket.solved_at <= reopen_window:
        return Decision(REOPEN, ticket.id, f"{key} of ticket {ticket.id}, solved within the reopen window")
    if ticket.status == "closed":
        return Decision(NEW, None, f"{key} of closed ticket {ticket.id}")
    return Decision(NEW, None, f"{key} of ticket {ticket.id}, solved before the reopen window")
